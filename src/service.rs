//! The `tower::Service`.

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response};
use tower_service::Service;

use crate::body::RangeBody;
use crate::budget::ReadAheadBudget;
use crate::future::ResponseFuture;
use crate::response::{method_not_allowed, open_failed, plan, PlanOptions, ResponsePlan, Segment};
use crate::source::{FileSource, Opened, Source};

/// The default frame size: 64 KiB, provisional until the benchmarks set it.
pub const DEFAULT_FRAME_SIZE: usize = 64 * 1024;
/// The smallest frame size [`RangeFileService::frame_size`] takes: 4 KiB, a page. Smaller
/// frames multiply the per-frame work (a read, a wake-up, a write) for no gain.
pub const MIN_FRAME_SIZE: usize = 4 * 1024;
/// The largest frame size [`RangeFileService::frame_size`] takes: 16 MiB, the largest buffer
/// the frame pool recycles.
pub const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;
/// The default read-ahead depth, in frames.
pub const DEFAULT_READ_AHEAD: usize = 4;
/// The size of the process-wide read-ahead budget that services share unless given their
/// own: 64 MiB.
pub const DEFAULT_READ_AHEAD_BUDGET: u64 = 64 * 1024 * 1024;

/// The headers the service sets itself, which [`RangeFileService::header`] refuses.
const OWNED_HEADERS: [HeaderName; 7] = [
    http::header::CONTENT_LENGTH,
    http::header::CONTENT_RANGE,
    http::header::CONTENT_TYPE,
    http::header::ETAG,
    http::header::LAST_MODIFIED,
    http::header::ACCEPT_RANGES,
    http::header::TRANSFER_ENCODING,
];

/// Serves one representation (a file, by default) with exact RFC 9110 range and conditional
/// request semantics.
///
/// It answers GET and HEAD (any other method gets `405`), never fails (`Error = Infallible`:
/// I/O failures become `404`, `403` or `500`), and streams its body as a [`RangeBody`].
/// Cloning is cheap: clones share the source and the configuration.
///
/// ```
/// use tower_range::RangeFileService;
///
/// let service = RangeFileService::new("media/sample.mp4")
///     .frame_size(128 * 1024)
///     .read_ahead(2)
///     .header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=3600"));
/// # let _ = service;
/// ```
pub struct RangeFileService<S = FileSource> {
    source: Arc<S>,
    config: Arc<Config>,
}

#[derive(Debug, Clone)]
struct Config {
    plan: PlanOptions,
    frame_size: usize,
    read_ahead: usize,
    budget: ReadAheadBudget,
}

impl RangeFileService<FileSource> {
    /// Serves the file at `path`. The file is opened per request, so it may be replaced
    /// while the service runs; a missing file is answered `404`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::from_source(FileSource::new(path))
    }
}

impl<S: Source> RangeFileService<S> {
    /// Serves whatever `source` opens.
    pub fn from_source(source: S) -> Self {
        Self {
            source: Arc::new(source),
            config: Arc::new(Config {
                plan: PlanOptions::default(),
                frame_size: DEFAULT_FRAME_SIZE,
                read_ahead: DEFAULT_READ_AHEAD,
                budget: global_budget().clone(),
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Sets the size of body frames in bytes (default [`DEFAULT_FRAME_SIZE`]).
    ///
    /// # Panics
    ///
    /// When `bytes` is outside [`MIN_FRAME_SIZE`]`..=`[`MAX_FRAME_SIZE`]: a configuration
    /// error, refused when the service is built rather than served slowly.
    pub fn frame_size(mut self, bytes: usize) -> Self {
        assert!(
            (MIN_FRAME_SIZE..=MAX_FRAME_SIZE).contains(&bytes),
            "RangeFileService::frame_size({bytes}): the frame size must be between \
             {MIN_FRAME_SIZE} and {MAX_FRAME_SIZE} bytes"
        );
        self.config_mut().frame_size = bytes;
        self
    }

    /// Sets how many frames a body may read ahead of its client (default
    /// [`DEFAULT_READ_AHEAD`]). `0` reads only on demand.
    pub fn read_ahead(mut self, frames: usize) -> Self {
        self.config_mut().read_ahead = frames;
        self
    }

    /// Shares `budget` for read-ahead with other services. By default every service draws
    /// from one process-wide budget of [`DEFAULT_READ_AHEAD_BUDGET`] bytes.
    pub fn read_ahead_budget(mut self, budget: ReadAheadBudget) -> Self {
        self.config_mut().budget = budget;
        self
    }

    /// Overrides the `Content-Type` the source gives.
    pub fn content_type(mut self, content_type: HeaderValue) -> Self {
        self.config_mut().plan.content_type = Some(content_type);
        self
    }

    /// Sets the most ranges one request may ask for (default
    /// [`DEFAULT_MAX_RANGES`](crate::response::DEFAULT_MAX_RANGES)); a `Range` header with
    /// more is ignored and the whole representation sent. `0` turns ranges off: every `Range`
    /// is ignored, and answers say `Accept-Ranges: none`.
    pub fn max_ranges(mut self, max: usize) -> Self {
        self.config_mut().plan.max_ranges = max;
        self
    }

    /// Adds a header to every `200`, `206` and `304` response, e.g. `Cache-Control`, `Link`
    /// or `Vary`. Calling it again with the same name adds another field line.
    ///
    /// # Panics
    ///
    /// For a header the service sets itself: `Content-Length`, `Content-Range`,
    /// `Content-Type` (set it with [`content_type`](Self::content_type)), `ETag`,
    /// `Last-Modified`, `Accept-Ranges` and `Transfer-Encoding`. A second value of one of
    /// them would contradict the response (hyper panics on a wrong `Content-Length`), so
    /// this is refused when the service is built.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        assert!(
            !OWNED_HEADERS.contains(&name),
            "RangeFileService::header({name}): the service sets {name} itself{}",
            if name == http::header::CONTENT_TYPE {
                "; use RangeFileService::content_type to override it"
            } else {
                ""
            }
        );
        self.config_mut().plan.extra_headers.append(name, value);
        self
    }

    /// The source.
    pub fn get_ref(&self) -> &S {
        &self.source
    }
}

impl<S> Clone for RangeFileService<S> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for RangeFileService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeFileService")
            .field("source", &self.source)
            .field("config", &self.config)
            .finish()
    }
}

impl<S: Source, B> Service<Request<B>> for RangeFileService<S> {
    type Response = Response<RangeBody<S::Reader>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Reader>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The request body is never read; it is dropped here.
        let (head, _) = request.into_parts();
        if head.method != Method::GET && head.method != Method::HEAD {
            return ResponseFuture::new(std::future::ready(text_response(method_not_allowed())));
        }
        let source = self.source.clone();
        let config = self.config.clone();
        ResponseFuture::new(async move {
            match source.open().await {
                Ok(Opened { metadata, reader }) => {
                    let plan = plan(
                        &head.method,
                        &head.headers,
                        &metadata,
                        &config.plan,
                        SystemTime::now(),
                        new_boundary,
                    );
                    let (mut parts, ()) = Response::new(()).into_parts();
                    parts.status = plan.status;
                    parts.headers = plan.headers;
                    let body = RangeBody::new(
                        reader,
                        plan.body,
                        config.frame_size,
                        config.read_ahead,
                        Some(config.budget.clone()),
                    );
                    Response::from_parts(parts, body)
                }
                Err(error) => {
                    if error.kind().is_miss() {
                        tracing::debug!(%error, uri = %head.uri, "nothing to serve");
                    } else {
                        tracing::warn!(%error, uri = %head.uri, "opening the source failed");
                    }
                    text_response(open_failed(error.kind()))
                }
            }
        })
    }
}

/// A response whose body is in the plan: no source involved.
fn text_response<R: crate::SourceReader>(plan: ResponsePlan) -> Response<RangeBody<R>> {
    let chunks: Vec<Bytes> = plan
        .body
        .into_iter()
        .filter_map(|segment| match segment {
            Segment::Bytes(bytes) => Some(bytes),
            Segment::Region(_) => None,
        })
        .collect();
    let mut response = Response::new(RangeBody::from_chunks(chunks));
    *response.status_mut() = plan.status;
    *response.headers_mut() = plan.headers;
    response
}

fn global_budget() -> &'static ReadAheadBudget {
    static GLOBAL: OnceLock<ReadAheadBudget> = OnceLock::new();
    GLOBAL.get_or_init(|| ReadAheadBudget::new(DEFAULT_READ_AHEAD_BUDGET))
}

/// A multipart boundary: 32 hex digits from the standard library's randomly keyed hasher, so
/// that a client cannot predict it and plant it in a file.
fn new_boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let keys = RandomState::new();
    format!("{:016x}{:016x}", keys.hash_one(n), keys.hash_one(!n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_long_and_distinct() {
        let a = new_boundary();
        let b = new_boundary();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    #[should_panic(expected = "use RangeFileService::content_type")]
    fn a_content_type_header_is_refused() {
        let _ = RangeFileService::new("x").header(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("video/mp4"),
        );
    }

    #[test]
    fn every_owned_header_is_refused_and_others_repeat() {
        for name in OWNED_HEADERS {
            let refused = std::panic::catch_unwind(|| {
                RangeFileService::new("x").header(name.clone(), HeaderValue::from_static("1"))
            });
            assert!(refused.is_err(), "{name} was accepted");
        }
        let service = RangeFileService::new("x")
            .header(http::header::LINK, HeaderValue::from_static("<a>"))
            .header(http::header::LINK, HeaderValue::from_static("<b>"));
        assert_eq!(
            service
                .config
                .plan
                .extra_headers
                .get_all("link")
                .iter()
                .count(),
            2
        );
    }

    #[test]
    fn frame_sizes_outside_the_bounds_are_refused() {
        for bytes in [0, 1, MIN_FRAME_SIZE - 1, MAX_FRAME_SIZE + 1] {
            let refused = std::panic::catch_unwind(|| RangeFileService::new("x").frame_size(bytes));
            assert!(refused.is_err(), "{bytes} was accepted");
        }
        for bytes in [MIN_FRAME_SIZE, DEFAULT_FRAME_SIZE, MAX_FRAME_SIZE] {
            assert_eq!(
                RangeFileService::new("x")
                    .frame_size(bytes)
                    .config
                    .frame_size,
                bytes
            );
        }
    }

    #[test]
    fn the_service_is_clone_send_sync_and_static() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<RangeFileService>();
        check::<RangeFileService<crate::MemorySource>>();
    }
}
