//! The shared test-support code's own tests, run once here rather than in every test binary
//! that compiles `mod support;`.

mod support;

use support::{
    amz_date, authorization, aws_encode, header_in, parse_multipart, Access, Credentials,
};

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

#[test]
fn signs_as_sigv4_test_suite() {
    // The "get-vanilla" case of AWS's SigV4 test suite (its documented example key).
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
    assert_eq!(amz_date(time), "20150830T123600Z");
    let key = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let headers = [
        ("Host".to_owned(), "example.amazonaws.com".to_owned()),
        ("X-Amz-Date".to_owned(), amz_date(time)),
    ];
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(
        authorization(
            &key,
            "us-east-1",
            "service",
            "GET",
            "/",
            "",
            &headers,
            empty
        ),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(aws_encode("a b/c~d+é", true), "a%20b/c~d%2B%C3%A9");
    assert_eq!(aws_encode("a/b", false), "a%2Fb");
}
