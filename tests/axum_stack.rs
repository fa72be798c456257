//! The axum example's stack over real TCP: compression that never touches media, and signed
//! URLs in front of the files; the router is the example's own
//! (`examples/support/axum_app.rs`), and the last test runs the example binary. Its timeouts
//! and concurrency limit are in `axum_limits.rs`.

mod support;

#[path = "../examples/support/axum_app.rs"]
#[allow(dead_code)]
mod axum_app;
#[path = "../examples/support/signed_url.rs"]
#[allow(dead_code)]
mod signed_url;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use tower::ServiceBuilder;
use tower_http::compression::predicate::Predicate;
use tower_range::source::MemoryReader;
use tower_range::{MemorySource, Opened, RangeFileService, Resources, Source};

use axum_app::{AppConfig, Limits};
use signed_url::{SignedUrlLayer, UrlSigner};
use support::{
    get, http1_client, http2_client, sample, sample_path, send, serve_router, temp_file,
    url_request, Reply, Server, LIMIT,
};

const SECRET: &str = "a test secret that is long enough to be a real one";
const AE_BOTH: (&str, &str) = ("accept-encoding", "gzip, br");

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn config(second: PathBuf) -> AppConfig {
    AppConfig {
        video: sample_path(),
        second,
        signer: UrlSigner::new(SECRET),
        url_ttl: signed_url::DEFAULT_TTL,
        limits: Limits::default(),
    }
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a gzip body");
    text
}

/// The `src` attributes of the page's `<source>` elements, unescaped.
fn video_urls(page: &str) -> Vec<String> {
    page.split("<source src=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

/// Checks that a media response went through the stack untouched.
fn assert_not_encoded(reply: &Reply) {
    assert_eq!(
        reply.header("content-encoding"),
        None,
        "media must not be compressed"
    );
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str()),
        "Content-Length survives and is exact"
    );
}

#[tokio::test]
async fn the_page_is_compressed_and_embeds_signed_urls_that_stream() {
    let tone = temp_file("page-tone", "tone.mp3", &b"tone".repeat(10_000));
    let addr = serve_router(axum_app::app(&config(tone.clone()))).await;

    let page = get(&http1_client(), addr, "/", &[("accept-encoding", "gzip")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    assert_eq!(page.header("vary"), Some("accept-encoding"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let html = gunzip(&page.body);
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(page.body.len() < html.len(), "gzip made it smaller");

    let brotli = get(&http1_client(), addr, "/", &[("accept-encoding", "br")]).await;
    assert_eq!(brotli.header("content-encoding"), Some("br"));
    let plain = get(&http1_client(), addr, "/", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert!(String::from_utf8(plain.body.to_vec())
        .unwrap()
        .contains("<video"));

    // Both videos are embedded with signed URLs valid for about six hours.
    let urls = video_urls(&html);
    assert_eq!(urls.len(), 2, "{html}");
    assert!(urls[0].starts_with("/video?exp="), "{}", urls[0]);
    assert!(urls[1].starts_with("/video2?exp="), "{}", urls[1]);
    let exp: u64 = urls[0]["/video?exp=".len()..]
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ttl = exp - unix_now();
    assert!((6 * 3600 - 60..=6 * 3600).contains(&ttl), "ttl {ttl}");
    assert!(html.contains("type=\"video/mp4\""));
    assert!(html.contains("type=\"audio/mpeg\""));

    // Each streams its own file, byte for byte.
    let video = get(&http1_client(), addr, &urls[0], &[AE_BOTH]).await;
    assert_eq!(video.status, StatusCode::OK);
    assert_eq!(video.body, sample());
    let second = get(&http1_client(), addr, &urls[1], &[AE_BOTH]).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body, std::fs::read(&tone).unwrap());

    let missing = get(&http1_client(), addr, "/nope", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn media_is_never_compressed_and_keeps_its_headers() {
    let sample = sample();
    let len = sample.len();
    // Very compressible audio: only the predicate keeps gzip away from it.
    let tone_bytes = b"la".repeat(100_000);
    let tone = temp_file("media-tone", "tone.mp3", &tone_bytes);
    let config = config(tone);
    let video_url = config.signer.sign("/video", config.url_ttl);
    let tone_url = config.signer.sign("/video2", config.url_ttl);
    let addr = serve_router(axum_app::app(&config)).await;

    let full = get(&http1_client(), addr, &video_url, &[AE_BOTH]).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_not_encoded(&full);
    assert_eq!(full.header("content-type"), Some("video/mp4"));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let etag = full.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");
    assert_eq!(full.body, sample);

    let part = get(
        &http1_client(),
        addr,
        &video_url,
        &[AE_BOTH, ("range", "bytes=1000-1999")],
    )
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_not_encoded(&part);
    assert_eq!(part.header("content-length"), Some("1000"));
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1000-1999/{len}").as_str())
    );
    assert_eq!(part.header("etag"), Some(etag.as_str()));
    assert_eq!(part.body, sample[1000..2000]);

    let suffix = get(
        &http1_client(),
        addr,
        &video_url,
        &[AE_BOTH, ("range", "bytes=-500")],
    )
    .await;
    assert_eq!(suffix.status, StatusCode::PARTIAL_CONTENT);
    assert_not_encoded(&suffix);
    assert_eq!(suffix.body, sample[len - 500..]);

    // Several ranges: multipart/byteranges has no Content-Range, and is not compressed either.
    let multi = get(
        &http1_client(),
        addr,
        &video_url,
        &[AE_BOTH, ("range", "bytes=0-99,5000-5099")],
    )
    .await;
    assert_eq!(multi.status, StatusCode::PARTIAL_CONTENT);
    assert_not_encoded(&multi);
    assert!(multi
        .header("content-type")
        .unwrap()
        .starts_with("multipart/byteranges; boundary="));
    let body = &multi.body[..];
    for (start, end) in [(0, 100), (5000, 5100)] {
        let needle = &sample[start..end];
        assert!(body.windows(needle.len()).any(|w| w == needle));
        let range_line = format!("bytes {start}-{}/{len}", end - 1);
        assert!(body
            .windows(range_line.len())
            .any(|w| w == range_line.as_bytes()));
    }

    // The same over HTTP/2 (h2c): axum::serve speaks both on one port.
    let part2 = send(
        &http2_client(),
        url_request(
            Method::GET,
            addr,
            &video_url,
            &[AE_BOTH, ("range", "bytes=1000-1999")],
        ),
    )
    .await;
    assert_eq!(part2.status, StatusCode::PARTIAL_CONTENT);
    assert_not_encoded(&part2);
    assert_eq!(part2.body, sample[1000..2000]);

    // Audio from the second route, whole and in part: never encoded.
    let audio = get(&http1_client(), addr, &tone_url, &[AE_BOTH]).await;
    assert_eq!(audio.status, StatusCode::OK);
    assert_eq!(audio.header("content-type"), Some("audio/mpeg"));
    assert_not_encoded(&audio);
    assert_eq!(audio.body, tone_bytes);
    let audio_part = get(
        &http1_client(),
        addr,
        &tone_url,
        &[AE_BOTH, ("range", "bytes=10-19")],
    )
    .await;
    assert_eq!(audio_part.status, StatusCode::PARTIAL_CONTENT);
    assert_not_encoded(&audio_part);
    assert_eq!(audio_part.body, tone_bytes[10..20]);
}

#[test]
fn the_predicate_refuses_media_and_partial_responses_only() {
    let predicate = axum_app::media_aware_predicate();
    let response = |status: u16, content_type: &str, extra: Option<(&str, &str)>| {
        let mut builder = Response::builder()
            .status(status)
            .header("content-type", content_type);
        if let Some((name, value)) = extra {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(Bytes::from(vec![b'a'; 1000])))
            .unwrap()
    };
    let yes = [
        response(200, "text/html; charset=utf-8", None),
        response(200, "application/javascript", None),
    ];
    for r in &yes {
        assert!(predicate.should_compress(r), "{:?}", r.headers());
    }
    let no = [
        response(200, "video/mp4", None),
        response(200, "video/webm", None),
        response(200, "audio/mpeg", None),
        response(200, "image/png", None),
        response(
            206,
            "text/plain",
            Some(("content-range", "bytes 0-9/100000")),
        ),
        response(206, "multipart/byteranges; boundary=x", None),
        response(416, "text/plain", Some(("content-range", "bytes */100000"))),
        response(304, "text/html", Some(("etag", "\"x\""))),
        response(204, "text/html", None),
    ];
    for r in &no {
        assert!(
            !predicate.should_compress(r),
            "{} {:?}",
            r.status(),
            r.headers()
        );
    }
}

/// A source that counts its opens.
#[derive(Debug)]
struct Counted {
    inner: MemorySource,
    opens: Arc<AtomicUsize>,
}

impl Source for Counted {
    type Reader = MemoryReader;

    async fn open(
        &self,
        resources: &Resources,
    ) -> Result<Opened<MemoryReader>, tower_range::OpenError> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        self.inner.open(resources).await
    }
}

#[tokio::test]
async fn unsigned_forged_and_expired_urls_get_403_and_not_one_byte() {
    let sample = sample();
    let config = config(sample_path());
    let signer = config.signer.clone();
    // The app's own /video, and a counted route that shows the source is never opened.
    let secret_bytes = Bytes::from(b"secret file contents ".repeat(100));
    let opens = Arc::new(AtomicUsize::new(0));
    let counted = RangeFileService::from_source(Counted {
        inner: MemorySource::new(secret_bytes.clone()),
        opens: opens.clone(),
    });
    let counted = ServiceBuilder::new()
        .layer(SignedUrlLayer::new(signer.clone()))
        .service(axum_app::file_service(counted, &config.limits));
    let router = axum_app::app(&config).route_service("/counted", counted);
    let addr = serve_router(router).await;

    let now = unix_now();
    let good = signer.sign("/video", config.url_ttl);
    let (path, query) = good.split_once('?').unwrap();
    let sig = query.split("sig=").nth(1).unwrap();
    let exp: u64 = query["exp=".len()..]
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut flipped = sig.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let refused: Vec<(String, &str)> = vec![
        ("/video".into(), "not signed"),
        (format!("/video?exp={exp}"), "not signed"),
        (format!("/video?sig={sig}"), "not signed"),
        (format!("{path}?exp={exp}&sig={flipped}"), "bad signature"),
        (
            format!("{path}?exp={}&sig={sig}", exp + 3600),
            "bad signature",
        ),
        (format!("{path}?exp={exp}&sig=zz"), "malformed"),
        (format!("{path}?exp=0{exp}&sig={sig}"), "malformed"),
        // Signed for another path.
        (format!("/video2?{query}"), "bad signature"),
        // Signed with another secret.
        (
            UrlSigner::new("another secret").sign("/video", config.url_ttl),
            "bad signature",
        ),
        (signer.sign_until("/video", now - 1), "expired"),
        (signer.sign_until("/counted", now - 1), "expired"),
        ("/counted".into(), "not signed"),
        (format!("/counted?{query}"), "bad signature"),
    ];
    for (url, reason) in &refused {
        for headers in [&[][..], &[("range", "bytes=0-99")][..]] {
            let reply = get(&http1_client(), addr, url, headers).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{url}");
            let text = std::str::from_utf8(&reply.body).unwrap();
            assert!(
                text.starts_with("forbidden: ") && text.contains(reason),
                "{url}: {text}"
            );
            assert!(reply.body.len() < 100);
            assert_eq!(
                reply.header("content-type"),
                Some("text/plain; charset=utf-8")
            );
            for name in ["content-range", "etag", "last-modified", "accept-ranges"] {
                assert_eq!(reply.header(name), None, "{url}: {name}");
            }
            let head = &sample[..16];
            assert!(!reply.body.windows(head.len()).any(|w| w == head));
        }
    }
    assert_eq!(
        opens.load(Ordering::SeqCst),
        0,
        "a refused request never opens the source"
    );

    // A valid URL streams, and its signature survives no change of path.
    let counted_url = signer.sign("/counted", config.url_ttl);
    let ok = get(&http1_client(), addr, &counted_url, &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, secret_bytes);
    assert_eq!(opens.load(Ordering::SeqCst), 1);
    let ok = get(&http1_client(), addr, &good, &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, sample);
}

#[tokio::test]
async fn ranges_and_conditionals_work_through_the_signed_layer() {
    let sample = sample();
    let len = sample.len();
    let config = config(sample_path());
    let url = config.signer.sign("/video", config.url_ttl);
    let addr = serve_router(axum_app::app(&config)).await;

    let full = get(&http1_client(), addr, &url, &[]).await;
    let etag = full.header("etag").unwrap().to_owned();
    let modified = full.header("last-modified").unwrap().to_owned();

    let not_modified = get(
        &http1_client(),
        addr,
        &url,
        &[AE_BOTH, ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    assert_eq!(not_modified.header("content-encoding"), None);

    let since = get(
        &http1_client(),
        addr,
        &url,
        &[("if-modified-since", &modified)],
    )
    .await;
    assert_eq!(since.status, StatusCode::NOT_MODIFIED);

    let resumed = get(
        &http1_client(),
        addr,
        &url,
        &[AE_BOTH, ("if-range", &etag), ("range", "bytes=100-199")],
    )
    .await;
    assert_eq!(resumed.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(resumed.body, sample[100..200]);

    // A stale validator in If-Range: the whole, current representation.
    let stale = get(
        &http1_client(),
        addr,
        &url,
        &[
            AE_BOTH,
            ("if-range", "\"stale\""),
            ("range", "bytes=100-199"),
        ],
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_not_encoded(&stale);
    assert_eq!(stale.body, sample);

    let failed = get(&http1_client(), addr, &url, &[("if-match", "\"nope\"")]).await;
    assert_eq!(failed.status, StatusCode::PRECONDITION_FAILED);

    let unsatisfiable = get(
        &http1_client(),
        addr,
        &url,
        &[AE_BOTH, ("range", &format!("bytes={len}-"))],
    )
    .await;
    assert_eq!(unsatisfiable.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        unsatisfiable.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    assert_eq!(unsatisfiable.header("content-encoding"), None);

    let head = send(
        &http1_client(),
        url_request(Method::HEAD, addr, &url, &[AE_BOTH]),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert_eq!(head.header("content-encoding"), None);
    assert!(head.body.is_empty());

    // The signature is checked before the method: a POST with a good URL gets the service's 405.
    let post = get_method(addr, Method::POST, &url).await;
    assert_eq!(post, StatusCode::METHOD_NOT_ALLOWED);
    let post = get_method(addr, Method::POST, "/video").await;
    assert_eq!(post, StatusCode::FORBIDDEN);
}

async fn get_method(addr: SocketAddr, method: Method, path: &str) -> StatusCode {
    send(&http1_client(), url_request(method, addr, path, &[]))
        .await
        .status
}

#[tokio::test]
async fn the_example_prints_its_url_and_a_signed_one_and_stops_on_sigterm() {
    let example = Server::start_example("axum", &[], &[("SIGNING_SECRET", SECRET)]);
    example.assert_serving(&sample_path());
    let addr = example.addr;
    let second = &example.stdout_lines(2, LIMIT)[1];
    let prefix = format!("signed video URL (valid 21600 s): http://{addr}");
    let signed = second.strip_prefix(&prefix).expect(second);
    assert!(UrlSigner::new(SECRET)
        .verify(&signed.parse().unwrap())
        .is_ok());

    let page = get(&http1_client(), addr, "/", &[("accept-encoding", "gzip")]).await;
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    assert_eq!(video_urls(&gunzip(&page.body)).len(), 2);
    let range = get(
        &http1_client(),
        addr,
        signed,
        &[AE_BOTH, ("range", "bytes=0-99")],
    )
    .await;
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert_not_encoded(&range);
    assert_eq!(range.body, sample()[..100]);
    assert_eq!(
        get(&http1_client(), addr, "/video", &[]).await.status,
        StatusCode::FORBIDDEN
    );

    let status = example
        .stop_with_async(libc::SIGTERM, LIMIT)
        .await
        .expect("the example did not stop on SIGTERM");
    assert!(status.success(), "{status}");
}
