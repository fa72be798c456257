//! RangeFileService over real TCP, HTTP/1.1 and HTTP/2: every behaviour of RFC 9110 §13–§15
//! the service promises, bytes compared with the file.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;

use http::StatusCode;
use support::{content, fetch, header, multipart_parts, serve, temp_file, Protocol};
use tower_range::RangeFileService;

const LEN: usize = 100_000;

struct Fixture {
    addr: SocketAddr,
    bytes: Vec<u8>,
    path: PathBuf,
}

async fn fixture(name: &str) -> Fixture {
    let bytes = content(LEN);
    let path = temp_file(name, "clip.mp4", &bytes);
    // Small frames, so that every response spans many of them.
    let service = RangeFileService::new(&path)
        .frame_size(4096)
        .read_ahead(2)
        .header(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, max-age=60"),
        );
    Fixture {
        addr: serve(service).await,
        bytes,
        path,
    }
}

/// Runs a test body once over HTTP/1.1 and once over HTTP/2.
macro_rules! both_protocols {
    ($($name:ident($fixture:ident, $protocol:ident) $body:block)*) => {$(
        mod $name {
            use super::*;
            async fn run($fixture: Fixture, $protocol: Protocol) $body
            #[tokio::test]
            async fn http1() {
                run(fixture(concat!(stringify!($name), "-h1")).await, Protocol::Http1).await
            }
            #[tokio::test]
            async fn http2() {
                run(fixture(concat!(stringify!($name), "-h2")).await, Protocol::Http2).await
            }
        }
    )*};
}

both_protocols! {
    get_without_range_is_200_with_the_whole_file(f, protocol) {
        let (parts, body) = fetch(f.addr, protocol, "GET", &[]).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(body, f.bytes);
        assert_eq!(header(&parts, "content-length"), Some("100000"));
        assert_eq!(header(&parts, "accept-ranges"), Some("bytes"));
        assert_eq!(header(&parts, "content-type"), Some("video/mp4"));
        assert_eq!(header(&parts, "cache-control"), Some("public, max-age=60"));
        let etag = header(&parts, "etag").unwrap();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 18, "{etag}");
        let modified = header(&parts, "last-modified").unwrap();
        assert!(httpdate::parse_http_date(modified).is_ok(), "{modified}");
    }

    single_ranges_are_206_with_exact_bytes(f, protocol) {
        let cases: &[(&str, usize, usize)] = &[
            ("bytes=0-1", 0, 1),
            ("bytes=0-", 0, LEN - 1),
            ("bytes=1000-4999", 1000, 4999),
            ("bytes=99990-", 99_990, LEN - 1),
            ("bytes=-10", LEN - 10, LEN - 1),
            ("bytes=-1000000", 0, LEN - 1),
            ("bytes=50000-999999999", 50_000, LEN - 1),
        ];
        for &(range, first, last) in cases {
            let (parts, body) = fetch(f.addr, protocol, "GET", &[("range", range)]).await;
            assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT, "{range}");
            assert_eq!(
                header(&parts, "content-range"),
                Some(format!("bytes {first}-{last}/{LEN}").as_str()),
                "{range}"
            );
            assert_eq!(header(&parts, "content-length"), Some((last - first + 1).to_string().as_str()));
            assert_eq!(body, f.bytes[first..=last], "{range}");
            assert_eq!(header(&parts, "cache-control"), Some("public, max-age=60"));
        }
    }

    whitespace_and_case_in_range_are_accepted(f, protocol) {
        let (parts, body) = fetch(f.addr, protocol, "GET", &[("range", "Bytes=10-19, 15-29")]).await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(header(&parts, "content-range"), Some("bytes 10-29/100000"));
        assert_eq!(body, f.bytes[10..30]);
    }

    unsatisfiable_ranges_are_416(f, protocol) {
        for range in ["bytes=100000-", "bytes=200000-300000", "bytes=-0"] {
            let (parts, _) = fetch(f.addr, protocol, "GET", &[("range", range)]).await;
            assert_eq!(parts.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(header(&parts, "content-range"), Some("bytes */100000"));
        }
    }

    unknown_units_and_invalid_ranges_are_ignored(f, protocol) {
        for range in ["items=0-5", "bytes=5-1", "bytes=abc", "bytes=0-1;2"] {
            let (parts, body) = fetch(f.addr, protocol, "GET", &[("range", range)]).await;
            assert_eq!(parts.status, StatusCode::OK, "{range}");
            assert_eq!(body, f.bytes, "{range}");
        }
    }

    several_ranges_are_multipart_byteranges(f, protocol) {
        let (parts, body) = fetch(
            f.addr, protocol, "GET",
            &[("range", "bytes=10000-10009, 0-4, 50000-")],
        )
        .await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
        let content_type = header(&parts, "content-type").unwrap();
        assert!(content_type.starts_with("multipart/byteranges; boundary="), "{content_type}");
        assert_eq!(header(&parts, "content-length"), Some(body.len().to_string().as_str()));
        let got = multipart_parts(content_type, &body);
        let expected = [
            ("bytes 10000-10009/100000", &f.bytes[10_000..10_010]),
            ("bytes 0-4/100000", &f.bytes[0..5]),
            ("bytes 50000-99999/100000", &f.bytes[50_000..]),
        ];
        assert_eq!(got.len(), expected.len());
        for ((range, bytes), (want_range, want_bytes)) in got.iter().zip(expected) {
            assert_eq!(range, want_range);
            assert_eq!(bytes, want_bytes);
        }
        assert!(body.windows(17).any(|w| w == b"Content-Type: vid"));
    }

    overlapping_ranges_coalesce_and_never_amplify(f, protocol) {
        let repeated = format!("bytes={}", vec!["0-"; 60].join(","));
        let (parts, body) = fetch(f.addr, protocol, "GET", &[("range", &repeated)]).await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(header(&parts, "content-range"), Some("bytes 0-99999/100000"));
        assert_eq!(body, f.bytes);
        // Past the cap of 64 ranges, the header is ignored: one copy, 200.
        let many = format!("bytes={}", vec!["0-"; 500].join(","));
        let (parts, body) = fetch(f.addr, protocol, "GET", &[("range", &many)]).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(body.len(), LEN);
    }

    head_has_the_headers_of_get_and_no_body(f, protocol) {
        let (parts, body) = fetch(f.addr, protocol, "HEAD", &[("range", "bytes=0-1")]).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(header(&parts, "content-length"), Some("100000"));
        assert_eq!(header(&parts, "content-type"), Some("video/mp4"));
        assert!(header(&parts, "etag").is_some());
        assert!(body.is_empty());
    }

    other_methods_are_405(f, protocol) {
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let (parts, _) = fetch(f.addr, protocol, method, &[]).await;
            assert_eq!(parts.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert_eq!(header(&parts, "allow"), Some("GET, HEAD"));
        }
    }

    if_none_match_and_if_modified_since_give_304(f, protocol) {
        let (first, _) = fetch(f.addr, protocol, "HEAD", &[]).await;
        let etag = header(&first, "etag").unwrap().to_owned();
        let modified = header(&first, "last-modified").unwrap().to_owned();
        for headers in [
            vec![("if-none-match", etag.as_str())],
            vec![("if-none-match", "\"x\", W/\"y\", *")],
            vec![("if-modified-since", modified.as_str())],
            vec![("if-none-match", etag.as_str()), ("range", "bytes=0-1")],
        ] {
            let (parts, body) = fetch(f.addr, protocol, "GET", &headers).await;
            assert_eq!(parts.status, StatusCode::NOT_MODIFIED, "{headers:?}");
            assert_eq!(header(&parts, "etag"), Some(etag.as_str()));
            assert_eq!(header(&parts, "last-modified"), Some(modified.as_str()));
            assert_eq!(header(&parts, "cache-control"), Some("public, max-age=60"));
            assert!(body.is_empty());
        }
        let (parts, _) = fetch(f.addr, protocol, "GET", &[("if-none-match", "\"other\"")]).await;
        assert_eq!(parts.status, StatusCode::OK);
    }

    failed_preconditions_are_412(f, protocol) {
        let (parts, _) = fetch(f.addr, protocol, "GET", &[("if-match", "\"other\"")]).await;
        assert_eq!(parts.status, StatusCode::PRECONDITION_FAILED);
        let (parts, _) = fetch(
            f.addr, protocol, "GET",
            &[("if-unmodified-since", "Sat, 01 Jan 2000 00:00:00 GMT")],
        )
        .await;
        assert_eq!(parts.status, StatusCode::PRECONDITION_FAILED);
        let (first, _) = fetch(f.addr, protocol, "HEAD", &[]).await;
        let etag = header(&first, "etag").unwrap();
        let (parts, body) = fetch(f.addr, protocol, "GET", &[("if-match", etag), ("range", "bytes=0-9")]).await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(body, f.bytes[..10]);
    }

    if_range_keeps_or_drops_the_range(f, protocol) {
        let (first, _) = fetch(f.addr, protocol, "HEAD", &[]).await;
        let etag = header(&first, "etag").unwrap().to_owned();
        let (parts, body) = fetch(f.addr, protocol, "GET", &[("range", "bytes=10-19"), ("if-range", &etag)]).await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(body, f.bytes[10..20]);
        let weak = format!("W/{etag}");
        for validator in ["\"stale\"", weak.as_str(), "Sat, 01 Jan 2000 00:00:00 GMT"] {
            let (parts, body) = fetch(f.addr, protocol, "GET", &[("range", "bytes=10-19"), ("if-range", validator)]).await;
            assert_eq!(parts.status, StatusCode::OK, "{validator}");
            assert_eq!(body, f.bytes);
        }
    }

    a_missing_file_is_404(f, protocol) {
        std::fs::remove_file(&f.path).unwrap();
        let (parts, body) = fetch(f.addr, protocol, "GET", &[]).await;
        assert_eq!(parts.status, StatusCode::NOT_FOUND);
        assert_eq!(body, "not found\n");
    }
}

#[tokio::test]
async fn an_empty_file_is_200_and_any_range_on_it_416() {
    let path = temp_file("empty-file", "empty.bin", b"");
    let addr = serve(RangeFileService::new(&path)).await;
    let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(header(&parts, "content-length"), Some("0"));
    assert!(body.is_empty());
    for range in ["bytes=0-", "bytes=-1", "bytes=0-0"] {
        let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[("range", range)]).await;
        assert_eq!(parts.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(header(&parts, "content-range"), Some("bytes */0"));
    }
}

#[tokio::test]
async fn a_replaced_file_gets_a_new_etag_and_new_bytes() {
    let f = fixture("replaced").await;
    let (before, _) = fetch(f.addr, Protocol::Http1, "GET", &[]).await;
    let next = f.path.with_extension("next");
    std::fs::write(&next, b"brand new content").unwrap();
    std::fs::rename(&next, &f.path).unwrap();
    let (after, body) = fetch(f.addr, Protocol::Http1, "GET", &[]).await;
    assert_ne!(header(&before, "etag"), header(&after, "etag"));
    assert_eq!(body, "brand new content");
    // A resume with the old validator must not splice the two versions.
    let (parts, body) = fetch(
        f.addr,
        Protocol::Http1,
        "GET",
        &[
            ("range", "bytes=5-"),
            ("if-range", header(&before, "etag").unwrap()),
        ],
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(body, "brand new content");
}
