//! Any bytes as a `Range` value: parsing never panics, and whatever parses coalesces into
//! disjoint regions inside the representation that never add up to more than it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_range::range::{coalesce, parse_range, RangeHeader};

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes choose the representation's length, the rest is the header value.
    let (len, value) = match data.split_first_chunk::<8>() {
        Some((len, rest)) => (u64::from_le_bytes(*len) >> (len[0] % 64), rest),
        None => (1000, data),
    };
    let RangeHeader::Bytes(ranges) = parse_range(value, 64) else {
        return;
    };
    assert!(!ranges.is_empty() && ranges.len() <= 64);
    let regions = coalesce(&ranges, len);
    let mut total: u64 = 0;
    let mut sorted = regions.clone();
    sorted.sort();
    for region in &sorted {
        assert!(region.start() < region.end() && region.end() <= len);
        total += region.len();
    }
    for pair in sorted.windows(2) {
        assert!(pair[0].end() < pair[1].start(), "regions touch or overlap");
    }
    assert!(total <= len);
    // Every satisfiable range lies inside one region.
    for range in &ranges {
        if let Some(wanted) = range.resolve(len) {
            assert!(regions
                .iter()
                .any(|r| r.start() <= wanted.start() && wanted.end() <= r.end()));
        }
    }
});
