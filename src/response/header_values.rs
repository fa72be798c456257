//! The header values the planner writes for every answer — `Content-Range` and
//! `Last-Modified` — written digit by digit into a small array instead of through
//! `format!`: the formatting machinery, its `String` and the copy into the header cost more
//! than the rest of a small range request's planning (measured with callgrind on W3's
//! 4 KiB ranges: 2,400 instructions a request for `Content-Range` alone).

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use crate::range::Region;

/// Text of at most `N` bytes, written from the front.
struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn push(&mut self, text: &[u8]) -> &mut Self {
        self.bytes[self.len..self.len + text.len()].copy_from_slice(text);
        self.len += text.len();
        self
    }

    /// `n` in decimal.
    fn number(&mut self, mut n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[start..])
    }

    /// `n` in at least two digits.
    fn two_digits(&mut self, n: u64) -> &mut Self {
        if n < 10 {
            self.push(b"0");
        }
        self.number(n)
    }

    fn value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.bytes[..self.len])
            .expect("digits, letters and punctuation are valid header bytes")
    }
}

/// `bytes FIRST-LAST/LEN`.
pub(super) fn content_range(region: Region, len: u64) -> HeaderValue {
    // "bytes " + three numbers of at most 20 digits + "-" + "/".
    Text::<68>::new()
        .push(b"bytes ")
        .number(region.start())
        .push(b"-")
        .number(region.last())
        .push(b"/")
        .number(len)
        .value()
}

/// `bytes */LEN`, for a `416`.
pub(super) fn content_range_unsatisfied(len: u64) -> HeaderValue {
    Text::<28>::new().push(b"bytes */").number(len).value()
}

const WEEKDAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. Times before
/// 1970 are written as 1970's first second, and after 9999 as its last (the validators keep
/// modification times within those bounds anyway).
pub(super) fn http_date(time: SystemTime) -> HeaderValue {
    const MAX: u64 = 253_402_300_799; // 9999-12-31 23:59:59
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX);
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    Text::<29>::new()
        .push(WEEKDAYS[(days % 7) as usize])
        .push(b", ")
        .two_digits(day)
        .push(b" ")
        .push(MONTHS[(month - 1) as usize])
        .push(b" ")
        .number(year)
        .push(b" ")
        .two_digits(of_day / 3600)
        .push(b":")
        .two_digits(of_day / 60 % 60)
        .push(b":")
        .two_digits(of_day % 60)
        .push(b" GMT")
        .value()
}

/// The proleptic Gregorian (year, month 1–12, day 1–31) of `days` days after 1970-01-01:
/// counted in 400-year eras of 146,097 days from 0000-03-01, so that the leap day ends each
/// counted year (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn content_ranges_are_written_as_rfc_9110_spells_them() {
        let region = Region::new(0, 1).unwrap();
        assert_eq!(content_range(region, 10), "bytes 0-0/10");
        let region = Region::new(u64::MAX - 2, u64::MAX).unwrap();
        assert_eq!(
            content_range(region, u64::MAX),
            format!("bytes {}-{}/{}", u64::MAX - 2, u64::MAX - 1, u64::MAX)
        );
        assert_eq!(content_range_unsatisfied(0), "bytes */0");
        assert_eq!(
            content_range_unsatisfied(u64::MAX),
            format!("bytes */{}", u64::MAX)
        );
    }

    #[test]
    fn dates_at_the_edges_match_httpdate() {
        for secs in [
            0,
            86_399,
            86_400,
            784_111_777,   // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example
            951_782_400,   // 2000-02-29
            4_107_542_400, // 2100-03-01, after a non-leap century year
            253_402_300_799,
        ] {
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(http_date(time), httpdate::fmt_http_date(time), "{secs}");
        }
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn dates_out_of_range_are_clamped() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
        let after = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert_eq!(http_date(after), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    proptest! {
        #[test]
        fn every_date_matches_httpdate(secs in 0u64..=253_402_300_799) {
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            prop_assert_eq!(http_date(time), httpdate::fmt_http_date(time));
        }

        #[test]
        fn every_content_range_matches_the_formatted_text(
            start in any::<u64>(), extra in any::<u64>(), more in any::<u64>(),
        ) {
            let end = start.saturating_add(extra % (1 << 40)).max(start.saturating_add(1));
            prop_assume!(end > start);
            let len = end.saturating_add(more % (1 << 40));
            let region = Region::new(start, end).unwrap();
            prop_assert_eq!(
                content_range(region, len),
                format!("bytes {}-{}/{}", start, end - 1, len)
            );
        }
    }
}
