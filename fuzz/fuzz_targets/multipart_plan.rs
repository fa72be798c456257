//! Any `Range` header over any small file: the planned body, assembled from a real content,
//! has exactly the announced length, never outweighs the file, and its multipart framing
//! parses back into the requested bytes.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_range::response::{plan, PlanOptions, Segment};
use tower_range::Metadata;

fuzz_target!(|data: &[u8]| {
    let Some((&len_byte, value)) = data.split_first() else {
        return;
    };
    let len = u64::from(len_byte) * 37;
    let content: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(RANGE, value);
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let metadata = Metadata::new(len).with_content_type(HeaderValue::from_static("video/mp4"));
    let boundary = "fuzzboundary0123456789";
    let plan = plan(
        &Method::GET,
        &headers,
        &metadata,
        &PlanOptions::default(),
        now,
        || boundary.into(),
    );
    let mut body = Vec::new();
    for segment in &plan.body {
        match segment {
            Segment::Bytes(bytes) => body.extend_from_slice(bytes),
            Segment::Region(region) => {
                assert!(region.end() <= len);
                body.extend_from_slice(&content[region.start() as usize..region.end() as usize]);
            }
        }
    }
    let announced: usize = plan.headers[CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(announced, body.len());
    match plan.status {
        StatusCode::OK => assert_eq!(body, content),
        StatusCode::RANGE_NOT_SATISFIABLE => {
            assert_eq!(
                plan.headers[CONTENT_RANGE].to_str().unwrap(),
                format!("bytes */{len}")
            );
        }
        StatusCode::PARTIAL_CONTENT => {
            assert!(body.len() as u64 <= len, "the response outweighs the file");
            let content_type = plan.headers[CONTENT_TYPE].to_str().unwrap();
            if content_type.starts_with("multipart/byteranges") {
                check_multipart(&body, boundary, &content, len);
            } else {
                let range = plan.headers[CONTENT_RANGE].to_str().unwrap();
                let (first, last) = parse_content_range(range, len);
                assert_eq!(body, content[first..=last]);
            }
        }
        other => panic!("unexpected status {other}"),
    }
});

fn parse_content_range(value: &str, len: u64) -> (usize, usize) {
    let rest = value.strip_prefix("bytes ").unwrap();
    let (span, total) = rest.split_once('/').unwrap();
    assert_eq!(total.parse::<u64>().unwrap(), len);
    let (first, last) = span.split_once('-').unwrap();
    (first.parse().unwrap(), last.parse().unwrap())
}

fn check_multipart(body: &[u8], boundary: &str, content: &[u8], len: u64) {
    let text = body;
    let delimiter = format!("--{boundary}");
    let mut parts = 0;
    let mut rest = text;
    assert!(rest.starts_with(delimiter.as_bytes()));
    rest = &rest[delimiter.len()..];
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n").unwrap();
        let head_end = find(rest, b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&rest[..head_end]).unwrap();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap();
        let (first, last) = parse_content_range(range, len);
        rest = &rest[head_end + 4..];
        let data_len = last - first + 1;
        assert_eq!(&rest[..data_len], &content[first..=last]);
        rest = &rest[data_len..];
        rest = rest.strip_prefix(b"\r\n").unwrap();
        rest = rest.strip_prefix(delimiter.as_bytes()).unwrap();
        parts += 1;
    }
    assert!(parts >= 2);
    assert_eq!(rest, b"--\r\n");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
