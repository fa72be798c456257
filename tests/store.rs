//! The object-store source in process, over real TCP, against `object_store`'s in-memory
//! store wrapped to count requests, deliver small chunks and inject faults
//! (`store/faulty.rs`): request accounting, the answers against a file's, replaced objects,
//! resumed and cut bodies, a store down, and the memory bound with stalled and slow clients.
//! The same source against a real S3 server (moto) is `tests/store_s3.rs`.

#[path = "store/faulty.rs"]
mod faulty;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use support::{
    assert_same_answer, bounded, fetch, fetch_path, header, read_body_or_cut, serve, Client,
    Protocol,
};
use tower_range::store::object_store::path::Path;
use tower_range::store::{ObjectSource, StoreOptions, StoreResolver};
use tower_range::{MemorySource, RangeService};

use faulty::{Fault, FaultyStore};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + seed as usize) % 251) as u8)
        .collect()
}

async fn object(
    store: &FaultyStore,
    key: &str,
    bytes: Vec<u8>,
    options: StoreOptions,
) -> ObjectSource {
    store.put_bytes(key, bytes).await;
    ObjectSource::with_options(Arc::new(store.clone()), Path::from(key), options)
}

/// The Range headers the differential test asks both sources.
const RANGES: &[&str] = &[
    "bytes=0-0",
    "bytes=0-99",
    "bytes=100-",
    "bytes=-500",
    "bytes=-0",
    "bytes=99990-200000",
    "bytes=100000-",
    "bytes=0-9,20-29,40-49",
    "bytes=0-9,50000-50009,99990-99999",
    "bytes=90000-90099,10-19",
    "bytes=5-1",
    "bytes=x",
];

#[tokio::test]
async fn every_answer_matches_the_same_bytes_served_from_memory() {
    let bytes = pattern(100_000, 1);
    let store = FaultyStore::new(4096);
    let source = object(&store, "films/a.mp4", bytes.clone(), StoreOptions::new()).await;
    let from_store = serve(RangeService::from_source(source)).await;
    let memory = RangeService::from_source(MemorySource::new(bytes))
        .content_type(http::HeaderValue::from_static("video/mp4"));
    let from_memory = serve(memory).await;
    let (whole, _) = fetch(from_store, Protocol::Http1, "GET", &[]).await;
    let etag = header(&whole, "etag").unwrap().to_owned();
    let modified = header(&whole, "last-modified").unwrap().to_owned();
    for protocol in [Protocol::Http1, Protocol::Http2] {
        for method in ["GET", "HEAD"] {
            for range in RANGES {
                let asked = [("range", *range)];
                let (a, a_body) = fetch(from_store, protocol, method, &asked).await;
                let (b, b_body) = fetch(from_memory, protocol, method, &asked).await;
                let what = format!("{protocol:?} {method} {range}");
                assert_same_answer((&a, &a_body), (&b, &b_body), &what);
            }
        }
    }
    // The conditionals, with the store's validators; a date is a strong validator for
    // If-Range only a second after the modification.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cases: &[(&[(&str, &str)], u16)] = &[
        (&[("if-none-match", &etag)], 304),
        (&[("if-match", "\"other\"")], 412),
        (&[("if-match", &etag), ("range", "bytes=0-9")], 206),
        (&[("if-range", &etag), ("range", "bytes=0-9")], 206),
        (&[("if-range", "\"other\""), ("range", "bytes=0-9")], 200),
        (
            &[("if-range", &format!("W/{etag}")), ("range", "bytes=0-9")],
            200,
        ),
        (&[("if-range", &modified), ("range", "bytes=0-9")], 206),
        (
            &[("if-unmodified-since", "Sat, 01 Jan 2000 00:00:00 GMT")],
            412,
        ),
        (&[("if-modified-since", &modified)], 304),
        // If-None-Match is evaluated before If-Modified-Since (RFC 9110 §13.2.2).
        (
            &[
                ("if-none-match", "\"other\""),
                ("if-modified-since", &modified),
            ],
            200,
        ),
    ];
    for (headers, status) in cases {
        let (parts, _) = fetch(from_store, Protocol::Http1, "GET", headers).await;
        assert_eq!(parts.status.as_u16(), *status, "{headers:?}");
    }
}

#[tokio::test]
async fn one_get_per_range_a_bounded_number_per_multipart_answer_and_one_head_per_ttl() {
    let store = FaultyStore::new(4096);
    let source = object(&store, "a.mp4", pattern(1_000_000, 2), StoreOptions::new()).await;
    let addr = serve(RangeService::from_source(source)).await;
    let gets_for = |range: &'static str| {
        let store = store.clone();
        async move {
            let before = store.gets();
            let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[("range", range)]).await;
            assert!(parts.status.is_success(), "{range}: {}", parts.status);
            assert!(!body.is_empty());
            store.gets() - before
        }
    };
    assert_eq!(gets_for("bytes=0-").await, 1, "a whole-object range");
    assert_eq!(gets_for("bytes=1000-1999").await, 1, "a single range");
    assert_eq!(gets_for("bytes=-100").await, 1, "a suffix");
    // Parts within the merge gap (64 KiB) share a GET.
    assert_eq!(gets_for("bytes=0-9,1000-1009,60000-60009").await, 1);
    assert_eq!(store.ranges().last().unwrap(), &(0..60010));
    // 64 parts far apart: at most the cap of 4.
    let many = (0..64)
        .map(|i| format!("{}-{}", i * 15_000, i * 15_000 + 9))
        .collect::<Vec<_>>();
    let many: &'static str = Box::leak(format!("bytes={}", many.join(",")).into_boxed_str());
    assert_eq!(gets_for(many).await, 1, "64 parts 15 kB apart: one GET");
    let spread = (0..10)
        .map(|i| format!("{}-{}", i * 100_000, i * 100_000 + 9))
        .collect::<Vec<_>>();
    let spread: &'static str = Box::leak(format!("bytes={}", spread.join(",")).into_boxed_str());
    assert_eq!(gets_for(spread).await, 4, "10 parts 100 kB apart: the cap");
    // HEAD, 304 and 416 read nothing.
    let before = store.gets();
    fetch(addr, Protocol::Http1, "HEAD", &[]).await;
    fetch(addr, Protocol::Http1, "GET", &[("range", "bytes=2000000-")]).await;
    assert_eq!(store.gets(), before);
    // Every GET carried If-Match with the store's ETag; all these requests cost one HEAD.
    assert!(store
        .if_matches()
        .iter()
        .all(|m| m.as_deref().is_some_and(|m| m.starts_with('"'))));
    assert_eq!(store.heads(), 1, "one HEAD within the metadata TTL");
}

#[tokio::test]
async fn an_object_replaced_between_requests_is_served_new_at_once_despite_the_cache() {
    let store = FaultyStore::new(4096);
    let options = StoreOptions::new().metadata_ttl(Duration::from_secs(60));
    let source = object(&store, "a.mp4", pattern(10_000, 3), options).await;
    let addr = serve(RangeService::from_source(source)).await;
    let (first, _) = fetch(addr, Protocol::Http1, "GET", &[("range", "bytes=0-9")]).await;
    let new = pattern(20_000, 4);
    store.put_bytes("a.mp4", new.clone()).await;
    // The cached metadata is stale: the GET's If-Match fails before the head, and the request
    // is planned again from a fresh HEAD.
    let (second, body) = fetch(addr, Protocol::Http1, "GET", &[("range", "bytes=0-")]).await;
    assert_eq!(second.status, 206);
    assert_eq!(
        header(&second, "content-range"),
        Some("bytes 0-19999/20000")
    );
    assert_eq!(&body[..], &new[..]);
    assert_ne!(header(&first, "etag"), header(&second, "etag"));
    assert_eq!(store.heads(), 2);
    // A deleted object: 404, not a cut body.
    let source = ObjectSource::with_options(
        Arc::new(store.clone()),
        Path::from("gone.mp4"),
        StoreOptions::new().metadata_ttl(Duration::from_secs(60)),
    );
    store.put_bytes("gone.mp4", pattern(100, 5)).await;
    let gone = serve(RangeService::from_source(source)).await;
    fetch(gone, Protocol::Http1, "HEAD", &[]).await;
    use tower_range::store::object_store::ObjectStore;
    store
        .delete_stream(Box::pin(futures_util::stream::iter([Ok(Path::from(
            "gone.mp4",
        ))])))
        .collect::<Vec<_>>()
        .await;
    let (parts, _) = fetch(gone, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 404);
}

use futures_util::StreamExt;

#[tokio::test]
async fn a_body_cut_mid_stream_is_resumed_on_the_same_etag_or_cut_never_mixed() {
    let bytes = pattern(300_000, 6);
    let store = FaultyStore::new(4096);
    let source = object(&store, "a.mp4", bytes.clone(), StoreOptions::new()).await;
    let stats_source = source.clone();
    let addr = serve(RangeService::from_source(source)).await;
    // The connection to the store breaks twice: the body resumes from the next byte, exact.
    store.set_fault(Fault::CutBody {
        after: 50_000,
        count: 2,
    });
    let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 200);
    assert_eq!(body.len(), bytes.len());
    assert!(body[..] == bytes[..], "resumed bytes differ");
    assert_eq!(stats_source.stats().resumes(), 2);
    let ranges = store.ranges();
    assert_eq!(
        ranges[ranges.len() - 2..],
        [49_152..300_000, 98_304..300_000]
    );
    assert!(store.if_matches().iter().all(Option::is_some));
    // Broken, then replaced before the resumption: the resumption's If-Match fails and the
    // body is cut after a prefix of the old bytes. The object is large and the client's
    // window small (64 KiB, and the server's send buffer at most 4 MiB), so the replacement
    // comes long before the break at 8 MB.
    let big = pattern(12_000_000, 7);
    store.put_bytes("a.mp4", big.clone()).await;
    store.set_fault(Fault::CutBody {
        after: 8_000_000,
        count: 1,
    });
    let (got, complete) =
        fetch_replaced_during(addr, &store, "a.mp4", pattern(12_000_000, 17)).await;
    assert!(!complete, "a body across two versions must be cut");
    assert!(
        got.len() <= 8_000_000 && got[..] == big[..got.len()],
        "not a prefix of the old bytes"
    );
}

/// GETs `/` with a small-window client, replaces `key` with `new` as soon as the head has
/// come, and reads the body to its end or its error.
async fn fetch_replaced_during(
    addr: std::net::SocketAddr,
    store: &FaultyStore,
    key: &str,
    new: Vec<u8>,
) -> (Vec<u8>, bool) {
    let mut client = small_window_client(addr).await;
    let request = support::request("GET", "/", &[]);
    let response = bounded(client.send_request(request)).await.unwrap();
    assert_eq!(response.status(), 200);
    store.put_bytes(key, new).await;
    read_body_or_cut(response.into_body()).await
}

#[tokio::test]
async fn without_resumptions_a_failed_get_cuts_the_body() {
    let bytes = pattern(12_000_000, 8);
    let store = FaultyStore::new(4096);
    let source = object(
        &store,
        "a.mp4",
        bytes.clone(),
        StoreOptions::new().resumes(0),
    )
    .await;
    let addr = serve(RangeService::from_source(source)).await;
    store.set_fault(Fault::CutBody {
        after: 8_000_000,
        count: 1,
    });
    let mut client = small_window_client(addr).await;
    let request = support::request("GET", "/", &[]);
    let response = bounded(client.send_request(request)).await.unwrap();
    let (got, complete) = read_body_or_cut(response.into_body()).await;
    assert!(!complete);
    assert!(got.len() <= 8_000_000 && got[..] == bytes[..got.len()]);
}

#[tokio::test]
async fn a_multipart_answer_across_a_replacement_is_cut_at_its_next_get() {
    let bytes = pattern(12_000_000, 9);
    let store = FaultyStore::new(16 * 1024);
    let source = object(&store, "a.mp4", bytes.clone(), StoreOptions::new()).await;
    let addr = serve(RangeService::from_source(source)).await;
    let mut client = Client::connect(addr, Protocol::Http1).await;
    // Two parts 2 MB apart: two GETs; the object is replaced before the second. The first
    // is larger than the sockets on the way can hold, so the second GET is still to come.
    let asked = [("range", "bytes=0-9999999,11900000-11999999")];
    let response = client.send(support::request("GET", "/", &asked)).await;
    assert_eq!(response.status(), 206);
    let mut body = response.into_body();
    let mut got = Vec::new();
    while got.len() < 50_000 {
        let frame = bounded(body.frame()).await.unwrap().unwrap();
        got.extend_from_slice(frame.data_ref().unwrap());
    }
    store.put_bytes("a.mp4", pattern(12_000_000, 10)).await;
    let (rest, complete) = read_body_or_cut(body).await;
    assert!(!complete, "the second part would be of another version");
    got.extend_from_slice(&rest);
    let text = &got[..];
    // Nothing of the new version: every part byte seen is the old object's.
    let start = text.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let part = &text[start..(start + 10_000_000).min(text.len())];
    assert_eq!(part, &bytes[..part.len()]);
}

#[tokio::test]
async fn a_store_down_answers_504_or_502_within_the_deadline_and_other_files_still_serve() {
    let store = FaultyStore::new(4096);
    let options = StoreOptions::new()
        .head_deadline(Duration::from_millis(500))
        .metadata_ttl(Duration::ZERO);
    let source = object(&store, "a.mp4", pattern(1000, 11), options).await;
    let addr = serve(RangeService::from_source(source)).await;
    let other = serve(RangeService::from_source(MemorySource::new("still here"))).await;
    store.set_fault(Fault::Hang);
    let started = Instant::now();
    let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 504);
    assert_eq!(&body[..], b"gateway timeout\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (parts, body) = fetch(other, Protocol::Http1, "GET", &[]).await;
    assert_eq!(
        (parts.status.as_u16(), &body[..]),
        (200, &b"still here"[..])
    );
    store.set_fault(Fault::Fail);
    let (parts, _) = fetch(addr, Protocol::Http2, "GET", &[]).await;
    assert_eq!(parts.status, 502);
    store.set_fault(Fault::Deny);
    let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 403);
    store.set_fault(Fault::None);
    let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 200);
}

#[tokio::test]
async fn empty_objects_and_missing_keys_never_reach_a_get() {
    let store = FaultyStore::new(4096);
    let source = object(&store, "empty.mp4", Vec::new(), StoreOptions::new()).await;
    let addr = serve(RangeService::from_source(source)).await;
    let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!((parts.status.as_u16(), body.len()), (200, 0));
    let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[("range", "bytes=-0")]).await;
    assert_eq!(parts.status, 416);
    let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[("range", "bytes=0-")]).await;
    assert_eq!(parts.status, 416);
    assert_eq!(store.gets(), 0);
    let missing = ObjectSource::new(Arc::new(store.clone()), Path::from("nothing.mp4"));
    let addr = serve(RangeService::from_source(missing)).await;
    let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 404);
}

#[tokio::test]
async fn a_prefix_maps_request_paths_to_keys_and_refuses_hostile_ones() {
    let store = FaultyStore::new(4096);
    store
        .put_bytes("media/films/a b.mp4", pattern(100, 12))
        .await;
    store.put_bytes("media/.secret", pattern(10, 13)).await;
    store.put_bytes("other/x.mp4", pattern(10, 14)).await;
    let resolver = StoreResolver::new(
        Arc::new(store.clone()),
        Path::from("media"),
        StoreOptions::new(),
    );
    let addr = serve(RangeService::from_resolver(resolver)).await;
    let get = |path: &'static str| async move {
        fetch_path(addr, Protocol::Http1, "GET", path, &[]).await
    };
    let (parts, body) = get("/films/a%20b.mp4").await;
    assert_eq!((parts.status.as_u16(), body.len()), (200, 100));
    assert_eq!(header(&parts, "content-type"), Some("video/mp4"));
    assert_eq!(header(&parts, "x-content-type-options"), Some("nosniff"));
    for (path, status) in [
        ("/films/", 404),
        ("/", 404),
        ("/.secret", 404),
        ("/../other/x.mp4", 404),
        ("/films/..%2F..%2Fother/x.mp4", 404),
        ("/films%2Fa%20b.mp4", 404),
        ("/films//a%20b.mp4", 404),
        ("/films/a%zzb.mp4", 400),
        ("/films/missing.mp4", 404),
    ] {
        let (parts, _) = get(path).await;
        assert_eq!(parts.status.as_u16(), status, "{path}");
        assert_eq!(
            header(&parts, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_prefix_presents_objects_as_the_directory_service_presents_files() {
    let store = FaultyStore::new(4096);
    store
        .put_bytes("media/films/a b.mp4", pattern(1000, 15))
        .await;
    store
        .put_bytes("media/hls/master.m3u8", b"#EXTM3U\n".to_vec())
        .await;
    store.put_bytes("media/hls/seg1.ts", pattern(500, 16)).await;
    let resolver = StoreResolver::new(
        Arc::new(store.clone()),
        Path::from("media"),
        StoreOptions::new(),
    )
    .download_query("download")
    .policy(support::hls_policy);
    let addr = serve(RangeService::from_resolver(resolver)).await;
    async fn get(
        addr: std::net::SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> http::response::Parts {
        fetch_path(addr, Protocol::Http1, "GET", path, headers)
            .await
            .0
    }
    let inline = "inline; filename=\"a b.mp4\"; filename*=UTF-8''a%20b.mp4";
    let full = get(addr, "/films/a%20b.mp4", &[]).await;
    assert_eq!(header(&full, "content-disposition"), Some(inline));
    assert_eq!(header(&full, "cache-control"), Some("public, max-age=60"));
    let etag = header(&full, "etag").unwrap().to_owned();
    let partial = get(addr, "/films/a%20b.mp4", &[("range", "bytes=10-19")]).await;
    assert_eq!(partial.status.as_u16(), 206);
    assert_eq!(header(&partial, "content-disposition"), Some(inline));
    let not_modified = get(addr, "/films/a%20b.mp4", &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status.as_u16(), 304);
    assert_eq!(header(&not_modified, "content-disposition"), Some(inline));
    let download = get(addr, "/films/a%20b.mp4?download", &[]).await;
    assert_eq!(
        header(&download, "content-disposition"),
        Some("attachment; filename=\"a b.mp4\"; filename*=UTF-8''a%20b.mp4")
    );
    // The hook sees the key relative to the prefix: HLS playlists and segments.
    let playlist = get(addr, "/hls/master.m3u8", &[]).await;
    assert_eq!(header(&playlist, "cache-control"), Some("no-cache"));
    assert_eq!(header(&playlist, "content-disposition"), None);
    let segment = get(addr, "/hls/seg1.ts", &[]).await;
    assert_eq!(
        header(&segment, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
}

/// The memory bound: what a body has pulled from the store and not handed on stays within
/// `read_ahead × frame_size` plus two store chunks, for a client that stops reading and for
/// one that reads slowly; the pulling stops with the client.
#[tokio::test]
async fn a_stalled_or_slow_client_holds_no_more_than_the_stated_bound() {
    const FRAME: usize = 64 * 1024;
    const READ_AHEAD: usize = 4;
    const CHUNK: usize = 16 * 1024 + 7;
    let bytes = pattern(32 * 1024 * 1024, 15);
    let store = FaultyStore::new(CHUNK);
    let source = object(&store, "big.mp4", bytes, StoreOptions::new()).await;
    let stats = source.clone();
    let service = RangeService::from_source(source)
        .frame_size(FRAME)
        .read_ahead(READ_AHEAD);
    let addr = serve(service).await;
    let bound = (READ_AHEAD * FRAME + 2 * CHUNK) as u64;
    let mut client = small_window_client(addr).await;
    let response = bounded(client.send_request(support::request("GET", "/", &[])))
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut received = 0u64;
    let mut most_held = 0u64;
    let mut check = |received: u64| {
        let (pulled, handed) = (
            stats.stats().bytes_pulled(),
            stats.stats().bytes_handed_on(),
        );
        assert!(handed <= pulled);
        let held = pulled - handed;
        assert!(
            held <= bound,
            "{held} bytes held past the bound {bound} (received {received})"
        );
        most_held = most_held.max(held);
        pulled
    };
    // Slowly: a frame, then a pause.
    for _ in 0..40 {
        let frame = bounded(body.frame()).await.unwrap().unwrap();
        received += frame.data_ref().unwrap().len() as u64;
        tokio::time::sleep(Duration::from_millis(5)).await;
        check(received);
    }
    // Stalled: the pulling stops once the sockets' buffers are full.
    let mut last = 0;
    let mut steady = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let pulled = check(received);
        steady = if pulled == last { steady + 1 } else { 0 };
        last = pulled;
        if steady >= 10 {
            break;
        }
    }
    assert!(steady >= 10, "the pulling never stopped");
    assert!(
        last < 32 * 1024 * 1024 / 2,
        "pulled {last} of 32 MiB for a stalled client"
    );
    // The bound is reached, so the check can fail.
    assert!(
        most_held >= (READ_AHEAD * FRAME) as u64 / 2,
        "at most {most_held} held"
    );
    // And the rest arrives exact.
    let (rest, complete) = read_body_or_cut(body).await;
    assert!(complete);
    assert_eq!(received + rest.len() as u64, 32 * 1024 * 1024);
}

/// An HTTP/1.1 client whose socket receives into 64 KiB at most, so that a client that stops
/// reading stops the server soon (loopback's default buffers grow to 32 MiB).
async fn small_window_client(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let stream = bounded(socket.connect(addr)).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    send
}
