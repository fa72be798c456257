//! The benchmark's peer: tower-http 0.6 `ServeFile` inside axum 0.8, serving one file at
//! `/video`, with `TCP_NODELAY` on like the example server. Given a directory instead, it
//! serves the tree with `ServeDir` nested at `/media` (the many-files workload, W7). Only
//! `benches/compare.rs` uses it.
//!
//! ```text
//! cargo run --release --example peer_tower_http [FILE|DIR] [--addr HOST:PORT] [--buf-chunk-size BYTES]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::serve::ListenerExt;
use axum::Router;
use clap::Parser;
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};

#[derive(Parser, Debug)]
#[command(
    about = "Serve one file at /video with tower-http's ServeFile in axum, or a directory at /media with ServeDir"
)]
struct Args {
    /// The file to serve at /video (default: the bundled sample), or a directory to serve at
    /// /media/<path>.
    file: Option<PathBuf>,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8001")]
    addr: SocketAddr,
    /// ServeFile's (or ServeDir's) read chunk size in bytes (tower-http's default: 64 KiB).
    #[arg(long)]
    buf_chunk_size: Option<usize>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let file = args
        .file
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("media/sample.mp4"));
    if let Err(error) = std::fs::metadata(&file) {
        eprintln!("error: {}: {error}", file.display());
        std::process::exit(1);
    }
    let app = if file.is_dir() {
        let mut serve_dir = ServeDir::new(&file);
        if let Some(bytes) = args.buf_chunk_size {
            serve_dir = serve_dir.with_buf_chunk_size(bytes);
        }
        Router::new().nest_service("/media", serve_dir)
    } else {
        let mut serve_file = ServeFile::new(&file);
        if let Some(bytes) = args.buf_chunk_size {
            serve_file = serve_file.with_buf_chunk_size(bytes);
        }
        Router::new().route_service("/video", serve_file)
    };
    let listener = match TcpListener::bind(args.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", args.addr);
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("serving {} at http://{addr}/", file.display());
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, app)
        .await
        .expect("the server runs until killed");
}
