//! The planner's unit tests: every answer RFC 9110 §13–§15 asks for, from headers alone.

use std::time::{Duration, UNIX_EPOCH};

use http::header::{CACHE_CONTROL, IF_NONE_MATCH, IF_RANGE};

use super::*;
use crate::validator::ETag;

const LEN: u64 = 10_000;

fn metadata(len: u64) -> Metadata {
    Metadata::new(len)
        .with_version(b"v1")
        .with_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .with_content_type(HeaderValue::from_static("video/mp4"))
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn plan_for(method: Method, pairs: &[(&str, &str)], len: u64) -> ResponsePlan {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let mut options = PlanOptions::default();
    options
        .extra_headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
    plan(&method, &headers, &metadata(len), &options, now(), || {
        "BOUNDARY".to_owned()
    })
}

fn get(pairs: &[(&str, &str)]) -> ResponsePlan {
    plan_for(Method::GET, pairs, LEN)
}

fn header<'a>(plan: &'a ResponsePlan, name: &str) -> Option<&'a str> {
    plan.headers.get(name).map(|v| v.to_str().unwrap())
}

fn regions(plan: &ResponsePlan) -> Vec<(u64, u64)> {
    plan.body
        .iter()
        .filter_map(|s| match s {
            Segment::Region(r) => Some((r.start(), r.last())),
            Segment::Bytes(_) => None,
        })
        .collect()
}

fn body_text(plan: &ResponsePlan) -> String {
    let mut out = String::new();
    for segment in &plan.body {
        match segment {
            Segment::Bytes(b) => out.push_str(std::str::from_utf8(b).unwrap()),
            Segment::Region(r) => out.push_str(&format!("<{}-{}>", r.start(), r.last())),
        }
    }
    out
}

#[test]
fn no_range_is_a_full_200_with_validators() {
    let plan = get(&[]);
    assert_eq!(plan.status, StatusCode::OK);
    assert_eq!(header(&plan, "content-length"), Some("10000"));
    assert_eq!(header(&plan, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&plan, "content-type"), Some("video/mp4"));
    assert_eq!(
        header(&plan, "etag"),
        Some(ETag::from_version(b"v1").to_string().as_str())
    );
    assert_eq!(
        header(&plan, "last-modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    assert_eq!(header(&plan, "cache-control"), Some("max-age=60"));
    assert_eq!(regions(&plan), [(0, LEN - 1)]);
    assert_eq!(plan.body_len(), LEN);
}

#[test]
fn one_range_is_a_206_with_content_range() {
    let plan = get(&[("range", "bytes=0-1")]);
    assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&plan, "content-range"), Some("bytes 0-1/10000"));
    assert_eq!(header(&plan, "content-length"), Some("2"));
    assert_eq!(header(&plan, "content-type"), Some("video/mp4"));
    assert_eq!(header(&plan, "cache-control"), Some("max-age=60"));
    assert!(header(&plan, "etag").is_some());
    assert_eq!(regions(&plan), [(0, 1)]);
}

#[test]
fn an_open_range_from_zero_is_still_a_206() {
    let plan = get(&[("range", "bytes=0-")]);
    assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&plan, "content-range"), Some("bytes 0-9999/10000"));
}

#[test]
fn suffix_and_clamped_ranges_report_their_real_bounds() {
    let plan = get(&[("range", "bytes=-100")]);
    assert_eq!(
        header(&plan, "content-range"),
        Some("bytes 9900-9999/10000")
    );
    let plan = get(&[("range", "bytes=9990-20000")]);
    assert_eq!(
        header(&plan, "content-range"),
        Some("bytes 9990-9999/10000")
    );
    assert_eq!(header(&plan, "content-length"), Some("10"));
    let plan = get(&[("range", "bytes=-20000")]);
    assert_eq!(header(&plan, "content-range"), Some("bytes 0-9999/10000"));
}

#[test]
fn an_unsatisfiable_range_is_a_416_with_the_length() {
    let plan = get(&[("range", "bytes=10000-")]);
    assert_eq!(plan.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&plan, "content-range"), Some("bytes */10000"));
    assert_eq!(header(&plan, "cache-control"), None);
    assert_eq!(
        plan.body_len().to_string(),
        header(&plan, "content-length").unwrap()
    );
}

#[test]
fn an_empty_file_is_200_without_range_and_416_with_one() {
    let plan = plan_for(Method::GET, &[], 0);
    assert_eq!(plan.status, StatusCode::OK);
    assert_eq!(header(&plan, "content-length"), Some("0"));
    assert!(plan.body.is_empty());
    let plan = plan_for(Method::GET, &[("range", "bytes=0-")], 0);
    assert_eq!(plan.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&plan, "content-range"), Some("bytes */0"));
    let plan = plan_for(Method::GET, &[("range", "bytes=-5")], 0);
    assert_eq!(plan.status, StatusCode::RANGE_NOT_SATISFIABLE);
}

#[test]
fn unknown_units_and_invalid_ranges_get_the_whole_file() {
    for value in ["items=0-5", "bytes=5-1", "bytes=x", "bytes="] {
        let plan = get(&[("range", value)]);
        assert_eq!(plan.status, StatusCode::OK, "{value}");
        assert_eq!(regions(&plan), [(0, LEN - 1)]);
    }
}

#[test]
fn repeated_range_fields_are_ignored() {
    let plan = get(&[("range", "bytes=0-1"), ("range", "bytes=2-3")]);
    assert_eq!(plan.status, StatusCode::OK);
}

#[test]
fn several_ranges_are_multipart_with_an_exact_length() {
    let plan = get(&[("range", "bytes=0-1,5-9")]);
    assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&plan, "content-type"),
        Some("multipart/byteranges; boundary=BOUNDARY")
    );
    assert_eq!(header(&plan, "content-range"), None);
    assert_eq!(
        body_text(&plan),
        "--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/10000\r\n\r\n<0-1>\
         \r\n--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 5-9/10000\r\n\r\n<5-9>\
         \r\n--BOUNDARY--\r\n"
    );
    assert_eq!(
        header(&plan, "content-length").unwrap(),
        plan.body_len().to_string()
    );
}

#[test]
fn ranges_that_coalesce_to_one_are_a_single_part_206() {
    let plan = get(&[("range", "bytes=0-4,5-9,3-7")]);
    assert_eq!(header(&plan, "content-range"), Some("bytes 0-9/10000"));
    assert_eq!(header(&plan, "content-type"), Some("video/mp4"));
}

#[test]
fn repeated_whole_file_ranges_never_amplify() {
    let header_value = format!("bytes={}", vec!["0-"; 60].join(","));
    let plan = get(&[("range", &header_value)]);
    assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(plan.body_len(), LEN);
}

#[test]
fn parts_that_framed_outweigh_the_file_become_a_200() {
    // Thirty one-byte parts of a 1000-byte file: ~3 KB of framing for 30 bytes.
    let ranges: Vec<String> = (0..30).map(|i| format!("{0}-{0}", i * 10)).collect();
    let plan = plan_for(
        Method::GET,
        &[("range", &format!("bytes={}", ranges.join(",")))],
        1000,
    );
    assert_eq!(plan.status, StatusCode::OK);
    assert_eq!(plan.body_len(), 1000);
}

#[test]
fn more_ranges_than_the_cap_get_the_whole_file() {
    let ranges: Vec<String> = (0..65).map(|i| format!("{0}-{0}", i * 100)).collect();
    let plan = get(&[("range", &format!("bytes={}", ranges.join(",")))]);
    assert_eq!(plan.status, StatusCode::OK);
}

#[test]
fn max_ranges_zero_turns_ranges_off_and_says_so() {
    let options = PlanOptions {
        max_ranges: 0,
        ..PlanOptions::default()
    };
    for method in [Method::GET, Method::HEAD] {
        let mut headers = HeaderMap::new();
        headers.insert(RANGE, HeaderValue::from_static("bytes=0-1"));
        let plan = plan(
            &method,
            &headers,
            &metadata(LEN),
            &options,
            now(),
            String::new,
        );
        assert_eq!(plan.status, StatusCode::OK);
        assert_eq!(header(&plan, "accept-ranges"), Some("none"));
        assert_eq!(header(&plan, "content-length"), Some("10000"));
    }
}

#[test]
fn head_answers_the_headers_of_a_plain_get_without_a_body() {
    let plan = plan_for(Method::HEAD, &[("range", "bytes=0-1")], LEN);
    assert_eq!(plan.status, StatusCode::OK);
    assert_eq!(header(&plan, "content-length"), Some("10000"));
    assert_eq!(header(&plan, "content-type"), Some("video/mp4"));
    assert!(header(&plan, "etag").is_some());
    assert!(plan.body.is_empty());
}

#[test]
fn other_methods_get_405_with_allow() {
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let plan = plan_for(method, &[], LEN);
        assert_eq!(plan.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&plan, "allow"), Some("GET, HEAD"));
    }
}

#[test]
fn not_modified_carries_validators_and_extra_headers_only() {
    let etag = ETag::from_version(b"v1").to_string();
    let plan = get(&[("if-none-match", &etag), ("range", "bytes=0-1")]);
    assert_eq!(plan.status, StatusCode::NOT_MODIFIED);
    assert_eq!(header(&plan, "etag"), Some(etag.as_str()));
    assert!(header(&plan, "last-modified").is_some());
    assert_eq!(header(&plan, "cache-control"), Some("max-age=60"));
    assert_eq!(header(&plan, "content-length"), None);
    assert_eq!(header(&plan, "content-range"), None);
    assert!(plan.body.is_empty());
}

#[test]
fn failed_preconditions_are_412() {
    let plan = get(&[("if-match", "\"nope\"")]);
    assert_eq!(plan.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&plan, "etag"), None);
}

#[test]
fn a_stale_if_range_sends_the_whole_file() {
    let plan = get(&[(IF_RANGE.as_str(), "\"old\""), ("range", "bytes=0-1")]);
    assert_eq!(plan.status, StatusCode::OK);
    assert_eq!(plan.body_len(), LEN);
    let etag = ETag::from_version(b"v1").to_string();
    let plan = get(&[(IF_RANGE.as_str(), &etag), ("range", "bytes=0-1")]);
    assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
}

#[test]
fn the_content_type_option_overrides_the_source() {
    let options = PlanOptions {
        content_type: Some(HeaderValue::from_static("video/webm")),
        ..PlanOptions::default()
    };
    let plan = plan(
        &Method::GET,
        &HeaderMap::new(),
        &metadata(5),
        &options,
        now(),
        String::new,
    );
    assert_eq!(header(&plan, "content-type"), Some("video/webm"));
}

#[test]
fn open_errors_map_to_404_403_and_500() {
    let plan = ResponsePlan::from(open_failed(OpenErrorKind::NotFound));
    assert_eq!(plan.status, StatusCode::NOT_FOUND);
    let plan = ResponsePlan::from(open_failed(OpenErrorKind::Forbidden));
    assert_eq!(plan.status, StatusCode::FORBIDDEN);
    let plan = ResponsePlan::from(open_failed(OpenErrorKind::Other));
    assert_eq!(plan.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        header(&plan, "content-length").unwrap(),
        plan.body_len().to_string()
    );
}

#[test]
fn if_none_match_is_checked_before_range() {
    let plan = get(&[(IF_NONE_MATCH.as_str(), "*"), ("range", "bytes=99999-")]);
    assert_eq!(plan.status, StatusCode::NOT_MODIFIED);
}

#[test]
fn per_representation_headers_reach_200_206_and_304_but_never_owned_ones() {
    let metadata = metadata(LEN)
        .with_header(
            http::header::CONTENT_DISPOSITION,
            HeaderValue::from_static("inline"),
        )
        .with_header(CONTENT_LENGTH, HeaderValue::from_static("1"));
    let etag = ETag::from_version(b"v1").to_string();
    for pairs in [
        vec![],
        vec![("range", "bytes=0-1")],
        vec![("if-none-match", etag.as_str())],
    ] {
        let mut headers = HeaderMap::new();
        for (name, value) in &pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let plan = plan(
            &Method::GET,
            &headers,
            &metadata,
            &PlanOptions::default(),
            now(),
            String::new,
        );
        assert_eq!(
            header(&plan, "content-disposition"),
            Some("inline"),
            "{pairs:?}"
        );
        assert!(plan.headers.get_all(CONTENT_LENGTH).iter().count() <= 1);
        assert_ne!(header(&plan, "content-length"), Some("1"), "{pairs:?}");
    }
}
