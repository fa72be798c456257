//! tower-range beside a tonic 0.14 gRPC service on one port: `grpc.health.v1.Health` (from
//! tonic-health) as native gRPC (HTTP/2) and as gRPC-web (HTTP/1.1 or HTTP/2, through
//! `tonic_web::GrpcWebLayer`), the page at `/` and the video at `/video`. The page calls the
//! health service with gRPC-web from the browser. The app is in `support/tonic_web_app.rs`,
//! which the tests include too.
//!
//! ```text
//! cargo run --example tonic_web [VIDEO] [--addr HOST:PORT]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[path = "support/serve.rs"]
mod serve;
#[path = "support/startup.rs"]
mod startup;
use startup::{bind, check_file, fail, init_tracing, sample_video, shutdown_signal};
#[path = "support/tonic_web_app.rs"]
#[allow(dead_code)]
mod tonic_web_app;

#[derive(Parser, Debug)]
#[command(about = "Serve a video page and its video beside a gRPC-web service")]
struct Args {
    /// The video to serve at /video (default: the bundled sample).
    video: Option<PathBuf>,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8002")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() {
    let (_log, _) = init_tracing("info,tower_http=debug");
    let args = Args::parse();
    let video = args.video.clone().unwrap_or_else(sample_video);
    check_file(&video);
    let (listener, addr) = bind(args.addr).await;
    let (app, _reporter) = tonic_web_app::app(&video).await;
    let shutdown = shutdown_signal();
    println!("serving {} at http://{addr}/", video.display());
    println!(
        "gRPC and gRPC-web: grpc.health.v1.Health at http://{addr}/ (services \"\" and \"{}\")",
        tonic_web_app::VIDEO_HEALTH
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();

    if let Err(error) = serve::serve(listener, app, shutdown).await {
        fail(&format!("server failed: {error}"));
    }
}
