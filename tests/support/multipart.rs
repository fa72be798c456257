//! `multipart/byteranges` bodies (RFC 9110 §14.6) split into their parts. Broken framing fails
//! the test rather than being skipped over, since the framing is part of what is tested.

use super::{header_in, Headers};

/// Splits a `multipart/byteranges` body into `(Content-Range, bytes)` parts; the boundary is
/// taken from `content_type`.
pub fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a multipart content type names its boundary")
        .trim_matches('"');
    parse_multipart(body, boundary)
        .into_iter()
        .map(|(headers, bytes)| {
            let range = header_in(&headers, "content-range")
                .expect("each part has a Content-Range")
                .to_owned();
            (range, bytes)
        })
        .collect()
}

/// Splits a `multipart/byteranges` body into `(headers, body)` parts, using `boundary`.
pub fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(Headers, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let delim = delimiter.as_bytes();
    let mut parts = Vec::new();
    let find = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut pos = find(body, delim, 0).expect("multipart body without its first delimiter");
    loop {
        let after = pos + delim.len();
        if body[after..].starts_with(b"--") {
            break; // close delimiter
        }
        let headers_start = after
            + if body[after..].starts_with(b"\r\n") {
                2
            } else {
                panic!("delimiter not followed by CRLF at byte {after}")
            };
        let headers_end = find(body, b"\r\n\r\n", headers_start).expect("part without headers end");
        let headers = String::from_utf8_lossy(&body[headers_start..headers_end])
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line without a colon");
                (k.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect::<Vec<_>>();
        let content_start = headers_end + 4;
        let mut close = Vec::with_capacity(delim.len() + 2);
        close.extend_from_slice(b"\r\n");
        close.extend_from_slice(delim);
        let next = find(body, &close, content_start).expect("part without a following delimiter");
        parts.push((headers, body[content_start..next].to_vec()));
        pos = next + 2;
    }
    parts
}

/// Asserts that two answers to the same request say the same: status, `Content-Range`,
/// `Content-Length`, `Accept-Ranges`, and the body (a multipart body part for part, its
/// boundary aside; any other with the same `Content-Type`). `what` names the request.
pub fn assert_same_answer(
    a: (&http::response::Parts, &[u8]),
    b: (&http::response::Parts, &[u8]),
    what: &str,
) {
    let ((a, a_body), (b, b_body)) = (a, b);
    let header = |parts: &http::response::Parts, name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(a.status, b.status, "{what}");
    for name in ["content-range", "content-length", "accept-ranges"] {
        assert_eq!(header(a, name), header(b, name), "{what}: {name}");
    }
    match header(a, "content-type").filter(|t| t.starts_with("multipart/")) {
        Some(a_type) => {
            let b_type = header(b, "content-type").expect("a multipart answer on both sides");
            assert_eq!(
                multipart_parts(&a_type, a_body),
                multipart_parts(&b_type, b_body),
                "{what}"
            );
        }
        None => {
            assert_eq!(
                header(a, "content-type"),
                header(b, "content-type"),
                "{what}"
            );
            assert!(a_body == b_body, "{what}: the bodies differ");
        }
    }
}
