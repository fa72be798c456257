//! A resolver of one's own over real TCP: videos looked up by id in a simulated object store
//! whose reader answers each region with a stream of chunks of odd sizes (one "GET" per
//! region), re-split by `StreamFrames`. The service gives it every guarantee of the crate:
//! ranges, multipart, conditionals, HEAD, `405` before any lookup, a typed `404`, exact
//! frames — and one upstream request per planned region, never one per frame. Services given
//! their own resources use them.

mod support;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http::request::Parts;
use http::StatusCode;
use support::{bounded, content, header, multipart_parts, serve, Protocol};
use tower_range::range::Region;
use tower_range::read::{ReadConfig, RegionReader, StreamFrames};
use tower_range::{
    BufferPool, Error, Metadata, OpenError, OpenErrorKind, Opened, RangeService, ReadAheadBudget,
    Resolver, Resources,
};

const LEN: usize = 20 * 1024 * 1024 + 3;

/// Counts what the store was asked for.
#[derive(Default)]
struct Counters {
    resolves: AtomicUsize,
    gets: AtomicUsize,
}

/// Objects by id, read as streams of chunks.
struct Store {
    objects: HashMap<String, Bytes>,
    counters: Arc<Counters>,
}

impl Resolver for Store {
    type Reader = ObjectReader;

    async fn resolve(
        &self,
        request: &Parts,
        _: &Resources,
    ) -> Result<Opened<ObjectReader>, OpenError> {
        self.counters.resolves.fetch_add(1, Ordering::SeqCst);
        let id = request.uri.path().strip_prefix("/v/").unwrap_or_default();
        let object = self.objects.get(id).ok_or(OpenErrorKind::NotFound)?;
        let metadata = Metadata::new(object.len() as u64)
            .with_version(id.as_bytes())
            .with_content_type(http::HeaderValue::from_static("video/mp4"));
        Ok(Opened::new(
            metadata,
            ObjectReader {
                object: object.clone(),
                counters: self.counters.clone(),
            },
        ))
    }
}

struct ObjectReader {
    object: Bytes,
    counters: Arc<Counters>,
}

impl RegionReader for ObjectReader {
    type Frames = StreamFrames<Chunks>;

    fn read_region(&self, region: Region, config: &ReadConfig) -> StreamFrames<Chunks> {
        self.counters.gets.fetch_add(1, Ordering::SeqCst);
        let bytes = self
            .object
            .slice(region.start() as usize..region.end() as usize);
        StreamFrames::new(Chunks { bytes, next: 1 }, region, config)
    }
}

/// The bytes of one region in chunks of growing, odd sizes: 1 B, 7 B, 49 B, … up to 1 MiB.
struct Chunks {
    bytes: Bytes,
    next: usize,
}

impl Stream for Chunks {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.bytes.is_empty() {
            return Poll::Ready(None);
        }
        let len = self.next.min(self.bytes.len());
        self.next = (self.next * 7).min(1 << 20);
        let chunk = self.bytes.split_to(len);
        Poll::Ready(Some(Ok(chunk)))
    }
}

async fn store() -> (std::net::SocketAddr, Arc<Counters>, Bytes) {
    let counters = Arc::new(Counters::default());
    let object = Bytes::from(content(LEN));
    let store = Store {
        objects: HashMap::from([("intro".to_owned(), object.clone())]),
        counters: counters.clone(),
    };
    (
        serve(RangeService::from_resolver(store)).await,
        counters,
        object,
    )
}

async fn get(
    addr: std::net::SocketAddr,
    protocol: Protocol,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (http::response::Parts, Bytes) {
    support::fetch_path(addr, protocol, method, path, headers).await
}

#[tokio::test]
async fn each_answer_costs_one_upstream_request_per_region_over_both_protocols() {
    let (addr, counters, object) = store().await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let gets = || counters.gets.load(Ordering::SeqCst);

        let before = gets();
        let (parts, body) = get(addr, protocol, "GET", "/v/intro", &[]).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(body, object, "whole object, {protocol:?}");
        assert_eq!(gets() - before, 1, "one GET for 20 MiB, not one per frame");

        let before = gets();
        let range = [("range", "bytes=1000000-9999999")];
        let (parts, body) = get(addr, protocol, "GET", "/v/intro", &range).await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            header(&parts, "content-range"),
            Some(&*format!("bytes 1000000-9999999/{LEN}"))
        );
        assert_eq!(body, object[1_000_000..10_000_000]);
        assert_eq!(gets() - before, 1);

        let before = gets();
        let ranges = [("range", "bytes=0-99,5000000-5999999,-10")];
        let (parts, body) = get(addr, protocol, "GET", "/v/intro", &ranges).await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
        let parts = multipart_parts(header(&parts, "content-type").unwrap(), &body);
        assert_eq!(parts[0].1, object[..100]);
        assert_eq!(parts[1].1, object[5_000_000..6_000_000]);
        assert_eq!(parts[2].1, object[LEN - 10..]);
        assert_eq!(gets() - before, 3, "one GET per part");
    }
}

#[tokio::test]
async fn misses_conditionals_head_and_other_methods_read_nothing() {
    let (addr, counters, _) = store().await;
    let (parts, body) = get(addr, Protocol::Http1, "GET", "/v/nope", &[]).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    assert_eq!(body, "not found\n");

    let (parts, _) = get(addr, Protocol::Http1, "HEAD", "/v/intro", &[]).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(header(&parts, "content-length"), Some(&*LEN.to_string()));
    let etag = header(&parts, "etag").unwrap().to_owned();

    let (parts, body) = get(
        addr,
        Protocol::Http2,
        "GET",
        "/v/intro",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let (parts, _) = get(
        addr,
        Protocol::Http1,
        "GET",
        "/v/intro",
        &[("range", "bytes=99999999-")],
    )
    .await;
    assert_eq!(parts.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(counters.gets.load(Ordering::SeqCst), 0, "nothing was read");

    let resolves = counters.resolves.load(Ordering::SeqCst);
    let (parts, _) = get(addr, Protocol::Http1, "POST", "/v/intro", &[]).await;
    assert_eq!(parts.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        counters.resolves.load(Ordering::SeqCst),
        resolves,
        "405 before any lookup"
    );
}

#[tokio::test]
async fn a_service_given_its_own_resources_draws_on_them() {
    let dir = support::temp_dir("own-resources");
    let path = dir.join("clip.mp4");
    let bytes = content(1024 * 1024);
    std::fs::write(&path, &bytes).unwrap();
    let pool = BufferPool::new();
    let budget = ReadAheadBudget::new(1024 * 1024);
    let service = RangeService::new(&path)
        .buffer_pool(pool.clone())
        .read_ahead_budget(budget.clone());
    assert_eq!(service.get_resources().budget().capacity(), 1024 * 1024);
    let addr = serve(service).await;
    assert_eq!(pool.free_buffers(), 0);
    let (parts, body) = get(addr, Protocol::Http1, "GET", "/", &[]).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(body, bytes);
    // The frames were read into this pool's buffers and came back to it once sent.
    bounded(async {
        while pool.free_buffers() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(budget.available(), budget.capacity());
}
