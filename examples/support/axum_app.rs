//! The axum app of `examples/axum.rs`, shared with `tests/axum_stack.rs` so that the tests run
//! exactly the stack the example serves.
//!
//! Layers, outermost first:
//!
//! | layer | scope | why there |
//! | --- | --- | --- |
//! | `TraceLayer` | every route | sees every request, refused or not, and the final status |
//! | `CompressionLayer` ([`compression`]) | every route | compresses the page, never media or ranges |
//! | `TimeoutLayer` (503) | every route | bounds the time to the response head, not the stream |
//! | `GlobalConcurrencyLimitLayer` | every route | bounds requests being opened, not streams |
//! | `SignedUrlLayer` | the video routes | refuses before the file is opened |
//! | `ResponseBodyTimeoutLayer` ([`file_service`]) | the video routes | cuts a body whose source stalls |
//!
//! The caller must require `mod signed_url;` at its crate root (the example and the test both
//! include `support/signed_url.rs` with `#[path]`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::timeout::{ResponseBodyTimeout, TimeoutLayer};
use tower_http::trace::TraceLayer;
use tower_range::{content_type_for_path, RangeFileService, Source};

use crate::signed_url::{SignedUrlLayer, UrlSigner, DEFAULT_TTL};

/// The stack's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time allowed from the request to the response head (`TimeoutLayer`): a source slower to
    /// open than this gets `503`. A body already streaming is not affected.
    pub head_timeout: Duration,
    /// Time a body may wait on its source for one frame (`ResponseBodyTimeoutLayer`); past it
    /// the body fails and the connection is cut. A slow client does not count: only time the
    /// body spends waiting for the source while it is being polled.
    pub body_idle_timeout: Duration,
    /// Requests whose response head is being made at once (`GlobalConcurrencyLimitLayer`);
    /// more wait. Streams do not hold a slot.
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            head_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            concurrency: 64,
        }
    }
}

/// What the example serves.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Served at `/video`.
    pub video: PathBuf,
    /// Served at `/video2` by its own `RangeFileService`.
    pub second: PathBuf,
    /// Signs the URLs the page embeds and checks them on the video routes.
    pub signer: UrlSigner,
    /// How long the embedded URLs stay valid.
    pub url_ttl: Duration,
    /// The stack's limits.
    pub limits: Limits,
}

impl AppConfig {
    /// Serves `video` twice (at `/video` and `/video2`) with a random secret, 6-hour URLs and
    /// the default limits.
    pub fn new(video: impl Into<PathBuf>) -> Self {
        let video = video.into();
        Self {
            second: video.clone(),
            video,
            signer: UrlSigner::random(),
            url_ttl: DEFAULT_TTL,
            limits: Limits::default(),
        }
    }
}

/// The paths of the video routes.
pub const VIDEO_ROUTES: [&str; 2] = ["/video", "/video2"];

/// The whole app: the page at `/`, the videos behind signed URLs, under [`stack`].
pub fn app(config: &AppConfig) -> Router {
    let signed = SignedUrlLayer::new(config.signer.clone());
    let files = [&config.video, &config.second];
    let mut router = Router::new();
    for (route, file) in VIDEO_ROUTES.into_iter().zip(files) {
        let service = ServiceBuilder::new()
            .layer(signed.clone())
            .service(file_service(RangeFileService::new(file), &config.limits));
        router = router.route_service(route, service);
    }
    let page = PageState {
        signer: config.signer.clone(),
        url_ttl: config.url_ttl,
        videos: VIDEO_ROUTES
            .into_iter()
            .zip(files)
            .map(|(route, file)| {
                let content_type = content_type_for_path(file);
                (
                    route,
                    content_type.to_str().unwrap_or("video/mp4").to_owned(),
                )
            })
            .collect(),
    };
    let router = router
        .route("/", get(page_handler))
        .with_state(Arc::new(page))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") });
    stack(router, &config.limits)
}

/// A file route: the service, its body cut when the source stalls for longer than
/// `limits.body_idle_timeout` between two frames. (Only here, not around every route:
/// tower-http's `TimeoutBody` forgets the body's size hint, which the file responses do not
/// need since they carry `Content-Length`.)
pub fn file_service<S: Source>(
    service: RangeFileService<S>,
    limits: &Limits,
) -> ResponseBodyTimeout<RangeFileService<S>> {
    ResponseBodyTimeout::new(service, limits.body_idle_timeout)
}

/// Puts the usual layers around every route of `router`.
pub fn stack(router: Router, limits: &Limits) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .layer(compression())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                limits.head_timeout,
            ))
            .layer(GlobalConcurrencyLimitLayer::new(limits.concurrency)),
    )
}

/// The compression predicate: tower-http's default (not images, gRPC, SSE or tiny bodies),
/// and the crate's [`tower_range::compressible`] (never audio, video, a partial response or
/// a `304`).
pub type MediaAwarePredicate = tower_http::compression::predicate::And<
    DefaultPredicate,
    fn(StatusCode, http::Version, &http::HeaderMap, &http::Extensions) -> bool,
>;

/// gzip and brotli for what compresses (the page), nothing for media or ranges.
///
/// Media is already compressed, so gzip would only burn CPU; worse, a compressed response
/// loses `Content-Length` and `Accept-Ranges`, so a player could no longer seek.
pub fn compression() -> CompressionLayer<MediaAwarePredicate> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .no_deflate()
        .no_zstd()
        .compress_when(media_aware_predicate())
}

/// The predicate of [`compression`].
pub fn media_aware_predicate() -> MediaAwarePredicate {
    DefaultPredicate::new().and(tower_range::compressible as _)
}

struct PageState {
    signer: UrlSigner,
    url_ttl: Duration,
    /// Route and content type of each video.
    videos: Vec<(&'static str, String)>,
}

/// The page, made per request: each load embeds freshly signed URLs.
async fn page_handler(State(page): State<Arc<PageState>>) -> impl IntoResponse {
    let mut videos = String::new();
    for (route, content_type) in &page.videos {
        let url = page.signer.sign(route, page.url_ttl);
        videos.push_str(&format!(
            "<figure>\n<video controls muted playsinline preload=\"metadata\" width=\"480\">\n\
             <source src=\"{}\" type=\"{}\">\n</video>\n<figcaption>{route}</figcaption>\n\
             </figure>\n",
            url.replace('&', "&amp;"),
            content_type.replace(['"', '<', '>', '&'], ""),
        ));
    }
    let hours = page.url_ttl.as_secs() / 3600;
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>tower-range on axum</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}figure{{display:inline-block}}\
         video{{max-width:100%}}</style>\n</head>\n<body>\n<h1>tower-range on axum</h1>\n\
         {videos}<p>The video URLs are signed and expire in {hours} h; reload the page for \
         fresh ones.</p>\n</body>\n</html>\n"
    );
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(html),
    )
}
