//! The validators a response carries: a strong `ETag` and `Last-Modified` (RFC 9110 §8.8).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// A strong entity tag, built from a source's opaque version token.
///
/// The tag is the 64-bit FNV-1a hash of the token, written as 16 lowercase hex digits in
/// quotes, e.g. `"9f3c0b5e1d2a4c77"`. FNV-1a is fixed by its specification (offset basis
/// `0xcbf29ce484222325`, prime `0x100000001b3`), so a tag never changes between Rust releases or
/// builds, unlike `DefaultHasher`; and hashing keeps the raw token (for files: device, inode,
/// size and modification time) out of responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ETag {
    hash: u64,
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl ETag {
    /// The tag for a version token. Equal tokens give equal tags.
    pub fn from_version(token: &[u8]) -> Self {
        let hash = token.iter().fold(FNV_OFFSET_BASIS, |hash, &b| {
            (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
        });
        Self { hash }
    }

    /// The opaque part, without quotes: 16 lowercase hex digits.
    fn opaque(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            let nibble = (self.hash >> (60 - 4 * i)) & 0xf;
            *byte = b"0123456789abcdef"[nibble as usize];
        }
        out
    }

    /// Whether `opaque` (the text between the quotes of a received tag) is this tag's.
    pub(crate) fn matches_opaque(&self, opaque: &[u8]) -> bool {
        opaque == self.opaque()
    }

    /// The header value, quotes included.
    pub fn to_header_value(&self) -> HeaderValue {
        let mut text = [b'"'; 18];
        text[1..17].copy_from_slice(&self.opaque());
        HeaderValue::from_bytes(&text).expect("hex digits and quotes are valid header bytes")
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opaque = self.opaque();
        let opaque = std::str::from_utf8(&opaque).expect("hex digits are ASCII");
        write!(f, "\"{opaque}\"")
    }
}

/// What a representation can be validated by: its entity tag, and its modification time
/// truncated to whole seconds (HTTP dates have no finer resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validators {
    etag: Option<ETag>,
    last_modified: Option<SystemTime>,
    last_modified_is_strong: bool,
}

impl Validators {
    /// Validators for a representation with the given tag and modification time, as seen at
    /// `now`.
    ///
    /// A modification time in the future is clamped to `now` (RFC 9110 §8.8.2.1). The time is
    /// a strong validator only when it is at least one second before `now` (§8.8.2.2): within
    /// the same second the file could change again without its date changing.
    pub fn new(etag: Option<ETag>, modified: Option<SystemTime>, now: SystemTime) -> Self {
        let now = whole_seconds(now);
        // HTTP dates cannot express times before 1970 or after 9999 (and formatting one
        // would panic): such a time is left out rather than sent wrong.
        let last_modified = modified
            .map(|m| whole_seconds(m).min(now))
            .filter(|m| is_http_date(*m));
        let last_modified_is_strong = last_modified.is_some_and(|m| {
            now.duration_since(m)
                .is_ok_and(|age| age >= Duration::from_secs(1))
        });
        Self {
            etag,
            last_modified,
            last_modified_is_strong,
        }
    }

    /// The entity tag, if the source gave a version token.
    pub fn etag(&self) -> Option<ETag> {
        self.etag
    }

    /// The `Last-Modified` time in whole seconds, if the source gave a modification time.
    pub fn last_modified(&self) -> Option<SystemTime> {
        self.last_modified
    }

    /// Whether `Last-Modified` is a strong validator, usable by `If-Range`.
    pub fn last_modified_is_strong(&self) -> bool {
        self.last_modified_is_strong
    }
}

/// Whether an HTTP-date can express `time`: 1970-01-01 to 9999-12-31.
fn is_http_date(time: SystemTime) -> bool {
    const YEAR_10000: u64 = 253_402_300_800;
    time.duration_since(UNIX_EPOCH)
        .is_ok_and(|since| since.as_secs() < YEAR_10000)
}

/// Truncates to whole seconds (towards the past, also before the epoch).
pub(crate) fn whole_seconds(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(before) => {
            let before = before.duration();
            let secs = before.as_secs() + u64::from(before.subsec_nanos() > 0);
            UNIX_EPOCH - Duration::from_secs(secs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_the_documented_fnv1a_hash() {
        // FNV-1a 64 of the empty input is the offset basis; of "a" it is a published vector.
        assert_eq!(ETag::from_version(b"").to_string(), "\"cbf29ce484222325\"");
        assert_eq!(ETag::from_version(b"a").to_string(), "\"af63dc4c8601ec8c\"");
        assert_eq!(
            ETag::from_version(b"foobar").to_header_value(),
            "\"85944171f73967e8\""
        );
    }

    #[test]
    fn different_tokens_give_different_tags() {
        assert_ne!(ETag::from_version(b"1"), ETag::from_version(b"2"));
    }

    #[test]
    fn a_future_modification_time_is_clamped_to_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let v = Validators::new(None, Some(now + Duration::from_secs(50)), now);
        assert_eq!(v.last_modified(), Some(now));
        assert!(!v.last_modified_is_strong());
    }

    #[test]
    fn last_modified_is_strong_only_a_second_before_now() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_900);
        let same_second = UNIX_EPOCH + Duration::from_millis(1_000_100);
        let earlier = UNIX_EPOCH + Duration::from_millis(999_950);
        assert!(!Validators::new(None, Some(same_second), now).last_modified_is_strong());
        assert!(Validators::new(None, Some(earlier), now).last_modified_is_strong());
        assert_eq!(
            Validators::new(None, Some(earlier), now).last_modified(),
            Some(UNIX_EPOCH + Duration::from_secs(999))
        );
    }

    #[test]
    fn times_an_http_date_cannot_express_are_left_out() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(
            Validators::new(None, Some(before_epoch), now).last_modified(),
            None
        );
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert_eq!(Validators::new(None, Some(far), far).last_modified(), None);
    }

    #[test]
    fn times_before_the_epoch_truncate_towards_the_past() {
        let t = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(whole_seconds(t), UNIX_EPOCH - Duration::from_secs(2));
        let t = UNIX_EPOCH - Duration::from_secs(3);
        assert_eq!(whole_seconds(t), t);
    }
}
