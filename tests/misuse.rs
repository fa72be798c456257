//! Builder misuse is refused when the service is built, and `max_ranges(0)` says what it
//! does, over real TCP: a header the service owns set through `.header()`, a frame size out
//! of bounds, ranges turned off.

mod support;

use std::panic::catch_unwind;

use http::header::{self, HeaderName};
use http::{HeaderValue, StatusCode};
use support::{content, fetch, header, serve, temp_dir, Protocol};
use tower_range::RangeFileService;

#[test]
fn headers_the_service_owns_cannot_be_added() {
    let owned: [HeaderName; 7] = [
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::CONTENT_TYPE,
        header::ETAG,
        header::LAST_MODIFIED,
        header::ACCEPT_RANGES,
        header::TRANSFER_ENCODING,
    ];
    for name in owned {
        let built = catch_unwind(|| {
            RangeFileService::new("clip.mp4").header(name.clone(), HeaderValue::from_static("1"))
        });
        assert!(built.is_err(), "{name} was accepted");
    }
}

#[tokio::test]
async fn other_headers_stay_repeatable() {
    let path = temp_dir("misuse-link").join("clip.mp4");
    std::fs::write(&path, content(1000)).unwrap();
    let service = RangeFileService::new(&path)
        .header(header::LINK, HeaderValue::from_static("</a>; rel=preload"))
        .header(header::LINK, HeaderValue::from_static("</b>; rel=preload"));
    let addr = serve(service).await;
    let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.headers.get_all(header::LINK).iter().count(), 2);
    assert_eq!(
        parts.headers.get_all(header::CONTENT_TYPE).iter().count(),
        1
    );
}

#[test]
fn frame_sizes_out_of_bounds_are_refused() {
    for bytes in [0, 1, 4095, 16 * 1024 * 1024 + 1] {
        let built = catch_unwind(|| RangeFileService::new("clip.mp4").frame_size(bytes));
        assert!(built.is_err(), "frame size {bytes} was accepted");
    }
}

#[tokio::test]
async fn max_ranges_zero_turns_ranges_off_and_says_so() {
    let path = temp_dir("misuse-ranges-off").join("clip.mp4");
    let bytes = content(10_000);
    std::fs::write(&path, &bytes).unwrap();
    let addr = serve(RangeFileService::new(&path).max_ranges(0)).await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let (parts, body) = fetch(addr, protocol, "GET", &[("range", "bytes=0-9")]).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(header(&parts, "accept-ranges"), Some("none"));
        assert_eq!(body, bytes);
    }
}
