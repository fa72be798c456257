//! `tower_range::compressible` behind tower-http's `CompressionLayer` in axum, over real TCP:
//! the page is compressed; the video (whole), a multipart `206` and a `304` are not. The same
//! requests through a plain `CompressionLayer::new()` show what the predicate prevents.

mod support;

use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use support::{bounded, content, request, serve, temp_dir, Client, Protocol};
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_range::{MemorySource, RangeFileService};

const PAGE: &str = "<!doctype html><title>page</title><p>a page long enough to compress, \
                    a page long enough to compress, a page long enough to compress</p>";

async fn app(with_predicate: bool) -> (SocketAddr, Vec<u8>) {
    let video = temp_dir(&format!("compression-{with_predicate}")).join("clip.mp4");
    let bytes = content(100_000);
    std::fs::write(&video, &bytes).unwrap();
    let page = MemorySource::new(PAGE)
        .with_content_type(http::HeaderValue::from_static("text/html; charset=utf-8"));
    let router = Router::new()
        .route_service("/", RangeFileService::from_source(page))
        .route_service("/video", RangeFileService::new(&video));
    let addr = if with_predicate {
        let layer = CompressionLayer::new()
            .compress_when(DefaultPredicate::new().and(tower_range::compressible));
        serve(router.layer(layer)).await
    } else {
        serve(router.layer(CompressionLayer::new())).await
    };
    (addr, bytes)
}

struct Answer {
    parts: http::response::Parts,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut all = vec![("accept-encoding", "gzip")];
    all.extend_from_slice(headers);
    let mut client = Client::connect(addr, Protocol::Http1).await;
    let (parts, body) = client.send(request("GET", path, &all)).await.into_parts();
    let body = bounded(body.collect()).await.unwrap().to_bytes();
    Answer { parts, body }
}

#[tokio::test]
async fn the_page_is_compressed_and_media_partial_and_304_answers_are_not() {
    let (addr, bytes) = app(true).await;

    let page = get(addr, "/", &[]).await;
    assert_eq!(page.header("content-encoding"), Some("gzip"));

    let video = get(addr, "/video", &[]).await;
    assert_eq!(video.parts.status, StatusCode::OK);
    assert_eq!(video.header("content-encoding"), None);
    assert_eq!(video.header("content-length"), Some("100000"));
    assert_eq!(video.header("accept-ranges"), Some("bytes"));
    assert_eq!(video.body, bytes);

    let multipart = get(addr, "/video", &[("range", "bytes=0-99,5000-5099")]).await;
    assert_eq!(multipart.parts.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(multipart.header("content-encoding"), None);
    let parts =
        support::multipart_parts(multipart.header("content-type").unwrap(), &multipart.body);
    assert_eq!(parts[1].1, bytes[5000..5100]);

    let etag = video.header("etag").unwrap().to_owned();
    let not_modified = get(addr, "/video", &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.parts.status, StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.header("content-encoding"), None);
}

#[tokio::test]
async fn without_the_predicate_the_video_and_a_multipart_answer_are_compressed() {
    let (addr, _) = app(false).await;
    let video = get(addr, "/video", &[]).await;
    assert_eq!(video.header("content-encoding"), Some("gzip"));
    assert_eq!(video.header("content-length"), None);
    assert_eq!(video.header("accept-ranges"), None);
    let multipart = get(addr, "/video", &[("range", "bytes=0-99,5000-5099")]).await;
    assert_eq!(multipart.header("content-encoding"), Some("gzip"));
}
