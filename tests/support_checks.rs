//! The shared test-support code's own tests, run once here rather than in every test binary
//! that compiles `mod support;`.

mod support;

use support::{header_in, parse_multipart, Access};

#[test]
fn parses_access_lines() {
    let line = "2026-01-01T00:00:00.000000Z  INFO access: GET /video HTTP/1.1 \
                range=bytes=0-1, 5-6 status=206 bytes=1097903 complete in 2.2ms \
                if=none-match,range";
    let a = Access::parse(line).unwrap();
    assert_eq!(a.method, "GET");
    assert_eq!(a.path, "/video");
    assert_eq!(a.version, "HTTP/1.1");
    assert_eq!(a.range.as_deref(), Some("bytes=0-1, 5-6"));
    assert_eq!(a.status, 206);
    assert_eq!(a.bytes, 1097903);
    assert_eq!(a.outcome, "complete");
    assert_eq!(a.conditions, ["none-match", "range"]);
    let b = Access::parse(
        "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2maccess\u{1b}[0m\u{1b}[2m:\u{1b}[0m \
         HEAD / HTTP/2.0 range=- status=200 bytes=0 aborted in 1ms if=-",
    )
    .unwrap();
    assert_eq!(b.range, None);
    assert!(b.conditions.is_empty());
    assert_eq!(b.version, "HTTP/2.0");
    assert_eq!(b.outcome, "aborted");
}

#[test]
fn parses_multipart() {
    let body = b"\r\n--XYZ\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/10\r\n\r\nab\r\n--XYZ\r\nContent-Range: bytes 5-6/10\r\n\r\nfg\r\n--XYZ--\r\n";
    let parts = parse_multipart(body, "XYZ");
    assert_eq!(parts.len(), 2);
    assert_eq!(
        header_in(&parts[0].0, "content-range"),
        Some("bytes 0-1/10")
    );
    assert_eq!(parts[1].1, b"fg");
}
