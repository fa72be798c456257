//! The schedule of one throttled body: when its next frame may go.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{sleep_until, Instant, Sleep};

use super::RateLimit;

/// The most time a stream may make up for after it was held back by its client (a full
/// socket, a tab in the background): it then catches up by at most a second of its rate, in a
/// burst, instead of by everything it missed.
const MAX_CREDIT: Duration = Duration::from_secs(1);

/// The longest a throttled body waits without being polled again, so that a server's
/// no-progress watchdog sees it alive even when a frame takes longer than that to earn.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Decides when each frame of one response may be handed on.
///
/// The first [`RateLimit::allowance`] bytes go at once. Past them, every frame moves the
/// schedule on by its length at the rate, and the next frame waits until the schedule says:
/// frames of `L` bytes go `L ÷ rate` apart, so the rate holds over any window of a few frames.
pub(crate) struct Throttle {
    limit: RateLimit,
    sent: u64,
    /// When the next frame may go; `None` until the allowance is used up.
    next_at: Option<Instant>,
    /// The timer of the current wait, kept to be reset rather than allocated per frame.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Throttle {
    /// A throttle for `limit`, or `None` when it limits nothing.
    pub(crate) fn new(limit: RateLimit) -> Option<Self> {
        (!limit.is_unlimited()).then_some(Self {
            limit,
            sent: 0,
            next_at: None,
            sleep: None,
        })
    }

    /// The limit it keeps.
    pub(crate) fn limit(&self) -> &RateLimit {
        &self.limit
    }

    /// Ready when the next frame may be handed on; else a timer wakes the task (at the latest
    /// after [`MAX_SLEEP`]).
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(next_at) = self.next_at else {
            return Poll::Ready(());
        };
        loop {
            let now = Instant::now();
            if next_at <= now {
                return Poll::Ready(());
            }
            let wake = next_at.min(now + MAX_SLEEP);
            let sleep = match &mut self.sleep {
                Some(sleep) => {
                    sleep.as_mut().reset(wake);
                    sleep
                }
                None => self.sleep.insert(Box::pin(sleep_until(wake))),
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// `len` bytes were handed on.
    pub(crate) fn handed_on(&mut self, len: u64) {
        let before = self.sent;
        self.sent = self.sent.saturating_add(len);
        let allowance = self.limit.allowance();
        if self.sent <= allowance {
            return;
        }
        let limited = self.sent - before.max(allowance);
        let now = Instant::now();
        let earliest = now.checked_sub(MAX_CREDIT).unwrap_or(now);
        let from = self.next_at.map_or(now, |at| at.max(earliest));
        let nanos = u128::from(limited) * 1_000_000_000 / u128::from(self.limit.bytes_per_sec());
        let wait = Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64);
        self.next_at = Some(from + wait);
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    /// Waits for the throttle, then hands on `len` bytes; returns the time it waited.
    async fn send(throttle: &mut Throttle, len: u64) -> Duration {
        let start = Instant::now();
        poll_fn(|cx| throttle.poll_ready(cx)).await;
        throttle.handed_on(len);
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn the_allowance_goes_at_once_and_the_rest_at_the_rate() {
        let mut throttle = Throttle::new(RateLimit::new(10_000).after(30_000)).unwrap();
        for _ in 0..3 {
            assert_eq!(send(&mut throttle, 10_000).await, Duration::ZERO);
        }
        // The allowance is spent: each next frame of 10,000 bytes waits a second.
        assert_eq!(send(&mut throttle, 10_000).await, Duration::ZERO);
        let start = Instant::now();
        for _ in 0..5 {
            send(&mut throttle, 10_000).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_across_the_allowance_pays_only_for_its_part_past_it() {
        let mut throttle = Throttle::new(RateLimit::new(1_000).after(1_500)).unwrap();
        send(&mut throttle, 1_000).await;
        send(&mut throttle, 1_000).await; // 500 bytes past the allowance: half a second
        assert_eq!(send(&mut throttle, 1_000).await, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_held_back_catches_up_by_at_most_a_second() {
        let mut throttle = Throttle::new(RateLimit::new(1_000)).unwrap();
        send(&mut throttle, 1_000).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        // A second of credit: one frame at once, the next a second later.
        assert_eq!(send(&mut throttle, 1_000).await, Duration::ZERO);
        assert_eq!(send(&mut throttle, 1_000).await, Duration::ZERO);
        assert_eq!(send(&mut throttle, 1_000).await, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_wait_wakes_the_task_every_second() {
        let mut throttle = Throttle::new(RateLimit::new(100)).unwrap();
        send(&mut throttle, 1_000).await; // the next frame may go in 10 s
        let start = Instant::now();
        let mut polls = 0;
        poll_fn(|cx| {
            polls += 1;
            throttle.poll_ready(cx)
        })
        .await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // Polled first, then woken by its own timer at 1, 2, …, 10 s.
        assert_eq!(polls, 11);
    }

    #[test]
    fn no_limit_needs_no_throttle() {
        assert!(Throttle::new(RateLimit::unlimited()).is_none());
    }
}
