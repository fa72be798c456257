//! tower-range in an axum 0.8 app: a page at `/` with two videos side by side, `/video` and
//! `/video2`, each its own `RangeFileService` mounted with `route_service`, behind signed,
//! expiring URLs, under compression (never of media), tracing, a timeout and a concurrency
//! limit. The app itself is in `support/axum_app.rs`, which the tests include too.
//!
//! ```text
//! cargo run --example axum [VIDEO] [--second VIDEO] [--addr HOST:PORT] [--url-ttl SECS]
//!                          [--timeout SECS] [--concurrency N]
//! ```
//!
//! The signing secret comes from the `SIGNING_SECRET` environment variable, or is random per
//! run (then a restart invalidates the URLs already handed out).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[path = "support/axum_app.rs"]
#[allow(dead_code)]
mod axum_app;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/startup.rs"]
mod startup;
use startup::{bind, check_file, fail, init_tracing, sample_video, shutdown_signal};
#[path = "support/signed_url.rs"]
#[allow(dead_code)]
mod signed_url;

use axum_app::{AppConfig, Limits};
use signed_url::UrlSigner;

#[derive(Parser, Debug)]
#[command(about = "Serve a video page and two videos with tower-range on axum")]
struct Args {
    /// The video to serve at /video (default: the bundled sample).
    video: Option<PathBuf>,
    /// The video to serve at /video2 (default: the same as /video).
    #[arg(long)]
    second: Option<PathBuf>,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8001")]
    addr: SocketAddr,
    /// How long the signed video URLs stay valid, in seconds.
    #[arg(long, default_value_t = signed_url::DEFAULT_TTL.as_secs())]
    url_ttl: u64,
    /// Time allowed to produce a response head, in seconds (streams are not cut).
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Requests whose response head is being made at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

#[tokio::main]
async fn main() {
    let (_log, _) = init_tracing("info,tower_http=debug");
    let args = Args::parse();
    let video = args.video.clone().unwrap_or_else(sample_video);
    let second = args.second.clone().unwrap_or_else(|| video.clone());
    for file in [&video, &second] {
        check_file(file);
    }
    let signer = match std::env::var("SIGNING_SECRET") {
        Ok(secret) if !secret.is_empty() => UrlSigner::new(secret),
        _ => UrlSigner::random(),
    };
    let config = AppConfig {
        video: video.clone(),
        second,
        signer: signer.clone(),
        url_ttl: Duration::from_secs(args.url_ttl),
        limits: Limits {
            head_timeout: Duration::from_secs(args.timeout),
            concurrency: args.concurrency.max(1),
            ..Limits::default()
        },
    };
    let (listener, addr) = bind(args.addr).await;
    let app = axum_app::app(&config);
    let shutdown = shutdown_signal();
    println!("serving {} at http://{addr}/", video.display());
    println!(
        "signed video URL (valid {} s): http://{addr}{}",
        args.url_ttl,
        signer.sign("/video", config.url_ttl)
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();

    if let Err(error) = serve::serve(listener, app, shutdown).await {
        fail(&format!("server failed: {error}"));
    }
}
