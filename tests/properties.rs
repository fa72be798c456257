//! Property tests of the pure HTTP semantics: for any input, the range parser, the coalescer,
//! the precondition evaluation and the response planner keep their promises.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use proptest::prelude::*;
use tower_range::preconditions::evaluate;
use tower_range::range::{coalesce, parse_range, ByteRange, RangeHeader};
use tower_range::response::{plan, PlanOptions, Segment};
use tower_range::{Metadata, Validators};

fn byte_range(max: u64) -> impl Strategy<Value = ByteRange> {
    prop_oneof![
        (0..max, 0..max).prop_map(|(a, b)| ByteRange::Closed {
            first: a.min(b),
            last: a.max(b)
        }),
        (0..max).prop_map(|first| ByteRange::From { first }),
        (0..max).prop_map(|length| ByteRange::Suffix { length }),
    ]
}

fn write(range: &ByteRange) -> String {
    match range {
        ByteRange::Closed { first, last } => format!("{first}-{last}"),
        ByteRange::From { first } => format!("{first}-"),
        ByteRange::Suffix { length } => format!("-{length}"),
    }
}

/// The set of byte positions the ranges select, for small lengths.
fn selected(ranges: &[ByteRange], len: u64) -> Vec<bool> {
    let mut set = vec![false; len as usize];
    for range in ranges {
        if let Some(region) = range.resolve(len) {
            for i in region.start()..region.end() {
                set[i as usize] = true;
            }
        }
    }
    set
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn metadata(len: u64) -> Metadata {
    Metadata::new(len)
        .with_version(b"v")
        .with_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .with_content_type(HeaderValue::from_static("video/mp4"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsing_any_bytes_never_panics(value in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_range(&value, 16);
    }

    #[test]
    fn written_ranges_parse_back(ranges in proptest::collection::vec(byte_range(u64::MAX), 1..20)) {
        let header = format!("bytes={}", ranges.iter().map(write).collect::<Vec<_>>().join(", "));
        prop_assert_eq!(parse_range(header.as_bytes(), 64), RangeHeader::Bytes(ranges));
    }

    #[test]
    fn coalesced_regions_cover_exactly_the_requested_bytes(
        ranges in proptest::collection::vec(byte_range(300), 1..30),
        len in 0u64..256,
    ) {
        let regions = coalesce(&ranges, len);
        let mut covered = vec![false; len as usize];
        for region in &regions {
            prop_assert!(region.end() <= len);
            for i in region.start()..region.end() {
                prop_assert!(!covered[i as usize], "regions overlap");
                covered[i as usize] = true;
            }
        }
        prop_assert_eq!(covered, selected(&ranges, len));
        // No two regions touch: they would have been merged.
        let mut sorted = regions.clone();
        sorted.sort();
        for pair in sorted.windows(2) {
            prop_assert!(pair[0].end() < pair[1].start());
        }
        let total: u64 = regions.iter().map(|r| r.len()).sum();
        prop_assert!(total <= len);
    }

    #[test]
    fn coalesced_regions_keep_the_order_of_their_first_range(
        ranges in proptest::collection::vec(byte_range(300), 1..30),
        len in 1u64..256,
    ) {
        let regions = coalesce(&ranges, len);
        // The index of the first range that falls in each region must increase.
        let first_index = |region: &tower_range::range::Region| {
            ranges.iter().position(|r| {
                r.resolve(len).is_some_and(|x| x.start() >= region.start() && x.end() <= region.end())
            })
        };
        let indexes: Vec<_> = regions.iter().map(first_index).collect();
        prop_assert!(indexes.iter().all(Option::is_some));
        prop_assert!(indexes.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn plans_are_consistent_for_any_range_header(
        ranges in proptest::collection::vec(byte_range(5000), 1..80),
        len in 0u64..4096,
        head in any::<bool>(),
    ) {
        let header = format!("bytes={}", ranges.iter().map(write).collect::<Vec<_>>().join(","));
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RANGE, HeaderValue::from_str(&header).unwrap());
        let method = if head { Method::HEAD } else { Method::GET };
        let plan = plan(&method, &headers, &metadata(len), &PlanOptions::default(), now(), || "B0UNDARY".into());
        let content_length: u64 = plan.headers[http::header::CONTENT_LENGTH].to_str().unwrap().parse().unwrap();
        if head {
            prop_assert_eq!(plan.status, StatusCode::OK);
            prop_assert!(plan.body.is_empty());
            prop_assert_eq!(content_length, len);
            return Ok(());
        }
        prop_assert_eq!(plan.body_len(), content_length);
        let regions: Vec<_> = plan.body.iter().filter_map(|s| match s {
            Segment::Region(r) => Some(*r),
            Segment::Bytes(_) => None,
        }).collect();
        for region in &regions {
            prop_assert!(region.end() <= len);
        }
        match plan.status {
            StatusCode::OK => {
                prop_assert_eq!(content_length, len);
                prop_assert!(ranges.len() > 64 || plan.body_len() == len);
            }
            StatusCode::PARTIAL_CONTENT => {
                // Never more than the representation itself: no amplification.
                prop_assert!(plan.body_len() <= len);
                let mut covered = vec![false; len as usize];
                for region in &regions {
                    for i in region.start()..region.end() {
                        covered[i as usize] = true;
                    }
                }
                prop_assert_eq!(covered, selected(&ranges, len));
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                prop_assert!(selected(&ranges, len).iter().all(|b| !b));
                let expected = format!("bytes */{len}");
                prop_assert_eq!(plan.headers[http::header::CONTENT_RANGE].to_str().unwrap(), expected.as_str());
            }
            other => prop_assert!(false, "unexpected status {}", other),
        }
    }

    #[test]
    fn any_precondition_headers_are_evaluated_without_panicking(
        values in proptest::collection::vec((0usize..6, proptest::collection::vec(32u8..127, 0..60)), 0..8),
    ) {
        let names = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range"];
        let mut headers = HeaderMap::new();
        for (name, value) in values {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(HeaderName::from_static(names[name]), value);
            }
        }
        let validators = Validators::new(metadata(10).etag(), metadata(10).modified(), now());
        let _ = evaluate(&Method::GET, &headers, &validators);
        let _ = plan(&Method::GET, &headers, &metadata(10), &PlanOptions::default(), now(), String::new);
    }
}

#[test]
fn parsing_is_linear_in_the_header_length() {
    // A 1 MiB header of ranges past the cap stops at the cap; one of empty list elements
    // is a single pass. Neither may take long, and neither may allocate per byte.
    let huge = format!("bytes={}", "0-1,".repeat(256 * 1024));
    assert_eq!(
        parse_range(huge.as_bytes(), 64),
        RangeHeader::Ignored(tower_range::range::IgnoredBecause::TooManyRanges)
    );
    let commas = format!("bytes=0-1{}", ",".repeat(1024 * 1024));
    assert!(matches!(parse_range(commas.as_bytes(), 64), RangeHeader::Bytes(r) if r.len() == 1));
}
