//! Per-stream rate limits: a byte rate for each response, after a fast-start allowance
//! (nginx's `limit_rate` and `limit_rate_after`).
//!
//! A [`RateLimit`] is chosen per response, the most specific first:
//!
//! 1. per request, from a [`RateLimit`] in the request's extensions, which
//!    [`SetRateLimitLayer`] puts there from whatever the application decides (a header set by
//!    an auth layer, a query parameter, the user's plan);
//! 2. per file, from the resolver ([`Opened::rate_limit`](crate::Opened::rate_limit); the
//!    directory service's per-file policy sets it with `FilePolicy::rate_limit`);
//! 3. per service, with [`RangeService::rate_limit`](crate::RangeService::rate_limit).
//!
//! [`RateLimit::unlimited`] at a more specific level lifts a limit set at a less specific one.
//!
//! A throttled body waits on a timer before each frame past the allowance, and asks its reader
//! for a frame only when the frame may be sent: it reads no further ahead than it sends, so a
//! throttled stream holds no more memory than an unthrottled one (usually less). Its frames
//! are smaller (about an eighth of a second of the rate each, at least
//! [`MIN_FRAME_SIZE`](crate::MIN_FRAME_SIZE), at most the service's frame size), so that the
//! rate is smooth rather than a burst per large frame. While it waits, it wakes at least once
//! a second: a server that cuts connections whose response makes no progress should count a
//! poll of the body as progress (the example server does), so that a stream throttled to a
//! low rate is not taken for a stalled client.
//!
//! The timers are tokio's: a throttled response must be served on a tokio runtime with its
//! time driver enabled (`#[tokio::main]` and hyper-util's executor have it).

use std::time::Duration;

mod layer;
mod throttle;

pub use layer::{SetRateLimit, SetRateLimitLayer};
pub(crate) use throttle::Throttle;

/// A byte rate for one response after a fast-start allowance; see the [module](self) docs.
///
/// ```
/// use std::time::Duration;
/// use tower_range::rate::RateLimit;
///
/// // nginx's `limit_rate 500k; limit_rate_after 4m;`
/// let limit = RateLimit::new(500 * 1024).after(4 * 1024 * 1024);
/// assert_eq!(limit.bytes_per_sec(), 512_000);
///
/// // A 10-minute video of 150 MB: its first 10 s at full speed, then 1.5 × its bitrate.
/// let limit = RateLimit::for_media(150_000_000, Duration::from_secs(600), 1.5, Duration::from_secs(10));
/// assert_eq!(limit.allowance(), 2_500_000);
/// assert_eq!(limit.bytes_per_sec(), 375_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    bytes_per_sec: u64,
    after: u64,
}

impl RateLimit {
    /// At most `bytes_per_sec` bytes a second, from the first byte. `0` is no limit (as
    /// nginx's `limit_rate 0`).
    pub const fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec,
            after: 0,
        }
    }

    /// No limit: lifts one set at a less specific level.
    pub const fn unlimited() -> Self {
        Self::new(0)
    }

    /// Sends the first `bytes` bytes of each response at full speed (nginx's
    /// `limit_rate_after`): a player fills its buffer at once, then is held to the rate.
    pub const fn after(mut self, bytes: u64) -> Self {
        self.after = bytes;
        self
    }

    /// A limit for a media file of `len` bytes that plays for `duration`: its bitrate
    /// (`len ÷ duration`) times `factor`, after `fast_start` of media time at full speed.
    /// A `factor` a little above 1 (1.25–2) keeps playback fed while a player that seeks far
    /// ahead cannot download the whole file at once. A zero `duration` gives no limit.
    pub fn for_media(len: u64, duration: Duration, factor: f64, fast_start: Duration) -> Self {
        let seconds = duration.as_secs_f64();
        if seconds <= 0.0 {
            return Self::unlimited();
        }
        let bitrate = len as f64 / seconds;
        Self::new((bitrate * factor).round().max(1.0) as u64)
            .after((bitrate * fast_start.as_secs_f64()).round() as u64)
    }

    /// The rate in bytes a second; `0` is no limit.
    pub const fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// The bytes sent at full speed before the rate applies.
    pub const fn allowance(&self) -> u64 {
        self.after
    }

    /// Whether this limit leaves responses unthrottled.
    pub const fn is_unlimited(&self) -> bool {
        self.bytes_per_sec == 0
    }

    /// The frame size for a throttled response: about an eighth of a second of the rate,
    /// within `MIN_FRAME_SIZE..=configured`, a multiple of 4 KiB.
    pub(crate) fn frame_size(&self, configured: usize) -> usize {
        if self.is_unlimited() {
            return configured;
        }
        let eighth = (self.bytes_per_sec / 8).min(usize::MAX as u64) as usize;
        (eighth & !(4096 - 1)).clamp(crate::MIN_FRAME_SIZE, configured.max(crate::MIN_FRAME_SIZE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEFAULT_FRAME_SIZE, MIN_FRAME_SIZE};

    #[test]
    fn a_limit_of_zero_is_no_limit() {
        assert!(RateLimit::new(0).is_unlimited());
        assert!(RateLimit::unlimited().after(5).is_unlimited());
        assert!(!RateLimit::new(1).is_unlimited());
    }

    #[test]
    fn a_media_limit_follows_the_bitrate() {
        let limit = RateLimit::for_media(
            1_000_000,
            Duration::from_secs(10),
            2.0,
            Duration::from_secs(3),
        );
        assert_eq!(limit.bytes_per_sec(), 200_000);
        assert_eq!(limit.allowance(), 300_000);
        assert!(
            RateLimit::for_media(5, Duration::ZERO, 1.5, Duration::from_secs(1)).is_unlimited()
        );
    }

    #[test]
    fn throttled_frames_hold_an_eighth_of_a_second_within_the_bounds() {
        assert_eq!(
            RateLimit::new(1_000_000).frame_size(DEFAULT_FRAME_SIZE),
            DEFAULT_FRAME_SIZE
        );
        assert_eq!(RateLimit::new(1_000_000).frame_size(1 << 20), 122_880);
        assert_eq!(
            RateLimit::new(200_000).frame_size(DEFAULT_FRAME_SIZE),
            24_576
        );
        assert_eq!(
            RateLimit::new(100).frame_size(DEFAULT_FRAME_SIZE),
            MIN_FRAME_SIZE
        );
        assert_eq!(
            RateLimit::new(u64::MAX).frame_size(DEFAULT_FRAME_SIZE),
            DEFAULT_FRAME_SIZE
        );
        assert_eq!(
            RateLimit::unlimited().frame_size(DEFAULT_FRAME_SIZE),
            DEFAULT_FRAME_SIZE
        );
    }
}
