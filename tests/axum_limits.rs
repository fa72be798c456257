//! What tower-http's timeouts and a concurrency limit in the axum example's stack
//! (`examples/support/axum_app.rs`) do to `RangeFileService` over real TCP, with sources made
//! slow through the source trait: a late head is a 503, a started stream is never cut by the
//! head timeout, a stalled one is cut by the body idle timeout, and the concurrency limit
//! holds heads, not streams.

mod support;

#[path = "../examples/support/axum_app.rs"]
#[allow(dead_code)]
mod axum_app;
// axum_app needs it at the crate root.
#[path = "../examples/support/signed_url.rs"]
#[allow(dead_code)]
mod signed_url;

use std::future::Future;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tower_range::source::MemoryReader;
use tower_range::{MemorySource, Opened, RangeFileService, Resources, Source, SourceReader};

use axum_app::Limits;
use support::{
    bounded, content, get, http1_client, response_head, sample, sample_path, serve_router,
    url_request,
};

/// `MemorySource` made slow: a delayed open, delayed reads, or reads that never finish.
#[derive(Debug, Clone, Default)]
struct Slow {
    bytes: Bytes,
    open_delay: Duration,
    read_delay: Duration,
    /// Reads from this one on never finish.
    stall_from: Option<usize>,
}

#[derive(Clone)]
struct SlowReader {
    inner: MemoryReader,
    read_delay: Duration,
    stall_from: Option<usize>,
    reads: Arc<AtomicUsize>,
}

impl Source for Slow {
    type Reader = SlowReader;

    async fn open(
        &self,
        resources: &Resources,
    ) -> Result<Opened<SlowReader>, tower_range::OpenError> {
        tokio::time::sleep(self.open_delay).await;
        let Opened {
            metadata, reader, ..
        } = MemorySource::new(self.bytes.clone())
            .open(resources)
            .await?;
        Ok(Opened::new(
            metadata,
            SlowReader {
                inner: reader,
                read_delay: self.read_delay,
                stall_from: self.stall_from,
                reads: Arc::default(),
            },
        ))
    }
}

impl SourceReader for SlowReader {
    type Read = Pin<Box<dyn Future<Output = Result<Bytes, tower_range::Error>> + Send>>;

    fn read_at(&self, offset: u64, len: usize) -> Self::Read {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        let stall = self.stall_from.is_some_and(|from| n >= from);
        let delay = self.read_delay;
        let read = self.inner.read_at(offset, len);
        Box::pin(async move {
            if stall {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(delay).await;
            read.await
        })
    }
}

/// The stack around `path` serving `source`, reading on demand in 8 KiB frames, and the
/// sample at `/video`.
fn slow_app(path: &str, source: Slow, limits: &Limits) -> Router {
    let service = RangeFileService::from_source(source)
        .frame_size(8 * 1024)
        .read_ahead(0);
    let router = Router::new()
        .route_service(path, axum_app::file_service(service, limits))
        .route_service(
            "/video",
            axum_app::file_service(RangeFileService::new(sample_path()), limits),
        );
    axum_app::stack(router, limits)
}

#[tokio::test]
async fn the_timeout_answers_503_when_the_head_is_late() {
    let limits = Limits {
        head_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let source = Slow {
        bytes: Bytes::from(content(1000)),
        open_delay: Duration::from_secs(3),
        ..Slow::default()
    };
    let addr = serve_router(slow_app("/slow", source, &limits)).await;
    let started = Instant::now();
    let reply = get(&http1_client(), addr, "/slow", &[]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn the_timeout_does_not_cut_a_stream_already_started() {
    let limits = Limits {
        head_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    // Ten frames, 100 ms each: the body takes five times the timeout.
    let bytes = Bytes::from(content(80 * 1024));
    let source = Slow {
        bytes: bytes.clone(),
        read_delay: Duration::from_millis(100),
        ..Slow::default()
    };
    let addr = serve_router(slow_app("/slow", source, &limits)).await;
    let started = Instant::now();
    let reply = get(&http1_client(), addr, "/slow", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, bytes);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let reply = get(
        &http1_client(),
        addr,
        "/slow",
        &[("range", "bytes=8192-40959")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, bytes[8192..40960]);
}

#[tokio::test]
async fn a_stalled_source_is_cut_by_the_body_idle_timeout() {
    let limits = Limits {
        body_idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let bytes = Bytes::from(content(80 * 1024));
    let source = Slow {
        bytes: bytes.clone(),
        stall_from: Some(2),
        ..Slow::default()
    };
    let addr = serve_router(slow_app("/slow", source, &limits)).await;
    let started = Instant::now();
    let response = response_head(
        &http1_client(),
        url_request(Method::GET, addr, "/slow", &[]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], "81920");
    let mut body = response.into_body();
    let mut received = Vec::new();
    let outcome = bounded(async {
        loop {
            match body.frame().await {
                Some(Ok(frame)) => received.extend_from_slice(&frame.into_data().unwrap()),
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    })
    .await;
    assert!(outcome.is_err(), "the body must fail, not end");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Two frames were read before the source stalled; no byte beyond them.
    assert!(received.len() <= 16 * 1024, "{}", received.len());
    assert_eq!(received, bytes[..received.len()]);
}

#[tokio::test]
async fn the_concurrency_limit_queues_heads_not_streams() {
    let limits = Limits {
        concurrency: 2,
        ..Limits::default()
    };
    let bytes = Bytes::from(content(64 * 1024));
    let source = Slow {
        bytes: bytes.clone(),
        open_delay: Duration::from_millis(300),
        ..Slow::default()
    };
    let addr = serve_router(slow_app("/slow", source, &limits)).await;

    // Four at once with room for two: all complete, in two waves of opens.
    let started = Instant::now();
    let requests = (0..4).map(|_| async move { get(&http1_client(), addr, "/slow", &[]).await });
    let replies = futures_util::future::join_all(requests).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, bytes);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );

    // Streams hold no slot: with two bodies open whose source has stalled for good, a third
    // request is still answered.
    let stuck = Slow {
        bytes: bytes.clone(),
        stall_from: Some(1),
        ..Slow::default()
    };
    let addr = serve_router(slow_app("/stuck", stuck, &limits)).await;
    let client = http1_client();
    let mut held = Vec::new();
    for _ in 0..2 {
        let response = response_head(&client, url_request(Method::GET, addr, "/stuck", &[])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        let first = bounded(body.frame()).await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), bytes[..8 * 1024]);
        held.push(body);
    }
    let third = get(&http1_client(), addr, "/video", &[("range", "bytes=0-9")]).await;
    assert_eq!(third.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(third.body, sample()[..10]);
    for body in &held {
        assert!(
            !http_body::Body::is_end_stream(body),
            "the held streams are still open"
        );
    }
    drop(held);
}
