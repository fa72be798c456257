//! The bundled example server: an HTML page with a `<video>` at `/` and the video at
//! `/video`, over HTTP/1.1 and HTTP/2 (h2c) on one port, built on raw hyper and tower. Given a
//! directory instead of a video (Unix), it serves the tree at `/media/<path>` and a library
//! page at `/`. Given an object-store URL (built with `--features aws`, `gcp` or `azure`), it
//! serves the object at `/video` (`s3://BUCKET/KEY`) or the keys under a prefix at
//! `/media/<key>` with a library page (`s3://BUCKET/PREFIX/`); see `support/store.rs`.
//!
//! ```text
//! cargo run --release --example server [VIDEO] [--addr HOST:PORT] [--frame-size BYTES]
//!                                      [--read-ahead FRAMES] [--limit-rate BYTES]
//!                                      [--limit-rate-after BYTES] [--cors-origin ORIGIN]...
//!                                      [--open-file-cache SECONDS] [--open-file-cache-max FILES]
//! ```
//!
//! Built with `--features metrics`, `--metrics-addr HOST:PORT` serves the library's metrics in
//! Prometheus text format at `http://HOST:PORT/metrics`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use clap::Parser;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;

#[path = "support/access_log.rs"]
mod access_log;
#[path = "support/cors.rs"]
mod cors;
// The directory mode (Unix) and the store's prefix mode share the library page.
#[cfg(any(unix, feature = "aws", feature = "gcp", feature = "azure"))]
#[path = "support/library.rs"]
mod library;
#[path = "support/metrics_endpoint.rs"]
mod metrics_endpoint;
#[path = "support/startup.rs"]
mod startup;
#[path = "support/store.rs"]
mod store;
#[path = "support/watchdog.rs"]
mod watchdog;
use access_log::{Logged, RequestLog};
use startup::{bind, check_file, init_tracing, sample_video, shutdown_signal};
use tower_range::rate::RateLimit;
use tower_range::source::{FileReader, MemoryReader};
use tower_range::{
    content_type_for_path, FileSource, MemorySource, RangeBody, RangeFileService, RangeService,
    ReadAheadBudget,
};
use watchdog::{Activity, Limits};

#[derive(Parser, Debug)]
#[command(about = "Serve a video page and its video with tower-range")]
struct Args {
    /// The video to serve at /video (default: the bundled sample), or a directory to serve
    /// at /media/ with a library page at / (Unix). Or an object-store URL: s3://BUCKET/KEY
    /// serves that object at /video, s3://BUCKET/PREFIX/ (ending with /) the keys under the
    /// prefix at /media/ with a library page at /; gs:// and az:// likewise. Needs the server
    /// built with --features aws (s3://), gcp (gs://) or azure (az://); credentials, region
    /// and endpoint come from the provider's environment variables (AWS_REGION,
    /// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID…).
    video: Option<PathBuf>,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// Body frame size in bytes; outside 4096..=16777216 it is clamped (with a warning).
    #[arg(long, default_value_t = tower_range::DEFAULT_FRAME_SIZE)]
    frame_size: usize,
    /// Frames each response may read ahead of its client.
    #[arg(long, default_value_t = tower_range::DEFAULT_READ_AHEAD)]
    read_ahead: usize,
    /// Bytes all responses together may hold in frames read ahead.
    #[arg(long, default_value_t = tower_range::DEFAULT_READ_AHEAD_BUDGET)]
    read_ahead_budget: u64,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 16_384)]
    max_connections: usize,
    /// Seconds an HTTP/1 client may take to send a request head once it has begun it.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a connection may stay without a request in progress (before its first
    /// request, and between keep-alive requests) before it is closed.
    #[arg(long, default_value_t = 30)]
    idle_timeout: u64,
    /// Seconds a response may go without the connection taking its bytes (a client that
    /// stopped reading) before the connection is closed; a response waiting on its rate
    /// limit is not stalled.
    #[arg(long, default_value_t = 60)]
    send_timeout: u64,
    /// Limits each media response to this many bytes a second after `--limit-rate-after`
    /// (nginx's `limit_rate`; `k`, `m`, `g` suffixes are 1024-multiples; 0 is no limit).
    #[arg(long, default_value = "0", value_parser = parse_size)]
    limit_rate: u64,
    /// Sends this many bytes of each media response at full speed before `--limit-rate`
    /// applies (nginx's `limit_rate_after`).
    #[arg(long, default_value = "0", value_parser = parse_size)]
    limit_rate_after: u64,
    /// Lets pages on ORIGIN (`scheme://host[:port]`) play the media cross-origin
    /// (`<video crossorigin>`, `<track>`, `fetch`): CORS headers on every answer, `OPTIONS`
    /// preflights answered. Repeatable; `*` allows any origin. Off by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Keeps served files open between requests for up to this many seconds after each open
    /// (nginx's `open_file_cache … valid=`); each request revalidates the handle with one
    /// `fstat`, so a file rewritten, replaced or deleted is seen at once. 0 (the default) opens
    /// the file on every request.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    open_file_cache: f64,
    /// The most files the open-file cache holds open at once (directory mode).
    #[arg(long, value_name = "FILES", default_value_t = 10_000)]
    open_file_cache_max: usize,
    /// Serve metrics in Prometheus text format at http://HOST:PORT/metrics (off by default;
    /// needs the server built with `--features metrics`).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<SocketAddr>,
}

impl Args {
    /// `--open-file-cache` as a duration; a negative or unreadable number is no cache.
    fn open_file_cache_window(&self) -> Duration {
        Duration::try_from_secs_f64(self.open_file_cache).unwrap_or(Duration::ZERO)
    }
}

/// A size as nginx writes it: bytes, or with a `k`, `m` or `g` suffix (1024-multiples).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 'b'),
    };
    let scale: u64 = match unit {
        'b' => 1,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        _ => return Err(format!("{text}: the unit must be k, m or g")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text}: not a size (e.g. 500k)"))?;
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text}: too large"))
}

/// `--frame-size` within the bounds the library takes. Clamped rather than refused, because
/// the command line is a contract and older scripts may pass smaller sizes.
fn bounded_frame_size(asked: usize) -> usize {
    let bytes = asked.clamp(tower_range::MIN_FRAME_SIZE, tower_range::MAX_FRAME_SIZE);
    if bytes != asked {
        tracing::warn!("--frame-size {asked} is out of bounds: using {bytes}");
    }
    bytes
}

/// The media service as the command line sets it.
fn configure<R>(service: RangeService<R>, args: &Args, budget: ReadAheadBudget) -> RangeService<R> {
    service
        .frame_size(bounded_frame_size(args.frame_size))
        .read_ahead(args.read_ahead)
        .read_ahead_budget(budget)
        .rate_limit(RateLimit::new(args.limit_rate).after(args.limit_rate_after))
}

/// The most an HTTP/1 request head may weigh (hyper also caps it at 100 header fields), and
/// the most hyper queues for writing on one connection before it stops asking the body for
/// frames. Small, so that a client that stops reading pins about one frame in hyper (measured
/// with 2,000 stalled streams: 86 KiB a connection at 16 KiB, 146 KiB at 64 KiB); a request
/// head larger than this is answered `431`.
const HTTP1_MAX_BUF: usize = 16 * 1024;
/// The most an HTTP/2 request's header list may weigh.
const HTTP2_MAX_HEADER_LIST: u32 = 16 * 1024;
/// Streams one HTTP/2 connection may have open at once.
const HTTP2_MAX_STREAMS: u32 = 128;
/// How long streams may run on after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn main() {
    // Dropped last, after the runtime and the last flush of the access lines: the runtime
    // drops the connections still open at the end of the grace period, their access lines
    // are flushed after it, and written when this guard goes.
    let (log, writer) = init_tracing("info");
    access_log::install(writer);
    let runtime = tokio::runtime::Runtime::new()
        .unwrap_or_else(|error| startup::fail(&format!("cannot start the runtime: {error}")));
    runtime.block_on(async {
        access_log::flush_every_second();
        run(Args::parse()).await
    });
    drop(runtime);
    access_log::flush();
    drop(log);
}

async fn run(args: Args) {
    let video = args.video.clone().unwrap_or_else(sample_video);
    // Fail before binding, with one line, when the video cannot be served.
    let app = match store::url_and_feature(&video) {
        Some((url, feature)) => store::app(url, feature, &args).await,
        None if video.is_dir() => App::library(&video, &args),
        None => {
            check_file(&video);
            App::new(&video, &args)
        }
    };
    // Before the media listener, so that a refused flag or a busy port fails first.
    let metrics_addr = match args.metrics_addr {
        Some(addr) => Some(metrics_endpoint::start(addr).await),
        None => None,
    };
    let (listener, addr) = bind(args.addr).await;
    let shutdown = shutdown_signal();
    let limits = Limits {
        max_connections: args.max_connections.max(1),
        header: Duration::from_secs(args.header_timeout),
        idle: Duration::from_secs(args.idle_timeout),
        send: Duration::from_secs(args.send_timeout),
    };
    // The `serving` line first: scripts read the media address from the first line.
    println!("serving {} at http://{addr}/", video.display());
    if let Some(metrics_addr) = metrics_addr {
        println!("metrics at http://{metrics_addr}/metrics");
    }
    serve(listener, app, limits, shutdown).await;
}

async fn serve(
    listener: TcpListener,
    app: App,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header)
        .max_buf_size(HTTP1_MAX_BUF);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(HTTP2_MAX_HEADER_LIST)
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: beyond the limit, connections queue in the
        // kernel's listen backlog instead of taking memory here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Typically out of file descriptors: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let activity = Arc::new(Activity::new());
                let service = TowerToHyperService::new(app.for_connection(activity.clone()));
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let connection = graceful.watch(connection.into_owned());
                tokio::spawn(async move {
                    let _slot = slot;
                    tokio::select! {
                        result = connection => {
                            if let Err(error) = result {
                                tracing::debug!(%error, "connection ended with an error");
                            }
                        }
                        reason = activity.expired(limits) => {
                            tracing::debug!("closing connection: {reason}");
                        }
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down: no new connections, streams get {SHUTDOWN_GRACE:?}");
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::info!("grace period over, closing"),
    }
}

/// The whole stack: logs each request when its body ends and reports to the connection's
/// watchdog; then the CORS layer when `--cors-origin` is given (so that its preflights are
/// logged too), then the routes.
#[derive(Clone)]
struct App {
    routes: cors::MaybeCors<Routes>,
    activity: Option<Arc<Activity>>,
}

/// The routes: `/` and `/video` (or `/media/…`).
#[derive(Clone)]
struct Routes {
    page: RangeFileService<MemorySource>,
    media: Media,
}

/// What the server serves besides its page.
#[derive(Clone)]
enum Media {
    /// One video at `/video`.
    Video(RangeFileService<FileSource>),
    /// A tree at `/media/…`.
    #[cfg(unix)]
    Library(tower_range::dir::RangeDirService),
    /// An object at `/video`, or the keys under a prefix at `/media/…`.
    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    Store(store::StoreMedia),
}

/// The page's body, a file's, or an object's.
type Bodies = Either<Either<RangeBody<MemoryReader>, RangeBody<FileReader>>, store::Body>;

/// A route's body; or none, for the preflights the CORS layer answers.
type RouteBody = cors::OrEmpty<Bodies>;

impl App {
    fn new(video: &std::path::Path, args: &Args) -> Self {
        Self::assemble(video_page(video), args, |budget| {
            let source = FileSource::new(video).open_file_cache(args.open_file_cache_window());
            Media::Video(configure(
                RangeFileService::from_source(source),
                args,
                budget,
            ))
        })
    }

    /// The directory mode: the tree at `/media/…`, the library page at `/`.
    #[cfg(unix)]
    fn library(root: &std::path::Path, args: &Args) -> Self {
        use tower_range::dir::{DirResolver, RangeDirService};
        let resolver = match DirResolver::new(root) {
            Ok(resolver) => resolver
                .download_query("download")
                .open_file_cache(args.open_file_cache_window(), args.open_file_cache_max),
            Err(error) => startup::fail(&format!("{}: {error}", root.display())),
        };
        let page = library::library_page(&library::walk(root));
        Self::assemble(page, args, |budget| {
            Media::Library(configure(
                RangeDirService::from_resolver(resolver),
                args,
                budget,
            ))
        })
    }

    /// The page (revalidated on every load) and the media, sharing one read-ahead budget;
    /// the CORS layer in front when `--cors-origin` is given.
    fn assemble(html: String, args: &Args, media: impl FnOnce(ReadAheadBudget) -> Media) -> Self {
        let cors = cors::layer(&args.cors_origins).unwrap_or_else(|error| startup::fail(&error));
        if cors.is_some() {
            tracing::info!(
                "cross-origin requests allowed from {}",
                args.cors_origins.join(", ")
            );
        }
        let budget = ReadAheadBudget::new(args.read_ahead_budget);
        let page = MemorySource::new(html)
            .with_content_type(HeaderValue::from_static("text/html; charset=utf-8"));
        let routes = Routes {
            page: RangeFileService::from_source(page)
                .header(
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-cache"),
                )
                .read_ahead_budget(budget.clone()),
            media: media(budget),
        };
        Self {
            routes: cors::in_front(cors.as_ref(), routes),
            activity: None,
        }
    }

    #[cfg(not(unix))]
    fn library(root: &std::path::Path, _: &Args) -> Self {
        startup::fail(&format!(
            "{}: serving a directory needs Unix",
            root.display()
        ))
    }

    /// The stack for one connection, reporting to its watchdog.
    fn for_connection(&self, activity: Arc<Activity>) -> Self {
        Self {
            activity: Some(activity),
            ..self.clone()
        }
    }
}

/// The page for one video, named `video` (its extension gives the `<source>`'s type).
fn video_page(video: &std::path::Path) -> String {
    let video_type = content_type_for_path(video);
    page_html(video_type.to_str().unwrap_or("video/mp4"))
}

fn page_html(video_type: &str) -> String {
    let video_type = video_type.replace('"', "");
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>tower-range</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}video{{max-width:100%}}</style>\n\
         </head>\n<body>\n<h1>tower-range</h1>\n\
         <video id=\"video\" controls muted playsinline preload=\"metadata\" width=\"640\">\n\
         <source src=\"/video\" type=\"{video_type}\">\n</video>\n</body>\n</html>\n"
    )
}

impl Service<Request<Incoming>> for App {
    type Response = Response<Logged<RouteBody>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.routes.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        if let Some(activity) = &self.activity {
            activity.request_started();
        }
        // Built only when the access log is on: a server with it off pays nothing for it.
        let log = tracing::enabled!(target: "access", tracing::Level::INFO)
            .then(|| Arc::new(RequestLog::of(&request)));
        let routed = self.routes.call(request);
        let activity = self.activity.clone();
        Box::pin(async move {
            let Ok(response) = routed.await;
            let status = response.status();
            Ok(response.map(|body| Logged::new(body, log, status, activity)))
        })
    }
}

/// The page's body as a route's.
fn page_body(body: RangeBody<MemoryReader>) -> Bodies {
    Either::Left(Either::Left(body))
}

/// A file's body (or a fixed answer's) as a route's.
fn file_body(body: RangeBody<FileReader>) -> Bodies {
    Either::Left(Either::Right(body))
}

/// What a route answers, boxed: each route has a future of its own type.
type RouteFuture = Pin<Box<dyn Future<Output = Result<Response<RouteBody>, Infallible>> + Send>>;

/// A route's answer, its body made a [`RouteBody`].
fn routed<B: 'static, F>(answer: F, body: fn(B) -> Bodies) -> RouteFuture
where
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
{
    Box::pin(async move {
        let Ok(response) = answer.await;
        Ok(response.map(|b| cors::OrEmpty::new(body(b))))
    })
}

impl Service<Request<Incoming>> for Routes {
    type Response = Response<RouteBody>;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let path = request.uri().path();
        match (&mut self.media, path) {
            (_, "/" | "/index.html") => routed(self.page.call(request), page_body),
            (Media::Video(video), "/video") => routed(video.call(request), file_body),
            #[cfg(unix)]
            (Media::Library(media), _) if library::under_media(path) => {
                routed(media.call(library::strip_media_prefix(request)), file_body)
            }
            #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
            (Media::Store(media), _) if media.serves(path) => media.call(request),
            _ => {
                let body = file_body(RangeBody::from_bytes("not found\n"));
                let mut response = Response::new(cors::OrEmpty::new(body));
                *response.status_mut() = StatusCode::NOT_FOUND;
                Box::pin(std::future::ready(Ok(response)))
            }
        }
    }
}
