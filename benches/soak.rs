//! Issue 6's soak benchmark: the release example server in a child process, driven over
//! real TCP on 127.0.0.1, first by a soak of mixed requests with every byte checked, then
//! by ten thousand concurrent connections.
//!
//! ```text
//! cargo bench --bench soak
//! ```
//!
//! 1. Builds `target/release/examples/server` (`cargo build --release --example server`),
//!    writes a deterministic 256 MiB file `target/soak-data/soak-256MiB.mp4` (kept when its
//!    bytes are already right) and raises the soft `RLIMIT_NOFILE` to the hard limit (the
//!    server inherits it).
//! 2. SOAK (server with its defaults): 10,000 requests from 200 concurrent connections,
//!    150 HTTP/1.1 keep-alive and 50 HTTP/2 (prior knowledge): full GETs, single ranges,
//!    multi-ranges, conditional requests (`If-None-Match`, `If-Modified-Since`, `If-Range`
//!    current and stale, `If-Match` right and wrong), HEAD, unsatisfiable ranges and aborted
//!    downloads. Every status, key header and body byte is checked against the file.
//! 3. CONNECTIONS, on a fresh server per read-ahead budget (the default 64 MiB, then
//!    8 MiB), two rounds each: 5,000 stalled downloads (`GET /video`, `Range: bytes=0-`,
//!    the head read, then never another byte) and 5,000 idle connections (nothing sent), all
//!    open at once; the server's RSS and fds are measured, five fresh `Range: bytes=0-1023`
//!    requests on new connections are checked and timed, then all are closed and the server
//!    measured again. Connections open in batches of 100 that the server must accept before
//!    the next (its listen backlog is 128), so all are in within a few seconds, well inside
//!    the server's 30 s idle and 60 s send timeouts. The clients clamp their MSS to 1460
//!    (an Internet path's, instead of loopback's 64 KiB) and their receive buffer to 4 KiB,
//!    so that the kernel memory of 5,000 full socket buffers (about 1 GiB, mostly the
//!    server's send buffers) stays below `net.ipv4.tcp_mem` on a shared machine.
//!
//! It prints a summary table and exits non-zero when any check failed. Environment
//! variables (all optional): `SOAK_REQUESTS` (10000), `SOAK_CONCURRENCY` (200),
//! `SOAK_H2_PERCENT` (25), `SOAK_FILE_MIB` (256), `SOAK_CONNECTIONS` (10000),
//! `SOAK_STALLED` (half of them), `SOAK_BUDGETS` (`default,8388608`), `SOAK_ROUNDS` (2),
//! `SOAK_SEED`, `SOAK_BUILD=0` (use the existing binary), `SOAK_SERVER` (path of the server
//! binary; it is started as `SERVER FILE --addr 127.0.0.1:0 [--read-ahead-budget N]`).
//! See SOAK.md for the figures.
//!
//! This file is the sequence of steps; each concern lives in `benches/soak/` under its own
//! name, and what the soak shares with `benches/compare.rs` in `benches/support/`.

#[path = "soak/check.rs"]
mod check;
#[path = "soak/client.rs"]
mod client;
#[path = "soak/client_sockets.rs"]
mod client_sockets;
#[path = "soak/config.rs"]
mod config;
#[path = "soak/connections.rs"]
mod connections;
#[path = "soak/data_file.rs"]
mod data_file;
#[path = "soak/execute.rs"]
mod execute;
#[path = "soak/mixed_requests.rs"]
mod mixed_requests;
#[path = "soak/multipart.rs"]
mod multipart;
#[path = "soak/request_mix.rs"]
mod request_mix;
#[path = "soak/server.rs"]
mod server;
#[path = "soak/summary.rs"]
mod summary;

#[path = "support/atomic_file.rs"]
mod atomic_file;
#[path = "support/env.rs"]
mod env;
#[path = "support/example_server.rs"]
mod example_server;
#[path = "support/nofile.rs"]
mod nofile;
#[path = "support/procfs.rs"]
#[allow(dead_code)] // The CPU readers are compare's and throttled's.
mod procfs;
#[path = "support/splitmix.rs"]
mod splitmix;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use config::Config;
use connections::ConnReport;
use mixed_requests::SoakReport;
use server::Server;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
/// The server's default read-ahead budget, for the table.
const DEFAULT_BUDGET: u64 = 64 * MIB;

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--help") {
        println!("soak: bench");
        return;
    }
    let mut config = Config::from_env();
    let mut notes: Vec<String> = config.fit_to_open_files().into_iter().collect();
    let load_start = load_average();
    let version = config.server_version();
    server::ensure_binary(&config);
    let (data, file) = data_file::prepare(&config);
    let mut failed: Vec<String> = Vec::new();
    let (soak_report, conn_reports, total_secs) =
        run_phases(&config, data, &file, &mut notes, &mut failed);
    let load_end = load_average();
    summary::print_soak(&config, &soak_report, &mut failed);
    summary::print_connections(&config, &conn_reports, &mut failed);
    summary::print_footer(&version, total_secs, &load_start, &load_end, &notes);
    summary::exit_with_verdict(&failed);
}

/// Both phases on one runtime, each on a fresh server; returns their reports and the wall
/// time they took.
fn run_phases(
    config: &Config,
    data: &'static [u8],
    file: &Path,
    notes: &mut Vec<String>,
    failed: &mut Vec<String>,
) -> (SoakReport, Vec<ConnReport>, f64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let began = Instant::now();
    let (soak_report, conn_reports) = runtime.block_on(async {
        let soak_report = soak_phase(config, data, file, notes, failed).await;
        let mut conn_reports = Vec::new();
        for budget in &config.budgets {
            conn_reports.push(connections_phase(config, data, file, *budget, notes, failed).await);
        }
        (soak_report, conn_reports)
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    (soak_report, conn_reports, began.elapsed().as_secs_f64())
}

/// SOAK, with the server's defaults.
async fn soak_phase(
    config: &Config,
    data: &'static [u8],
    file: &Path,
    notes: &mut Vec<String>,
    failed: &mut Vec<String>,
) -> SoakReport {
    let server = Server::start(&config.server, file, &[]);
    let ctx = Arc::new(check::context(&server, data, config.file_len).await);
    eprintln!(
        "soak: {} requests over {} connections against {} (ETag {})",
        config.requests, config.concurrency, server.addr, ctx.validators.etag
    );
    let report = mixed_requests::soak(config, &server, ctx).await;
    server.retire("soak server", "soak server", notes, failed);
    report
}

/// CONNECTIONS for one read-ahead budget (`None`: the server's default).
async fn connections_phase(
    config: &Config,
    data: &'static [u8],
    file: &Path,
    budget: Option<u64>,
    notes: &mut Vec<String>,
    failed: &mut Vec<String>,
) -> ConnReport {
    let extra: Vec<String> = budget
        .map(|b| vec!["--read-ahead-budget".to_string(), b.to_string()])
        .unwrap_or_default();
    let server = Server::start(&config.server, file, &extra);
    let ctx = Arc::new(check::context(&server, data, config.file_len).await);
    let report = connections::connections(
        config,
        &server,
        ctx,
        budget.unwrap_or(DEFAULT_BUDGET),
        config.rounds,
    )
    .await;
    let who = format!("server {}", server.args);
    let failure = format!("connections server {}", report.server_args);
    server.retire(&who, &failure, notes, failed);
    report
}

fn load_average() -> String {
    procfs::load_average().unwrap_or_else(|| "?".into())
}

/// Ends the bench on a setup error: nothing was measured.
fn fatal(message: &str) -> ! {
    eprintln!("soak: error: {message}");
    std::process::exit(2);
}
