//! The example server's object-store mode as users run it: the binary built with `--features
//! aws`, pointed at moto's S3 server by the standard AWS environment variables, answering over
//! real TCP (HTTP/1.1 and HTTP/2) byte for byte what it answers for a file; a prefix served
//! under `/media/` with its library page; a wrong bucket or key refused with one line before
//! binding; and a build without the feature naming the flag it needs.
//!
//! Needs moto's server (`tests/support/moto.rs` says where it looks and how to install it;
//! `.ci/run` does). Outside CI, without it, the tests that need it say so and pass.

#![cfg(unix)]

mod support;

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::{Method, StatusCode, Version};
use support::{
    assert_same_bytes, content, example_binary_with_features, get, http1_client, http2_client,
    multipart_parts, run, send, url_request, HttpClient, Moto, Reply, Server,
};
use tower_range::store::object_store::aws::AmazonS3Builder;
use tower_range::store::object_store::path::Path as Key;
use tower_range::store::object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// A few hundred KiB: several frames and a multipart answer's worth, small enough for moto,
/// which holds its objects in memory.
const SIZE: usize = 300 * 1024;

/// `bucket` on `moto` through `object_store` itself, as the server sees it.
fn store(moto: &Moto, bucket: &str) -> Arc<dyn ObjectStore> {
    let store = AmazonS3Builder::new()
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_region("us-east-1")
        .build()
        .unwrap();
    Arc::new(store)
}

/// The environment that points the example server at `moto`.
fn env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        // The store client must reach moto directly, whatever proxy the machine has.
        ("NO_PROXY", "127.0.0.1,localhost".into()),
        ("no_proxy", "127.0.0.1,localhost".into()),
        ("RUST_LOG", "info".into()),
    ]
}

/// The example server built with `--features aws`, serving `url` from `moto` with `args`.
fn serve(moto: &Moto, url: &str, args: &[&str]) -> Server {
    let env = env(moto);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_example_with_features("server", &["aws"], &[&[url], args].concat(), &env)
}

/// Puts `objects` into `store`.
async fn put(store: &dyn ObjectStore, objects: &[(&str, &[u8])]) {
    for (key, bytes) in objects {
        store
            .put(&Key::from(*key), PutPayload::from(bytes.to_vec()))
            .await
            .unwrap_or_else(|e| panic!("putting {key}: {e}"));
    }
}

/// One protocol's client of the server under test.
struct Peer {
    client: HttpClient,
    addr: SocketAddr,
    version: Version,
}

impl Peer {
    /// A client of `addr` for each protocol: HTTP/1.1, and HTTP/2 with prior knowledge.
    fn both(addr: SocketAddr) -> [Peer; 2] {
        let peer = |client, version| Peer {
            client,
            addr,
            version,
        };
        [
            peer(http1_client(), Version::HTTP_11),
            peer(http2_client(), Version::HTTP_2),
        ]
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let reply = get(&self.client, self.addr, path, headers).await;
        assert_eq!(reply.version, self.version, "{path} {headers:?}: {reply:?}");
        reply
    }

    async fn head(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let reply = send(
            &self.client,
            url_request(Method::HEAD, self.addr, path, headers),
        )
        .await;
        assert!(reply.body.is_empty(), "HEAD {path}: {reply:?}");
        reply
    }

    /// GETs `path` and checks the status, the body byte for byte, and its `Content-Length`.
    async fn expect(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        status: StatusCode,
        body: &[u8],
    ) -> Reply {
        let reply = self.get(path, headers).await;
        let what = format!("{path} {headers:?} over {:?}", self.version);
        assert_eq!(reply.status, status, "{what}: {reply:?}");
        assert_same_bytes(&what, &reply.body, body);
        let length = body.len().to_string();
        assert_eq!(
            reply.header("content-length"),
            Some(length.as_str()),
            "{what}: {reply:?}"
        );
        reply
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_is_served_at_video_with_every_answer_a_file_gets() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    moto.create_bucket("videos").await;
    let data = content(SIZE);
    put(
        store(&moto, "videos").as_ref(),
        &[("films/intro.mp4", &data)],
    )
    .await;
    let uploaded = SystemTime::now();
    let url = "s3://videos/films/intro.mp4";
    let server = serve(
        &moto,
        url,
        &[
            "--cors-origin",
            "http://page.example",
            "--send-timeout",
            "30",
        ],
    );
    let serving = format!("serving {url} at http://{}/", server.addr);
    assert_eq!(server.stdout_lines(1, Duration::from_secs(5))[0], serving);
    // If-Range with a date needs a strong Last-Modified: one at least a second old.
    if let Some(wait) = Duration::from_secs(2).checked_sub(uploaded.elapsed().unwrap()) {
        tokio::time::sleep(wait).await;
    }
    let len = SIZE;
    for peer in Peer::both(server.addr) {
        let page = peer.get("/", &[]).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = std::str::from_utf8(&page.body).unwrap();
        assert!(
            html.contains("<source src=\"/video\" type=\"video/mp4\">"),
            "{html}"
        );

        let whole = peer.expect("/video", &[], StatusCode::OK, &data).await;
        assert_eq!(whole.header("content-type"), Some("video/mp4"));
        assert_eq!(whole.header("accept-ranges"), Some("bytes"));
        let etag = whole.header("etag").expect("an ETag").to_owned();
        let etag = etag.as_str();
        assert!(etag.starts_with('"'), "a strong ETag: {etag}");
        let modified = whole.header("last-modified").expect("Last-Modified");
        let modified = modified.to_owned();
        let modified = modified.as_str();

        // Single ranges: plain, suffix, open-ended, past the end; then unsatisfiable.
        for (range, start, end) in [
            ("bytes=100-199", 100, 199),
            ("bytes=-500", len - 500, len - 1),
            ("bytes=300000-", 300_000, len - 1),
            ("bytes=307190-999999", 307_190, len - 1),
            ("bytes=0-0", 0, 0),
        ] {
            let ranged = [("range", range)];
            let reply = peer
                .expect(
                    "/video",
                    &ranged,
                    StatusCode::PARTIAL_CONTENT,
                    &data[start..=end],
                )
                .await;
            let content_range = format!("bytes {start}-{end}/{len}");
            assert_eq!(reply.header("content-range"), Some(content_range.as_str()));
        }
        let past_the_end = format!("bytes={len}-");
        for range in [past_the_end.as_str(), "bytes=-0"] {
            let reply = peer.get("/video", &[("range", range)]).await;
            assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            let content_range = format!("bytes */{len}");
            assert_eq!(reply.header("content-range"), Some(content_range.as_str()));
        }

        let reply = peer
            .get("/video", &[("range", "bytes=0-9,1000-1999,-10")])
            .await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
        let content_type = reply.header("content-type").unwrap();
        assert!(content_type.starts_with("multipart/byteranges; boundary="));
        let parts = multipart_parts(content_type, &reply.body);
        let expected = [(0, 9), (1000, 1999), (len - 10, len - 1)];
        assert_eq!(parts.len(), expected.len());
        for ((range, bytes), (start, end)) in parts.iter().zip(expected) {
            assert_eq!(range, &format!("bytes {start}-{end}/{len}"));
            assert_same_bytes(range, bytes, &data[start..=end]);
        }

        // If-Range: a strong match or the exact date honours the range; anything else
        // (another tag, a weak tag, another date) gets the whole object.
        let weak = format!("W/{etag}");
        let weak = weak.as_str();
        let earlier = httpdate::parse_http_date(modified).unwrap() - Duration::from_secs(1);
        let earlier = httpdate::fmt_http_date(earlier);
        let earlier = earlier.as_str();
        for (validator, partial) in [
            (etag, true),
            (modified, true),
            ("\"other\"", false),
            (weak, false),
            (earlier, false),
        ] {
            let headers = [("range", "bytes=10-19"), ("if-range", validator)];
            match partial {
                true => peer.expect(
                    "/video",
                    &headers,
                    StatusCode::PARTIAL_CONTENT,
                    &data[10..20],
                ),
                false => peer.expect("/video", &headers, StatusCode::OK, &data),
            }
            .await;
        }

        // The preconditions in RFC 9110 §13.2.2's order.
        let cases: [(&[(&str, &str)], StatusCode); 11] = [
            (&[("if-none-match", etag)], StatusCode::NOT_MODIFIED),
            (&[("if-none-match", weak)], StatusCode::NOT_MODIFIED),
            (&[("if-none-match", "*")], StatusCode::NOT_MODIFIED),
            (
                &[("if-match", "\"other\"")],
                StatusCode::PRECONDITION_FAILED,
            ),
            (&[("if-match", weak)], StatusCode::PRECONDITION_FAILED),
            (
                &[("if-unmodified-since", earlier)],
                StatusCode::PRECONDITION_FAILED,
            ),
            (&[("if-modified-since", modified)], StatusCode::NOT_MODIFIED),
            // If-Match first: its failure wins over a matching If-None-Match and a range.
            (
                &[
                    ("if-match", "\"other\""),
                    ("if-none-match", etag),
                    ("range", "bytes=0-1"),
                ],
                StatusCode::PRECONDITION_FAILED,
            ),
            // A matching If-Match makes If-Unmodified-Since irrelevant.
            (
                &[("if-match", etag), ("if-unmodified-since", earlier)],
                StatusCode::OK,
            ),
            // If-None-Match makes If-Modified-Since irrelevant: no match → 200.
            (
                &[
                    ("if-none-match", "\"other\""),
                    ("if-modified-since", modified),
                ],
                StatusCode::OK,
            ),
            // Preconditions before the range: 304 rather than 416.
            (
                &[("if-none-match", etag), ("range", &past_the_end)],
                StatusCode::NOT_MODIFIED,
            ),
        ];
        for (headers, status) in cases {
            let reply = peer.get("/video", headers).await;
            assert_eq!(reply.status, status, "{headers:?}: {reply:?}");
            match status {
                StatusCode::OK => assert_same_bytes("200", &reply.body, &data),
                StatusCode::NOT_MODIFIED => {
                    assert!(reply.body.is_empty());
                    assert_eq!(reply.header("etag"), Some(etag));
                }
                _ => {}
            }
        }

        // HEAD: GET's headers without the body; a range is for GET only, as for a file.
        let length = len.to_string();
        for headers in [&[][..], &[("range", "bytes=5-14")]] {
            let head = peer.head("/video", headers).await;
            assert_eq!(head.status, StatusCode::OK, "{headers:?}");
            assert_eq!(head.header("content-length"), Some(length.as_str()));
            assert_eq!(head.header("etag"), Some(etag));
        }

        // The example's other options apply: CORS…
        let cors = [("origin", "http://page.example"), ("range", "bytes=10-19")];
        let reply = peer
            .expect("/video", &cors, StatusCode::PARTIAL_CONTENT, &data[10..20])
            .await;
        let allowed = reply.header("access-control-allow-origin");
        assert_eq!(allowed, Some("http://page.example"));
        for path in ["/nothing", "/media/films/intro.mp4"] {
            assert_eq!(
                peer.get(path, &[]).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }
    // …and the access log.
    let accesses = server.stop();
    let video: Vec<_> = accesses.iter().filter(|a| a.path == "/video").collect();
    let ranged =
        |a: &&support::Access| a.status == 206 && a.bytes == 100 && a.outcome == "complete";
    assert!(video.iter().any(ranged), "{video:?}");
    assert!(video.iter().any(|a| a.version == "HTTP/2.0"), "{video:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_is_served_under_media_with_a_library_page() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    moto.create_bucket("library").await;
    let movie = content(200 * 1024);
    let clip: Vec<u8> = content(SIZE).into_iter().rev().collect();
    let objects: [(&str, &[u8]); 8] = [
        ("films/movie.mp4", &movie),
        ("films/movie.jpg", b"jpeg"),
        ("films/movie.vtt", b"WEBVTT\n"),
        ("films/shorts/a clip.webm", &clip),
        ("films/.hidden.mp4", b"hidden"),
        ("films/notes.txt", b"notes"),
        ("elsewhere/other.mp4", b"outside the prefix"),
        ("filmsx/near.mp4", b"a longer name, not under the prefix"),
    ];
    put(store(&moto, "library").as_ref(), &objects).await;
    let server = serve(&moto, "s3://library/films/", &[]);

    for peer in Peer::both(server.addr) {
        let page = peer.get("/", &[]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let html = std::str::from_utf8(&page.body).unwrap();
        for expected in [
            "poster=\"/media/movie.jpg\" src=\"/media/movie.mp4\"",
            "<track kind=\"subtitles\" src=\"/media/movie.vtt\" default>",
            "movie.mp4 (200.0 KiB)",
            "<h2>shorts</h2>",
            "src=\"/media/shorts/a%20clip.webm\"",
            "a clip.webm (300.0 KiB)",
        ] {
            assert!(html.contains(expected), "{expected} in {html}");
        }
        for absent in ["hidden", "notes.txt", "other.mp4", "near.mp4"] {
            assert!(!html.contains(absent), "{absent} in {html}");
        }

        let reply = peer
            .expect("/media/movie.mp4", &[], StatusCode::OK, &movie)
            .await;
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        let inline = "inline; filename=\"movie.mp4\"; filename*=UTF-8''movie.mp4";
        assert_eq!(reply.header("content-disposition"), Some(inline));
        // The page's download links: the same bytes as an attachment.
        let reply = peer
            .expect("/media/movie.mp4?download", &[], StatusCode::OK, &movie)
            .await;
        assert_eq!(
            reply.header("content-disposition"),
            Some("attachment; filename=\"movie.mp4\"; filename*=UTF-8''movie.mp4")
        );
        let ranged = [("range", "bytes=1000-2999")];
        peer.expect(
            "/media/movie.mp4",
            &ranged,
            StatusCode::PARTIAL_CONTENT,
            &movie[1000..3000],
        )
        .await;
        let suffix = [("range", "bytes=-4096")];
        let clip_end = &clip[SIZE - 4096..];
        let reply = peer
            .expect(
                "/media/shorts/a%20clip.webm",
                &suffix,
                StatusCode::PARTIAL_CONTENT,
                clip_end,
            )
            .await;
        assert_eq!(reply.header("content-type"), Some("video/webm"));
        peer.expect("/media/movie.vtt", &[], StatusCode::OK, b"WEBVTT\n")
            .await;

        for (path, status) in [
            ("/media/missing.mp4", StatusCode::NOT_FOUND),
            ("/media/.hidden.mp4", StatusCode::NOT_FOUND),
            ("/media/../elsewhere/other.mp4", StatusCode::NOT_FOUND),
            ("/media/%2E%2E/elsewhere/other.mp4", StatusCode::NOT_FOUND),
            ("/media/shorts%2Fa%20clip.webm", StatusCode::NOT_FOUND),
            ("/media/shorts//a%20clip.webm", StatusCode::NOT_FOUND),
            ("/media/bad%zzescape.mp4", StatusCode::BAD_REQUEST),
            ("/media/", StatusCode::NOT_FOUND),
            ("/media/shorts/", StatusCode::NOT_FOUND),
            ("/media", StatusCode::NOT_FOUND),
            ("/mediax/movie.mp4", StatusCode::NOT_FOUND),
            ("/video", StatusCode::NOT_FOUND),
        ] {
            let reply = peer.get(path, &[]).await;
            assert_eq!(reply.status, status, "{path}: {reply:?}");
        }
    }
    drop(server);

    // The rate limit applies to objects as to files: 200 KiB at 64 KiB/s after the first
    // 64 KiB take at least 2 s.
    let limits = ["--limit-rate", "64k", "--limit-rate-after", "64k"];
    let server = serve(&moto, "s3://library/films/", &limits);
    let started = Instant::now();
    let [peer, _] = Peer::both(server.addr);
    peer.expect("/media/movie.mp4", &[], StatusCode::OK, &movie)
        .await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900), "{took:?}");
}

/// Runs the example server (built with `features`) on `url` with `env` until it exits, on an
/// address that is held here (a server that bound before failing would say so), and checks
/// that it exited 1 with one line, `error: URL: …`, and printed no URL. Returns that line.
fn run_failing(features: &[&str], url: &str, env: &[(&'static str, String)]) -> String {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = run(
        Command::new(example_binary_with_features("server", features))
            .args([url, "--addr", &addr])
            .envs(env.iter().map(|(k, v)| (k, v))),
        Duration::from_secs(90),
    );
    let stderr = out.stderr_text();
    assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{url}: printed {}",
        out.stdout_text()
    );
    assert_eq!(stderr.lines().count(), 1, "{url}: one line: {stderr}");
    assert!(stderr.starts_with(&format!("error: {url}: ")), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_bucket_or_key_exits_1_with_one_line_before_binding() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    moto.create_bucket("present").await;
    for (url, says) in [
        ("s3://absent-bucket/a.mp4", "no such object"),
        ("s3://absent-bucket/films/", "NoSuchBucket"),
        ("s3://present/missing.mp4", "no such object"),
        ("s3://present/films", "end the URL with /"),
    ] {
        let stderr = run_failing(&["aws"], url, &env(&moto));
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_exit_1_with_one_line_before_binding() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    moto.create_bucket("guarded").await;
    // From here moto checks every request's credentials: the server's key is unknown.
    moto.enable_auth().await;
    let stderr = run_failing(&["aws"], "s3://guarded/a.mp4", &env(&moto));
    assert!(stderr.contains("access refused"), "{stderr}");
    assert!(stderr.contains("403 Forbidden"), "{stderr}");
    let stderr = run_failing(&["aws"], "s3://guarded/films/", &env(&moto));
    assert!(
        stderr.contains("403 Forbidden: InvalidAccessKeyId"),
        "{stderr}"
    );
}

#[test]
fn a_build_without_the_provider_feature_names_the_flag_it_needs() {
    // Every build links `examples/server`, and only builds with features are copied aside:
    // the build with `aws` goes first, so that no later build here replaces the plain one.
    example_binary_with_features("server", &["aws"]);
    for (url, flag) in [
        ("s3://b/k", "--features aws"),
        ("gs://b/k", "--features gcp"),
        ("az://c/k", "--features azure"),
    ] {
        let stderr = run_failing(&[], url, &[]);
        assert!(stderr.contains(flag), "{stderr}");
    }
    // Built with one provider, another's URL names its own flag.
    let stderr = run_failing(&["aws"], "gs://b/k", &[]);
    assert!(stderr.contains("--features gcp"), "{stderr}");
}
