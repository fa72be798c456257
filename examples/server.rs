//! The bundled example server: an HTML page with a `<video>` at `/` and the video at
//! `/video`, over HTTP/1.1 and HTTP/2 (h2c) on one port, built on raw hyper and tower.
//!
//! ```text
//! cargo run --release --example server [VIDEO] [--addr HOST:PORT] [--frame-size BYTES]
//!                                      [--read-ahead FRAMES]
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;
use tower_range::source::{FileReader, MemoryReader};
use tower_range::{content_type_for_path, FileSource, MemorySource, RangeBody, RangeFileService};

#[derive(Parser, Debug)]
#[command(about = "Serve a video page and its video with tower-range")]
struct Args {
    /// The video to serve at /video (default: the bundled sample).
    video: Option<PathBuf>,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// Body frame size in bytes.
    #[arg(long, default_value_t = tower_range::DEFAULT_FRAME_SIZE)]
    frame_size: usize,
    /// Frames each response may read ahead of its client.
    #[arg(long, default_value_t = tower_range::DEFAULT_READ_AHEAD)]
    read_ahead: usize,
}

/// How long a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long streams may run on after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn sample_video() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("media/sample.mp4")
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let video = args.video.clone().unwrap_or_else(sample_video);
    // Fail before binding, with one line, when the video cannot be served.
    match std::fs::File::open(&video).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => fail(&format!("{}: not a regular file", video.display())),
        Err(error) => fail(&format!("{}: {error}", video.display())),
    }
    let listener = match TcpListener::bind(args.addr).await {
        Ok(listener) => listener,
        Err(error) => fail(&format!("cannot listen on {}: {error}", args.addr)),
    };
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let app = App::new(&video, &args);
    // Listen for the signals before announcing the address, so that a script that stops the
    // server as soon as it has read the URL stops it gracefully.
    let shutdown = shutdown_signal();
    println!("serving {} at http://{addr}/", video.display());
    serve(listener, app, shutdown).await;
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM. The handlers are installed at once.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
        let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

async fn serve(listener: TcpListener, app: App, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let connection = graceful.watch(connection.into_owned());
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => {
                tracing::info!("shutting down: no new connections, streams get {SHUTDOWN_GRACE:?}");
                break;
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::info!("grace period over, closing"),
    }
}

/// The whole stack: routes `/` and `/video`, logs each request when its body ends.
#[derive(Clone)]
struct App {
    page: RangeFileService<MemorySource>,
    video: RangeFileService<FileSource>,
}

type RouteBody = Either<RangeBody<MemoryReader>, RangeBody<FileReader>>;

impl App {
    fn new(video: &std::path::Path, args: &Args) -> Self {
        let video_type = content_type_for_path(video);
        let page = MemorySource::new(page_html(video_type.to_str().unwrap_or("video/mp4")))
            .with_content_type(HeaderValue::from_static("text/html; charset=utf-8"));
        Self {
            page: RangeFileService::from_source(page).header(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ),
            video: RangeFileService::new(video)
                .frame_size(args.frame_size)
                .read_ahead(args.read_ahead),
        }
    }
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

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let log = RequestLog {
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            range: request
                .headers()
                .get(http::header::RANGE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            version: request.version(),
            started: Instant::now(),
        };
        let mut app = self.clone();
        Box::pin(async move {
            let response: Response<RouteBody> = match request.uri().path() {
                "/" | "/index.html" => {
                    let Ok(response) = app.page.call(request).await;
                    response.map(Either::Left)
                }
                "/video" => {
                    let Ok(response) = app.video.call(request).await;
                    response.map(Either::Right)
                }
                _ => {
                    let mut response =
                        Response::new(Either::Right(RangeBody::from_bytes("not found\n")));
                    *response.status_mut() = StatusCode::NOT_FOUND;
                    response
                }
            };
            let status = response.status();
            Ok(response.map(|body| Logged::new(body, Arc::new(log), status)))
        })
    }
}

struct RequestLog {
    method: Method,
    path: String,
    range: Option<String>,
    version: http::Version,
    started: Instant,
}

pin_project_lite::pin_project! {
    /// Wraps a response body to write one log line when it ends, fails or is dropped.
    struct Logged<B: Body> {
        #[pin]
        body: B,
        log: Arc<RequestLog>,
        status: StatusCode,
        sent: u64,
        outcome: Option<&'static str>,
    }

    impl<B: Body> PinnedDrop for Logged<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // hyper stops polling a body that says it has ended, so its end may not be seen.
            let ended = this.body.as_ref().get_ref().is_end_stream();
            let outcome = this
                .outcome
                .unwrap_or(if ended { "complete" } else { "aborted" });
            let log = &this.log;
            tracing::info!(
                target: "access",
                "{} {} {:?} range={} status={} bytes={} {} in {:.1?}",
                log.method,
                log.path,
                log.version,
                log.range.as_deref().unwrap_or("-"),
                this.status.as_u16(),
                this.sent,
                outcome,
                log.started.elapsed(),
            );
        }
    }
}

impl<B: Body> Logged<B> {
    fn new(body: B, log: Arc<RequestLog>, status: StatusCode) -> Self {
        Self {
            body,
            log,
            status,
            sent: 0,
            outcome: None,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Logged<B>
where
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.sent += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => *this.outcome = Some("failed"),
            Poll::Ready(None) => {
                this.outcome.get_or_insert("complete");
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
