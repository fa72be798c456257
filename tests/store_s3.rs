//! The object-store source against a real S3 implementation: moto's server mode, reached
//! through a counting, fault-injecting proxy (`tests/support/store_proxy.rs`), with the
//! crate's own S3 client (`object_store`'s, configured by `store::streaming_client_options`).
//! Request accounting is counted at the proxy; faults are the proxy's (a body cut mid-way, a
//! store that answers 503, refuses connections or hangs) and moto's own (412 on a stale
//! `If-Match`, versioned reads, access denied). Needs moto (`.ci/run` installs it); outside
//! CI a missing moto skips each test with the command that installs it.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use support::{
    bounded, fetch, header, multipart_parts, read_body_or_cut, serve, Credentials, Fault, Moto,
    Protocol, StoreProxy,
};
use tower_range::store::object_store::aws::AmazonS3Builder;
use tower_range::store::object_store::path::Path;
use tower_range::store::object_store::{ClientOptions, ObjectStore, RetryConfig};
use tower_range::store::{streaming_client_options, ObjectSource, StoreOptions};
use tower_range::{MemorySource, RangeService};

const BUCKET: &str = "media";

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 13 + seed as usize) % 253) as u8)
        .collect()
}

/// An S3 client of `bucket` at `endpoint`, as a server would make it.
fn s3(
    endpoint: &str,
    credentials: &Credentials,
    client: ClientOptions,
    retries: usize,
) -> Arc<dyn ObjectStore> {
    let retry = RetryConfig {
        max_retries: retries,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    };
    let store = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(BUCKET)
        .with_access_key_id(&credentials.access_key_id)
        .with_secret_access_key(&credentials.secret_access_key)
        .with_client_options(client.with_allow_http(true))
        .with_retry(retry)
        .build()
        .unwrap();
    Arc::new(store)
}

/// moto with the bucket, and a proxy in front of it.
async fn moto_and_proxy() -> Option<(Moto, StoreProxy)> {
    let moto = Moto::start_or_skip()?;
    moto.create_bucket(BUCKET).await;
    let proxy = StoreProxy::start(&moto.endpoint());
    Some((moto, proxy))
}

fn source(proxy: &StoreProxy, key: &str, options: StoreOptions) -> ObjectSource {
    let store = s3(
        &proxy.endpoint(),
        &Credentials::placeholder(),
        streaming_client_options(),
        2,
    );
    ObjectSource::with_options(store, Path::from(key), options)
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]==5.2.5'); .ci/run installs it"]
async fn each_answer_costs_one_get_per_group_and_one_head_per_ttl_at_the_store() {
    let Some((moto, proxy)) = moto_and_proxy().await else {
        return;
    };
    let bytes = pattern(300_000, 1);
    moto.put_object(BUCKET, "films/a.mp4", bytes.clone()).await;
    let options = StoreOptions::new().metadata_ttl(Duration::from_secs(60));
    let addr = serve(RangeService::from_source(source(
        &proxy,
        "films/a.mp4",
        options,
    )))
    .await;
    let cases: &[(&str, usize)] = &[
        ("", 1),
        ("bytes=1000-1999", 1),
        ("bytes=-500", 1),
        ("bytes=250000-", 1),
        ("bytes=0-9,1000-1009,50000-50009", 1),
        ("bytes=0-9,100000-100009,200000-200009,299990-299999", 4),
        (
            "bytes=0-9,70000-70009,140000-140009,210000-210009,280000-280009",
            4,
        ),
        ("bytes=400000-", 0),
    ];
    for protocol in [Protocol::Http1, Protocol::Http2] {
        for (range, gets) in cases {
            proxy.clear();
            let headers: Vec<(&str, &str)> = match range.is_empty() {
                true => vec![],
                false => vec![("range", range)],
            };
            let (parts, body) = fetch(addr, protocol, "GET", &headers).await;
            assert_eq!(proxy.count("GET"), *gets, "{protocol:?} {range}: GETs");
            match header(&parts, "content-type").filter(|t| t.starts_with("multipart/")) {
                Some(content_type) => {
                    for (headers, part) in multipart_parts(content_type, &body) {
                        let range = headers.split("bytes ").nth(1).unwrap();
                        let start: usize = range.split('-').next().unwrap().parse().unwrap();
                        assert_eq!(part[..], bytes[start..start + part.len()], "{range}");
                    }
                }
                None if parts.status == 416 => assert_eq!(*gets, 0),
                None => {
                    let shown = header(&parts, "content-range").map_or(0, |r| {
                        r["bytes ".len()..]
                            .split('-')
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap()
                    });
                    assert_eq!(body[..], bytes[shown..shown + body.len()], "{range}");
                }
            }
            // Every GET asks for its range with If-Match on the store's ETag.
            for get in proxy.requests().iter().filter(|r| r.method == "GET") {
                assert!(get.range.is_some(), "{get:?}");
                assert!(
                    get.if_match.as_deref().is_some_and(|m| m.starts_with('"')),
                    "{get:?}"
                );
            }
        }
    }
    proxy.clear();
    fetch(addr, Protocol::Http1, "HEAD", &[]).await;
    assert_eq!(proxy.count("GET"), 0, "HEAD reads nothing");
    assert_eq!(proxy.count("HEAD"), 0, "the metadata is cached for 60 s");
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]==5.2.5'); .ci/run installs it"]
async fn two_servers_send_the_same_etag_and_a_replacement_is_seen_at_once() {
    let Some((moto, proxy)) = moto_and_proxy().await else {
        return;
    };
    moto.put_object(BUCKET, "a.mp4", pattern(100_000, 2)).await;
    let options = || StoreOptions::new().metadata_ttl(Duration::from_secs(60));
    let one = serve(RangeService::from_source(source(
        &proxy,
        "a.mp4",
        options(),
    )))
    .await;
    let two = serve(RangeService::from_source(source(
        &proxy,
        "a.mp4",
        options(),
    )))
    .await;
    let (a, _) = fetch(one, Protocol::Http1, "HEAD", &[]).await;
    let (b, _) = fetch(two, Protocol::Http2, "HEAD", &[]).await;
    assert_eq!(header(&a, "etag"), header(&b, "etag"));
    assert_eq!(header(&a, "last-modified"), header(&b, "last-modified"));
    // Replaced: the cached metadata is stale, the GET's If-Match fails with 412 before the
    // head, and the answer is planned again from a fresh HEAD.
    let new = pattern(120_000, 3);
    moto.put_object(BUCKET, "a.mp4", new.clone()).await;
    proxy.clear();
    let (parts, body) = fetch(one, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 200);
    assert_eq!(body[..], new[..]);
    assert_ne!(header(&parts, "etag"), header(&a, "etag"));
    let statuses: Vec<_> = proxy
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("GET".to_owned(), Some(412)),
            ("HEAD".to_owned(), Some(200)),
            ("GET".to_owned(), Some(206))
        ]
    );
    // A deleted key: 404.
    moto.delete_object(BUCKET, "a.mp4").await;
    let (parts, _) = fetch(two, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 404);
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]==5.2.5'); .ci/run installs it"]
async fn a_versioned_bucket_pins_the_running_answer_to_its_version() {
    let Some((moto, proxy)) = moto_and_proxy().await else {
        return;
    };
    moto.enable_versioning(BUCKET).await;
    let old = pattern(2_000_000, 4);
    let put = moto.put_object(BUCKET, "v.mp4", old.clone()).await;
    let version = put.version_id.expect("a versioned put has a version id");
    let options = StoreOptions::new().metadata_ttl(Duration::from_secs(60));
    let addr = serve(RangeService::from_source(source(&proxy, "v.mp4", options))).await;
    // The metadata first (cached), then the GETs: the first goes through, the second waits
    // at the proxy until the object has been replaced.
    fetch(addr, Protocol::Http1, "HEAD", &[]).await;
    proxy.clear();
    proxy.set_fault(Fault::Hang);
    proxy.fault_next_gets(Fault::None, 1);
    // Two parts far apart: two GETs. The second asks for the version the head described, so
    // the answer completes with the old bytes.
    let mut client = support::Client::connect(addr, Protocol::Http1).await;
    let asked = [("range", "bytes=0-9,1999990-1999999")];
    let response = client.send(support::request("GET", "/", &asked)).await;
    assert_eq!(response.status(), 206);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        proxy
            .wait_for_count("GET", 1, Duration::from_secs(10))
            .await
    );
    moto.put_object(BUCKET, "v.mp4", pattern(2_000_000, 5))
        .await;
    proxy.clear_faults();
    let (body, complete) = read_body_or_cut(response.into_body()).await;
    assert!(complete);
    let parts = multipart_parts(&content_type, &body);
    assert_eq!(parts[0].1[..], old[..10]);
    assert_eq!(parts[1].1[..], old[1_999_990..]);
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2);
    assert!(
        gets.iter()
            .all(|g| g.path.contains(&format!("versionId={version}"))),
        "{gets:?}"
    );
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]==5.2.5'); .ci/run installs it"]
async fn a_store_connection_cut_mid_body_is_resumed_exact_or_the_answer_is_cut() {
    let Some((moto, proxy)) = moto_and_proxy().await else {
        return;
    };
    let bytes = pattern(1_000_000, 6);
    moto.put_object(BUCKET, "c.mp4", bytes.clone()).await;
    let addr = serve(RangeService::from_source(source(
        &proxy,
        "c.mp4",
        StoreOptions::new(),
    )))
    .await;
    proxy.fault_next_gets(Fault::CutBodyAfter(300_000), 1);
    let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 200);
    assert!(body[..] == bytes[..], "resumed bytes differ");
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(gets[1].if_match == gets[0].if_match && gets[1].if_match.is_some());
    // Cut, and replaced before the retry: the retry's If-Match fails, the answer is cut after
    // a prefix of the old bytes.
    let big = pattern(8_000_000, 7);
    moto.put_object(BUCKET, "big.mp4", big.clone()).await;
    let addr = serve(RangeService::from_source(source(
        &proxy,
        "big.mp4",
        StoreOptions::new(),
    )))
    .await;
    proxy.clear();
    proxy.set_fault(Fault::Hang);
    let mut client = support::Client::connect(addr, Protocol::Http1).await;
    let pending = tokio::spawn(async move {
        let response = client.send(support::request("GET", "/", &[])).await;
        read_body_or_cut(response.into_body()).await
    });
    // The HEAD hangs until the faults change: then the first GET is cut at 1 MB, and the
    // retry hangs (the standing fault) until the object has been replaced.
    assert!(
        proxy
            .wait_for_count("HEAD", 1, Duration::from_secs(10))
            .await
    );
    proxy.fault_next_gets(Fault::CutBodyAfter(1_000_000), 1);
    assert!(
        proxy
            .wait_for_count("GET", 1, Duration::from_secs(10))
            .await
    );
    moto.put_object(BUCKET, "big.mp4", pattern(8_000_000, 8))
        .await;
    // Now the retry may go: it finds the new version.
    proxy.set_fault(Fault::None);
    let (got, complete) = bounded(pending).await.unwrap();
    assert!(!complete, "an answer across two versions must be cut");
    assert!(got.len() <= 1_000_000 && got[..] == big[..got.len()]);
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]==5.2.5'); .ci/run installs it"]
async fn a_store_down_answers_within_the_deadline_while_other_files_serve() {
    let Some((moto, proxy)) = moto_and_proxy().await else {
        return;
    };
    moto.put_object(BUCKET, "d.mp4", pattern(1000, 9)).await;
    let store = s3(
        &proxy.endpoint(),
        &Credentials::placeholder(),
        streaming_client_options(),
        1,
    );
    let options = StoreOptions::new()
        .metadata_ttl(Duration::ZERO)
        .head_deadline(Duration::from_secs(3));
    let source = ObjectSource::with_options(store, Path::from("d.mp4"), options);
    let addr = serve(RangeService::from_source(source)).await;
    let other = serve(RangeService::from_source(MemorySource::new("still here"))).await;
    for (fault, statuses) in [
        (Fault::ServiceUnavailable, &[502][..]),
        (Fault::Refuse, &[502, 504][..]),
        (Fault::Hang, &[504][..]),
    ] {
        proxy.set_fault(fault.clone());
        let started = Instant::now();
        let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[]).await;
        let took = started.elapsed();
        assert!(
            statuses.contains(&parts.status.as_u16()),
            "{fault:?}: {}",
            parts.status
        );
        assert!(
            took < Duration::from_secs(5),
            "{fault:?}: {took:?} past the 3 s deadline"
        );
        let (parts, body) = fetch(other, Protocol::Http1, "GET", &[]).await;
        assert_eq!(
            (parts.status.as_u16(), &body[..]),
            (200, &b"still here"[..])
        );
    }
    proxy.clear_faults();
    let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 200);
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]==5.2.5'); .ci/run installs it"]
async fn access_denied_is_403_and_a_missing_key_404() {
    let Some((moto, proxy)) = moto_and_proxy().await else {
        return;
    };
    moto.put_object(BUCKET, "e.mp4", pattern(1000, 10)).await;
    moto.enable_auth().await;
    let allowed = moto.full_access_user("reader").await;
    let denied = moto.no_access_user("stranger", BUCKET).await;
    let served = |credentials: Credentials, key: &'static str| {
        let endpoint = proxy.endpoint();
        async move {
            let store = s3(&endpoint, &credentials, streaming_client_options(), 1);
            let source = ObjectSource::new(store, Path::from(key));
            let addr = serve(RangeService::from_source(source)).await;
            fetch(addr, Protocol::Http1, "GET", &[])
                .await
                .0
                .status
                .as_u16()
        }
    };
    assert_eq!(served(allowed.clone(), "e.mp4").await, 200);
    assert_eq!(served(denied, "e.mp4").await, 403);
    assert_eq!(served(Credentials::bogus(), "e.mp4").await, 403);
    assert_eq!(served(allowed, "missing.mp4").await, 404);
}

/// `object_store`'s default client timeout (30 s) covers a whole GET, body included: a client
/// that reads for longer fails the GET. The streaming options have no such timeout, so one
/// GET serves a client that reads slowly for 32 s; with the default options and no
/// resumptions the same client's answer is cut. The client reads its first 4 MB over 32 s
/// (then the rest at once), so that at 30 s the GET is still open: the sockets between it
/// and the store hold less than the 12 MB left.
#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]==5.2.5'); .ci/run installs it; takes 33 s"]
async fn a_client_slower_than_the_default_client_timeout_is_served_by_one_get() {
    let Some((moto, proxy)) = moto_and_proxy().await else {
        return;
    };
    let bytes = pattern(16_000_000, 11);
    moto.put_object(BUCKET, "slow.mp4", bytes.clone()).await;
    let streaming = source(&proxy, "slow.mp4", StoreOptions::new());
    let default_client = s3(
        &proxy.endpoint(),
        &Credentials::placeholder(),
        ClientOptions::new(),
        2,
    );
    let defaults = ObjectSource::with_options(
        default_client,
        Path::from("slow.mp4"),
        StoreOptions::new().resumes(0),
    );
    let streaming_addr = serve(RangeService::from_source(streaming)).await;
    let default_addr = serve(RangeService::from_source(defaults)).await;
    proxy.clear();
    let (streamed, cut) = tokio::join!(
        slow_read(streaming_addr, 4_000_000, Duration::from_secs(32)),
        slow_read(default_addr, 4_000_000, Duration::from_secs(32)),
    );
    assert!(streamed.1, "the streaming client's answer was cut");
    assert!(streamed.0[..] == bytes[..], "bytes differ");
    assert!(!cut.1, "the default client's GET outlived its 30 s timeout");
    let gets = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(gets, 2, "one GET each");
}

/// Reads `/` through a 64 KiB receive window, its first `slow` bytes at an even pace over
/// `over`, the rest as fast as they come: the bytes, and whether the body completed.
async fn slow_read(addr: std::net::SocketAddr, slow: usize, over: Duration) -> (Vec<u8>, bool) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let stream = bounded(socket.connect(addr)).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let response = bounded(send.send_request(support::request("GET", "/", &[])))
        .await
        .unwrap();
    let started = Instant::now();
    let mut body = response.into_body();
    let mut got = Vec::new();
    let deadline = over + Duration::from_secs(30);
    loop {
        let frame = match tokio::time::timeout(deadline, body.frame())
            .await
            .expect("stalled")
        {
            Some(Ok(frame)) => frame,
            Some(Err(_)) => return (got, false),
            None => return (got, true),
        };
        got.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d));
        // Keep to the pace: `got` bytes are due at this share of `over`.
        let due = over.mul_f64(got.len().min(slow) as f64 / slow as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}
