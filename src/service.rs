//! The `tower::Service`: a resolver and the pipeline's settings.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use tower_service::Service;

use crate::body::RangeBody;
use crate::budget::ReadAheadBudget;
use crate::future::ResponseFuture;
use crate::pipeline::{respond, Settings};
use crate::rate::RateLimit;
use crate::resolve::Resolver;
use crate::resources::Resources;
use crate::response::{PlanOptions, OWNED_HEADERS};
use crate::source::{BlockingLimit, BufferPool, FileSource};

/// The default frame size: 64 KiB.
pub const DEFAULT_FRAME_SIZE: usize = 64 * 1024;
/// The smallest frame size [`RangeService::frame_size`] takes: 4 KiB, a page. Smaller
/// frames multiply the per-frame work (a read, a wake-up, a write) for no gain.
pub const MIN_FRAME_SIZE: usize = 4 * 1024;
/// The largest frame size [`RangeService::frame_size`] takes: 16 MiB, the largest buffer
/// the frame pool recycles.
pub const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;
/// The default read-ahead depth, in frames.
pub const DEFAULT_READ_AHEAD: usize = 4;

/// Serves what its [`Resolver`] finds for each request, with exact RFC 9110 range and
/// conditional request semantics.
///
/// It answers GET and HEAD (any other method gets `405`), never fails (`Error = Infallible`:
/// a miss becomes its status, see [`OpenErrorKind`](crate::OpenErrorKind)), and streams its
/// body as a [`RangeBody`]. Every service of the crate is this one with another resolver:
/// [`RangeFileService`] has a fixed [`Source`](crate::Source). Cloning is cheap: clones share
/// the resolver and the configuration.
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
pub struct RangeService<R> {
    resolver: Arc<R>,
    settings: Arc<Settings>,
}

/// Serves one representation: a file by default, or any [`Source`](crate::Source).
pub type RangeFileService<S = FileSource> = RangeService<S>;

impl RangeService<FileSource> {
    /// Serves the file at `path`. The file is opened per request, so it may be replaced
    /// while the service runs; a missing file is answered `404`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::from_resolver(FileSource::new(path))
    }
}

impl<R: Resolver> RangeService<R> {
    /// Serves whatever `resolver` finds for each request.
    pub fn from_resolver(resolver: R) -> Self {
        Self {
            resolver: Arc::new(resolver),
            settings: Arc::new(Settings {
                plan: PlanOptions::default(),
                frame_size: DEFAULT_FRAME_SIZE,
                read_ahead: DEFAULT_READ_AHEAD,
                resources: Resources::global(),
                rate_limit: None,
            }),
        }
    }

    /// Serves whatever `source` opens: the same as [`from_resolver`](Self::from_resolver),
    /// since a [`Source`](crate::Source) is a resolver that ignores the request.
    pub fn from_source(source: R) -> Self {
        Self::from_resolver(source)
    }
}

impl<R> RangeService<R> {
    fn settings_mut(&mut self) -> &mut Settings {
        Arc::make_mut(&mut self.settings)
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
        self.settings_mut().frame_size = bytes;
        self
    }

    /// Sets how many frames a body may read ahead of its client (default
    /// [`DEFAULT_READ_AHEAD`]). `0` reads only on demand.
    pub fn read_ahead(mut self, frames: usize) -> Self {
        self.settings_mut().read_ahead = frames;
        self
    }

    /// Draws read-ahead from `budget` (by default, one process-wide budget of
    /// [`DEFAULT_READ_AHEAD_BUDGET`](crate::DEFAULT_READ_AHEAD_BUDGET) bytes).
    pub fn read_ahead_budget(mut self, budget: ReadAheadBudget) -> Self {
        let resources = &mut self.settings_mut().resources;
        *resources = resources.clone().with_budget(budget);
        self
    }

    /// Caps blocking file operations with `limit` (by default, one process-wide cap).
    pub fn blocking_limit(mut self, limit: BlockingLimit) -> Self {
        let resources = &mut self.settings_mut().resources;
        *resources = resources.clone().with_blocking_limit(limit);
        self
    }

    /// Recycles frame buffers through `pool` (by default, one process-wide pool).
    pub fn buffer_pool(mut self, pool: BufferPool) -> Self {
        let resources = &mut self.settings_mut().resources;
        *resources = resources.clone().with_buffer_pool(pool);
        self
    }

    /// Replaces all the shared resources at once.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.settings_mut().resources = resources;
        self
    }

    /// Throttles every response by `limit` (none by default); a representation's limit
    /// ([`Opened::rate_limit`](crate::Opened::rate_limit)) and a request's
    /// ([`SetRateLimitLayer`](crate::rate::SetRateLimitLayer)) win over it. See
    /// [`rate`](crate::rate).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.settings_mut().rate_limit = Some(limit);
        self
    }

    /// Overrides the `Content-Type` the resolver gives.
    pub fn content_type(mut self, content_type: HeaderValue) -> Self {
        self.settings_mut().plan.content_type = Some(content_type);
        self
    }

    /// Sets the most ranges one request may ask for (default
    /// [`DEFAULT_MAX_RANGES`](crate::response::DEFAULT_MAX_RANGES)); a `Range` header with
    /// more is ignored and the whole representation sent. `0` turns ranges off: every `Range`
    /// is ignored, and answers say `Accept-Ranges: none`.
    pub fn max_ranges(mut self, max: usize) -> Self {
        self.settings_mut().plan.max_ranges = max;
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
        self.settings_mut().plan.extra_headers.append(name, value);
        self
    }

    /// The resolver (for a [`RangeFileService`], its source).
    pub fn get_ref(&self) -> &R {
        &self.resolver
    }

    /// The shared resources the service draws on.
    pub fn get_resources(&self) -> &Resources {
        &self.settings.resources
    }

    /// The resolver and the settings, shared, for a request.
    pub(crate) fn parts(&self) -> (Arc<R>, Arc<Settings>) {
        (self.resolver.clone(), self.settings.clone())
    }
}

impl<R> Clone for RangeService<R> {
    fn clone(&self) -> Self {
        Self {
            resolver: self.resolver.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for RangeService<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeService")
            .field("resolver", &self.resolver)
            .field("settings", &self.settings)
            .finish()
    }
}

impl<R: Resolver, B> Service<Request<B>> for RangeService<R> {
    type Response = Response<RangeBody<R::Reader>>;
    type Error = Infallible;
    type Future = ResponseFuture<R::Reader>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The request body is never read; it is dropped here.
        let (head, _) = request.into_parts();
        let resolver = self.resolver.clone();
        let settings = self.settings.clone();
        ResponseFuture::new(async move { respond(&*resolver, &settings, head).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                .settings
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
                    .settings
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
