//! The `Range` request header (RFC 9110 §14.1–§14.2): parsing it, and resolving the
//! requested ranges against a representation's length.
//!
//! Both steps are pure functions with no I/O. Parsing is a single left-to-right pass over the
//! header value, so its cost is linear in the header length; it stops as soon as the number of
//! ranges exceeds the caller's cap.

use std::cmp::Ordering;

/// One `byte-range-spec` as the client wrote it (RFC 9110 §14.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteRange {
    /// `first-last`: both positions inclusive; `first <= last` is guaranteed by the parser.
    Closed {
        /// The first byte position.
        first: u64,
        /// The last byte position, inclusive. It may lie past the end of the representation.
        last: u64,
    },
    /// `first-`: from `first` to the end of the representation.
    From {
        /// The first byte position.
        first: u64,
    },
    /// `-length`: the last `length` bytes of the representation.
    Suffix {
        /// How many bytes, counted back from the end.
        length: u64,
    },
}

/// Why a `Range` header is ignored, so that the full representation is sent with `200`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoredBecause {
    /// The range unit is not `bytes`: RFC 9110 §14.2 requires the server to ignore it.
    UnknownUnit,
    /// The value does not follow the `ranges-specifier` grammar, or a range has
    /// `last < first`. RFC 9110 §14.2 lets a server ignore or reject such a header; this crate
    /// ignores it, as nginx and Go's net/http do, so that a client always gets the content.
    Invalid,
    /// The header lists more ranges than the configured maximum.
    TooManyRanges,
    /// The request carries more than one `Range` field line.
    Repeated,
}

/// The outcome of parsing a `Range` header value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RangeHeader {
    /// A syntactically valid `bytes` range set, in the order the client gave it.
    Bytes(Vec<ByteRange>),
    /// The header must be ignored.
    Ignored(IgnoredBecause),
}

/// A non-empty run of bytes of the representation, `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    start: u64,
    end: u64,
}

impl Region {
    /// A region from `start` (inclusive) to `end` (exclusive). Returns `None` when it would be
    /// empty.
    pub fn new(start: u64, end: u64) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    /// The first byte position.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last byte position.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The last byte position, inclusive, as `Content-Range` writes it.
    pub fn last(&self) -> u64 {
        self.end - 1
    }

    /// The number of bytes; never zero.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Always `false`: a region is never empty. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses `1*DIGIT`, saturating at `u64::MAX`. Saturation keeps the meaning of huge numbers:
/// a first position past every possible length is unsatisfiable, a last position past it is
/// clamped, and a suffix longer than any representation selects all of it.
fn parse_digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Some(value)
}

fn parse_spec(spec: &[u8]) -> Option<ByteRange> {
    let dash = spec.iter().position(|&b| b == b'-')?;
    let first = trim_ows(&spec[..dash]);
    let last = trim_ows(&spec[dash + 1..]);
    if first.is_empty() {
        return Some(ByteRange::Suffix {
            length: parse_digits(last)?,
        });
    }
    let first = parse_digits(first)?;
    if last.is_empty() {
        return Some(ByteRange::From { first });
    }
    let last = parse_digits(last)?;
    (first <= last).then_some(ByteRange::Closed { first, last })
}

/// Parses one `Range` field value.
///
/// Accepts the RFC 9110 grammar `bytes=range-spec *( OWS "," OWS range-spec )` with a
/// case-insensitive unit, optional whitespace around the value and around list elements, and
/// empty list elements (which RFC 9110 §5.6.1.2 asks recipients to skip). Like nginx and Go,
/// it also tolerates whitespace around the `-` of a range. At most `max_ranges` ranges are
/// accepted; the parse stops at the first one beyond that.
///
/// ```
/// use tower_range::range::{parse_range, ByteRange, RangeHeader, IgnoredBecause};
///
/// assert_eq!(
///     parse_range(b"bytes=0-99, -10", 16),
///     RangeHeader::Bytes(vec![
///         ByteRange::Closed { first: 0, last: 99 },
///         ByteRange::Suffix { length: 10 },
///     ]),
/// );
/// assert_eq!(parse_range(b"items=0-5", 16), RangeHeader::Ignored(IgnoredBecause::UnknownUnit));
/// ```
pub fn parse_range(value: &[u8], max_ranges: usize) -> RangeHeader {
    let value = trim_ows(value);
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return RangeHeader::Ignored(IgnoredBecause::Invalid);
    };
    let unit = &value[..eq];
    if unit.is_empty() || !unit.iter().all(|&b| is_tchar(b)) {
        return RangeHeader::Ignored(IgnoredBecause::Invalid);
    }
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return RangeHeader::Ignored(IgnoredBecause::UnknownUnit);
    }
    let mut ranges = Vec::new();
    for element in value[eq + 1..].split(|&b| b == b',') {
        #[cfg(test)]
        work::count(element.len() + 1);
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        if ranges.len() == max_ranges {
            return RangeHeader::Ignored(IgnoredBecause::TooManyRanges);
        }
        match parse_spec(element) {
            Some(range) => ranges.push(range),
            None => return RangeHeader::Ignored(IgnoredBecause::Invalid),
        }
    }
    if ranges.is_empty() {
        return RangeHeader::Ignored(IgnoredBecause::Invalid);
    }
    RangeHeader::Bytes(ranges)
}

impl ByteRange {
    /// The bytes this range selects from a representation of `len` bytes, or `None` when it
    /// selects none (RFC 9110 §14.1.1: a first position at or past the end, or a zero-length
    /// suffix, or any range of an empty representation).
    ///
    /// An end past the last byte is clamped, and a suffix longer than the representation
    /// selects all of it.
    pub fn resolve(&self, len: u64) -> Option<Region> {
        match *self {
            ByteRange::Closed { first, last } => {
                Region::new(first, last.saturating_add(1).min(len))
            }
            ByteRange::From { first } => Region::new(first, len),
            ByteRange::Suffix { length } => Region::new(len - length.min(len), len),
        }
    }
}

/// Resolves `ranges` against a representation of `len` bytes: drops the unsatisfiable ones,
/// merges the ones that overlap or touch, and keeps the client's order otherwise (a merged
/// region takes the place of its earliest member).
///
/// The result's total length never exceeds `len`, however many times the client repeats or
/// overlaps its ranges: this is what stops a `Range` header from amplifying a response. An
/// empty result means that the request is unsatisfiable (`416`).
///
/// Runs in `O(n log n)` for `n` ranges.
///
/// ```
/// use tower_range::range::{coalesce, parse_range, RangeHeader};
///
/// let RangeHeader::Bytes(ranges) = parse_range(b"bytes=50-59,0-9,5-14,10-19", 16) else { panic!() };
/// let regions = coalesce(&ranges, 100);
/// let spans: Vec<_> = regions.iter().map(|r| (r.start(), r.last())).collect();
/// assert_eq!(spans, [(50, 59), (0, 19)]);
/// ```
pub fn coalesce(ranges: &[ByteRange], len: u64) -> Vec<Region> {
    // Each satisfiable region with the position of the range it came from.
    let mut resolved: Vec<(Region, usize)> = ranges
        .iter()
        .enumerate()
        .filter_map(|(index, range)| Some((range.resolve(len)?, index)))
        .collect();
    if resolved.len() <= 1 {
        return resolved.into_iter().map(|(region, _)| region).collect();
    }
    resolved.sort_unstable_by(|a, b| a.0.start.cmp(&b.0.start).then(a.1.cmp(&b.1)));
    let mut merged: Vec<(Region, usize)> = Vec::with_capacity(resolved.len());
    for (region, index) in resolved {
        match merged.last_mut() {
            // `<=`: regions that only touch are merged too, so no two parts are contiguous.
            Some((last, first_index)) if region.start <= last.end => {
                last.end = last.end.max(region.end);
                *first_index = (*first_index).min(index);
            }
            _ => merged.push((region, index)),
        }
    }
    merged.sort_unstable_by(|a, b| match a.1.cmp(&b.1) {
        Ordering::Equal => a.0.start.cmp(&b.0.start),
        other => other,
    });
    merged.into_iter().map(|(region, _)| region).collect()
}

/// The bytes the element loop of [`parse_range`] walks, counted in tests to show that the
/// parse is linear in the header and stops at the range cap.
#[cfg(test)]
mod work {
    use std::cell::Cell;

    thread_local!(static BYTES: Cell<usize> = const { Cell::new(0) });

    pub(super) fn count(bytes: usize) {
        BYTES.with(|b| b.set(b.get() + bytes));
    }

    /// The bytes walked while `f` runs.
    pub(super) fn of(f: impl FnOnce()) -> usize {
        let before = BYTES.with(Cell::get);
        f();
        BYTES.with(Cell::get) - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(header: &str) -> Vec<ByteRange> {
        match parse_range(header.as_bytes(), 64) {
            RangeHeader::Bytes(ranges) => ranges,
            other => panic!("{header:?} parsed as {other:?}"),
        }
    }

    fn ignored(header: &str) -> IgnoredBecause {
        match parse_range(header.as_bytes(), 64) {
            RangeHeader::Ignored(reason) => reason,
            other => panic!("{header:?} parsed as {other:?}"),
        }
    }

    fn spans(header: &str, len: u64) -> Vec<(u64, u64)> {
        coalesce(&bytes(header), len)
            .iter()
            .map(|r| (r.start(), r.last()))
            .collect()
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            bytes("bytes=0-499"),
            [ByteRange::Closed {
                first: 0,
                last: 499
            }]
        );
        assert_eq!(bytes("bytes=9500-"), [ByteRange::From { first: 9500 }]);
        assert_eq!(bytes("bytes=-500"), [ByteRange::Suffix { length: 500 }]);
    }

    #[test]
    fn unit_is_case_insensitive() {
        assert_eq!(bytes("BYTES=1-2"), bytes("bytes=1-2"));
        assert_eq!(bytes("Bytes=1-2"), bytes("bytes=1-2"));
    }

    #[test]
    fn whitespace_is_allowed_around_list_elements_and_the_value() {
        assert_eq!(bytes("  bytes=0-1 ,\t2-3 , -4  ").len(), 3);
        assert_eq!(
            bytes("bytes=0 - 1"),
            [ByteRange::Closed { first: 0, last: 1 }]
        );
    }

    #[test]
    fn empty_list_elements_are_skipped() {
        assert_eq!(bytes("bytes=,0-1,,2-3,").len(), 2);
    }

    #[test]
    fn an_unknown_unit_is_ignored() {
        assert_eq!(ignored("items=0-5"), IgnoredBecause::UnknownUnit);
        assert_eq!(ignored("none=0-5"), IgnoredBecause::UnknownUnit);
        assert_eq!(ignored("bytesx=0-5"), IgnoredBecause::UnknownUnit);
    }

    #[test]
    fn invalid_syntax_is_ignored() {
        for header in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-a",
            "bytes=5-1",
            "bytes=1-2-3",
            "bytes=--1",
            "bytes=+1-2",
            "bytes=0x10-20",
            "=0-1",
            "by tes=0-1",
            "bytes =0-1",
            "bytes=0-1;2-3",
            "bytes=1",
            "bytes=0-1,5-1",
            "bytes=\u{e9}-1",
        ] {
            assert_eq!(ignored(header), IgnoredBecause::Invalid, "{header:?}");
        }
    }

    #[test]
    fn more_ranges_than_the_cap_are_ignored() {
        assert_eq!(
            parse_range(b"bytes=0-1,2-3,4-5", 2),
            RangeHeader::Ignored(IgnoredBecause::TooManyRanges)
        );
        assert!(matches!(
            parse_range(b"bytes=0-1,2-3", 2),
            RangeHeader::Bytes(r) if r.len() == 2
        ));
    }

    #[test]
    fn numbers_past_u64_saturate_instead_of_panicking() {
        let huge = "99999999999999999999999999999";
        assert_eq!(
            bytes(&format!("bytes=0-{huge}")),
            [ByteRange::Closed {
                first: 0,
                last: u64::MAX
            }]
        );
        assert_eq!(
            bytes(&format!("bytes=-{huge}")),
            [ByteRange::Suffix { length: u64::MAX }]
        );
        assert_eq!(
            bytes(&format!("bytes={huge}-")),
            [ByteRange::From { first: u64::MAX }]
        );
        assert_eq!(spans(&format!("bytes=0-{huge}"), 10), [(0, 9)]);
        assert_eq!(spans(&format!("bytes=-{huge}"), 10), [(0, 9)]);
        assert!(spans(&format!("bytes={huge}-"), 10).is_empty());
        assert_eq!(
            bytes(&format!("bytes={}-{}", u64::MAX, u64::MAX)),
            [ByteRange::Closed {
                first: u64::MAX,
                last: u64::MAX
            }]
        );
        assert!(spans(&format!("bytes={}-{}", u64::MAX, u64::MAX), u64::MAX).is_empty());
    }

    #[test]
    fn an_end_past_eof_is_clamped() {
        assert_eq!(spans("bytes=5-1000", 10), [(5, 9)]);
        assert_eq!(spans("bytes=0-", 10), [(0, 9)]);
    }

    #[test]
    fn a_suffix_longer_than_the_file_selects_all_of_it() {
        assert_eq!(spans("bytes=-1000", 10), [(0, 9)]);
        assert_eq!(spans("bytes=-3", 10), [(7, 9)]);
    }

    #[test]
    fn unsatisfiable_ranges_are_dropped() {
        assert!(spans("bytes=10-20", 10).is_empty());
        assert!(spans("bytes=-0", 10).is_empty());
        assert!(spans("bytes=0-0", 0).is_empty());
        assert!(spans("bytes=-5", 0).is_empty());
        assert!(spans("bytes=0-", 0).is_empty());
        assert_eq!(spans("bytes=10-20,2-3", 10), [(2, 3)]);
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        assert_eq!(spans("bytes=0-4,5-9", 100), [(0, 9)]);
        assert_eq!(spans("bytes=0-5,3-9", 100), [(0, 9)]);
        assert_eq!(spans("bytes=0-,0-,0-,0-", 100), [(0, 99)]);
        assert_eq!(spans("bytes=0-0,2-2", 100), [(0, 0), (2, 2)]);
    }

    #[test]
    fn merged_parts_keep_the_clients_order() {
        assert_eq!(
            spans("bytes=80-89,0-9,40-49", 100),
            [(80, 89), (0, 9), (40, 49)]
        );
        // 20-29 merges with 25-35, which came second: the merged part stands first.
        assert_eq!(
            spans("bytes=50-59,25-35,0-1,20-29", 100),
            [(50, 59), (20, 35), (0, 1)]
        );
    }

    #[test]
    fn thousands_of_ranges_stop_the_parse_at_the_cap() {
        let header = format!("bytes={}", "0-1,".repeat(100_000));
        assert_eq!(
            parse_range(header.as_bytes(), 64),
            RangeHeader::Ignored(IgnoredBecause::TooManyRanges)
        );
    }

    #[test]
    fn thousands_of_overlapping_ranges_coalesce_to_one() {
        let header = format!("bytes={}", "0-,5-9,-3,".repeat(3_000));
        let RangeHeader::Bytes(ranges) = parse_range(header.as_bytes(), usize::MAX) else {
            panic!("parses");
        };
        assert_eq!(ranges.len(), 9_000);
        let regions = coalesce(&ranges, 1_000_000);
        assert_eq!(regions, [Region::new(0, 1_000_000).unwrap()]);
    }

    #[test]
    fn one_reversed_range_among_thousands_voids_the_header() {
        let header = format!("bytes={}9-5", "0-1,".repeat(5_000));
        assert_eq!(
            parse_range(header.as_bytes(), usize::MAX),
            RangeHeader::Ignored(IgnoredBecause::Invalid)
        );
    }

    #[test]
    fn a_64_kib_header_of_whitespace_and_empty_elements_is_one_pass() {
        let header = format!(
            "bytes={}0-9{}",
            " ,\t".repeat(16 * 1024),
            ", ".repeat(16 * 1024)
        );
        assert_eq!(
            parse_range(header.as_bytes(), 64),
            RangeHeader::Bytes(vec![ByteRange::Closed { first: 0, last: 9 }])
        );
        let digits = format!("bytes=0-{}", "9".repeat(64 * 1024));
        assert_eq!(spans(&digits, 10), [(0, 9)]);
    }

    #[test]
    fn region_reports_its_bounds() {
        let region = Region::new(3, 8).unwrap();
        assert_eq!(
            (region.start(), region.last(), region.end(), region.len()),
            (3, 7, 8, 5)
        );
        assert!(Region::new(3, 3).is_none());
    }

    #[test]
    fn the_work_of_a_parse_grows_linearly_and_stops_at_the_cap() {
        let commas = |n: usize| format!("bytes=0-1{}", ",".repeat(n));
        let small = work::of(|| drop(parse_range(commas(100_000).as_bytes(), 64)));
        let large = work::of(|| drop(parse_range(commas(1_000_000).as_bytes(), 64)));
        // Ten times the header, ten times the work: each byte is walked once.
        assert!((100_000..=100_010).contains(&small), "{small}");
        assert!(large <= 10 * small, "{large} vs {small}");
        // Past the cap, the parse stops: a header of a million ranges costs what 65 do.
        let ranges = |n: usize| format!("bytes={}", "0-1,".repeat(n));
        let capped = work::of(|| drop(parse_range(ranges(65).as_bytes(), 64)));
        let huge = work::of(|| drop(parse_range(ranges(1_000_000).as_bytes(), 64)));
        assert_eq!(huge, capped);
    }
}
