//! The app of `examples/tonic_web.rs`, shared with `tests/tonic_web.rs`: a gRPC service
//! (`grpc.health.v1.Health`, from tonic-health) served as gRPC-web *and* native gRPC, and the
//! page and `/video` on the same port.
//!
//! tonic-web answers `400` to every HTTP/1.1 request that is not gRPC-web, so the file routes
//! must not sit behind `GrpcWebLayer`. tonic's `Routes` is an axum `Router` inside: the layer
//! goes on the gRPC router alone, and the file routes are merged beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;
use tonic_web::GrpcWebLayer;
use tower::{Layer, ServiceExt};
use tower_http::trace::TraceLayer;
use tower_range::{content_type_for_path, MemorySource, RangeFileService};

/// The health entry that follows the video file: `SERVING` while it is a readable file.
pub const VIDEO_HEALTH: &str = "video";

/// How often the video's health is checked.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// The app, and the reporter that sets the health statuses it serves. Spawns a task that
/// keeps [`VIDEO_HEALTH`] up to date, so it must run inside a Tokio runtime.
pub async fn app(video: &Path) -> (Router, HealthReporter) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(VIDEO_HEALTH, video_status(video))
        .await;
    tokio::spawn(watch_video(reporter.clone(), video.to_owned()));

    // gRPC: native over HTTP/2, gRPC-web over HTTP/1.1 or HTTP/2, thanks to the layer.
    let grpc = tonic::service::Routes::new(health)
        .into_axum_router()
        .layer(GrpcWebLayer::new());

    // The files, beside the gRPC routes and not behind GrpcWebLayer.
    let content_type = content_type_for_path(video);
    let page = MemorySource::new(page_html(content_type.to_str().unwrap_or("video/mp4")))
        .with_content_type(HeaderValue::from_static("text/html; charset=utf-8"));
    let page = RangeFileService::from_source(page)
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let files = Router::new()
        .route_service("/", page.clone())
        .route_service("/index.html", page)
        .route_service("/video", RangeFileService::new(video));

    // `Routes` brings a fallback (gRPC `UNIMPLEMENTED` for every path); merging keeps it, and
    // ours replaces it so that browsers get a 404.
    let router = files
        .merge(grpc)
        .fallback(fallback)
        .layer(TraceLayer::new_for_http());
    (router, reporter)
}

fn video_status(video: &Path) -> ServingStatus {
    match std::fs::metadata(video) {
        Ok(meta) if meta.is_file() => ServingStatus::Serving,
        _ => ServingStatus::NotServing,
    }
}

async fn watch_video(reporter: HealthReporter, video: PathBuf) {
    let mut interval = tokio::time::interval(HEALTH_INTERVAL);
    loop {
        interval.tick().await;
        let status = tokio::task::spawn_blocking({
            let video = video.clone();
            move || video_status(&video)
        })
        .await
        .unwrap_or(ServingStatus::NotServing);
        reporter.set_service_status(VIDEO_HEALTH, status).await;
    }
}

/// gRPC calls to unknown methods get `UNIMPLEMENTED`; anything else a plain 404.
async fn fallback(request: Request) -> Response {
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        // tonic's own answer (an empty `Routes` has only its `UNIMPLEMENTED` fallback),
        // translated for gRPC-web clients by the layer.
        let unimplemented = GrpcWebLayer::new().layer(tonic::service::Routes::default());
        match unimplemented.oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        }
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}

/// The page: the video, and the video's health fetched with a hand-made gRPC-web call.
fn page_html(video_type: &str) -> String {
    let video_type = video_type.replace(['"', '<', '>', '&'], "");
    // HealthCheckRequest { service: "video" }, as one gRPC-web data frame.
    let request = grpc_web_frame(&health_check_request(VIDEO_HEALTH));
    let request_js = request
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>tower-range beside tonic-web</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}video{{max-width:100%}}</style>\n\
         </head>\n<body>\n<h1>tower-range beside tonic-web</h1>\n\
         <video controls muted playsinline preload=\"metadata\" width=\"640\">\n\
         <source src=\"/video\" type=\"{video_type}\">\n</video>\n\
         <p>gRPC-web <code>grpc.health.v1.Health/Check(\"{VIDEO_HEALTH}\")</code>: \
         <span id=\"health\">checking…</span></p>\n\
         <script>\n\
         const names = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];\n\
         fetch('/grpc.health.v1.Health/Check', {{method: 'POST', headers: {{\
         'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1'}}, \
         body: new Uint8Array([{request_js}])}})\n\
         .then(r => r.arrayBuffer()).then(buf => {{\n\
         const b = new Uint8Array(buf);\n\
         let status = 'no answer';\n\
         if (b.length >= 5 && b[0] === 0) {{\n\
         const len = (b[1] << 24) | (b[2] << 16) | (b[3] << 8) | b[4];\n\
         const m = b.subarray(5, 5 + len);\n\
         status = m.length >= 2 && m[0] === 8 ? names[m[1]] : 'UNKNOWN';\n\
         }}\n\
         document.getElementById('health').textContent = status;\n\
         }}).catch(e => document.getElementById('health').textContent = 'error: ' + e);\n\
         </script>\n</body>\n</html>\n"
    )
}

/// A `grpc.health.v1.HealthCheckRequest` in protobuf: field 1, the service name.
pub fn health_check_request(service: &str) -> Vec<u8> {
    assert!(service.len() < 128, "a one-byte length");
    let mut message = vec![0x0a, service.len() as u8];
    message.extend_from_slice(service.as_bytes());
    if service.is_empty() {
        message.clear();
    }
    message
}

/// One gRPC(-web) data frame: flag 0, the length in 4 bytes big-endian, the message.
pub fn grpc_web_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}
