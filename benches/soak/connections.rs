//! CONNECTIONS: rounds of thousands of stalled downloads and idle connections held open at
//! once against one server, its memory and descriptors measured with them open and after
//! they close, and fresh requests timed meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, StatusCode};
use http_body_util::Empty;

use crate::check::{check_header, check_status, check_stream, Ctx, Progress};
use crate::client::{Conn, Proto};
use crate::client_sockets::{open_many, States};
use crate::config::Config;
use crate::server::{ProcStats, Server};
use crate::MIB;

/// One round: all connections opened, measured, then closed.
pub struct Round {
    pub stalled_ok: usize,
    pub idle_ok: usize,
    pub open_secs: f64,
    pub listen_overflows: u64,
    pub after_stalled: ProcStats,
    pub during: ProcStats,
    pub fd_sockets: u64,
    pub fd_others: u64,
    pub stalled_states: States,
    pub idle_states: States,
    pub oldest_idle_secs: f64,
    pub oldest_stalled_secs: f64,
    pub kernel_tcp_mib: f64,
    pub fresh: Vec<Result<Duration, String>>,
    pub after: ProcStats,
    pub fresh_after: Result<Duration, String>,
}

pub struct ConnReport {
    pub server_args: String,
    pub budget: u64,
    pub wanted: usize,
    pub base: ProcStats,
    pub base_sockets: u64,
    pub kernel_tcp_base_mib: f64,
    pub rounds: Vec<Round>,
    pub failures: Vec<String>,
}

/// A fresh connection, `GET /video` with `Range: bytes=0-1023`, checked; its time.
async fn fresh_request(ctx: &Ctx) -> Result<Duration, String> {
    let began = Instant::now();
    let attempt = async {
        let mut conn = Conn::connect(ctx.addr, Proto::H1).await?;
        let request = Request::builder()
            .uri("/video")
            .header("host", ctx.addr.to_string())
            .header("range", "bytes=0-1023")
            .body(Empty::new())
            .unwrap();
        let response = conn.send(request).await?;
        let (parts, mut body) = response.into_parts();
        check_status(&parts, StatusCode::PARTIAL_CONTENT)?;
        check_header(
            &parts,
            "content-range",
            &format!("bytes 0-1023/{}", ctx.len),
        )?;
        let mut progress = Progress::default();
        check_stream(&mut body, 0, 1024, None, ctx, &mut progress).await?;
        Ok::<_, String>(began.elapsed())
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .unwrap_or_else(|_| Err("not answered within 10 s".into()))
}

/// Waits (at most 10 s) until the server holds `fds` descriptors, then (at most 6 s) until
/// its RSS levels off; returns its figures then.
async fn level_off(server: &Server, fds: u64) -> ProcStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().fds < fds && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut previous = server.stats();
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = server.stats();
        let steady = now.rss_kib.abs_diff(previous.rss_kib) < 1024;
        previous = now;
        if steady || Instant::now() > deadline {
            return now;
        }
    }
}

pub async fn connections(
    config: &Config,
    server: &Server,
    ctx: Arc<Ctx>,
    budget: u64,
    rounds: usize,
) -> ConnReport {
    let base = server.baseline().await;
    let (base_sockets, _) = server.fd_kinds();
    let kernel_tcp_base_mib = kernel_tcp_mem_mib();
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for round in 1..=rounds {
        report.push(connection_round(config, server, &ctx, &base, round, &mut failures).await);
    }
    ConnReport {
        server_args: server.args.clone(),
        budget,
        wanted: config.connections,
        base,
        base_sockets,
        kernel_tcp_base_mib,
        rounds: report,
        failures,
    }
}

async fn connection_round(
    config: &Config,
    server: &Server,
    ctx: &Arc<Ctx>,
    base: &ProcStats,
    round: usize,
    failures: &mut Vec<String>,
) -> Round {
    let stalled_count = config.stalled;
    let idle_count = config.connections - stalled_count;
    eprintln!(
        "connections {}, round {round}: opening {stalled_count} stalled downloads, then {idle_count} idle connections",
        server.args
    );
    let overflows_before = listen_overflows();
    let began = Instant::now();
    let stalled = open_many(stalled_count, true, ctx, server, failures).await;
    // Each stalled download holds its socket and its open file.
    let after_stalled = level_off(server, base.fds + 2 * stalled.len() as u64).await;
    let idle_began = Instant::now();
    let idle = open_many(idle_count, false, ctx, server, failures).await;
    let open_secs = began.elapsed().as_secs_f64();
    let listen_overflows = listen_overflows().saturating_sub(overflows_before);
    let total = (stalled.len() + idle.len()) as u64;
    eprintln!(
        "connections: {} stalled + {} idle open after {open_secs:.1} s",
        stalled.len(),
        idle.len()
    );
    let during = level_off(server, base.fds + total + stalled.len() as u64).await;
    let kernel_tcp_mib = kernel_tcp_mem_mib();
    let (fd_sockets, fd_others) = server.fd_kinds();
    let oldest_idle_secs = idle_began.elapsed().as_secs_f64();
    let oldest_stalled_secs = began.elapsed().as_secs_f64();
    let mut fresh = Vec::new();
    for _ in 0..5 {
        fresh.push(fresh_request(ctx).await);
    }
    let stalled_states = States::of(&stalled);
    let idle_states = States::of(&idle);
    eprintln!(
        "connections: server RSS {} (HWM {}), {} fds; fresh request {:?}; clients {stalled_states:?} {idle_states:?}",
        during.rss(),
        during.hwm(),
        during.fds,
        fresh[0]
    );
    let (stalled_ok, idle_ok) = (stalled.len(), idle.len());
    drop(stalled);
    drop(idle);
    let after = server.settle(base.fds, Duration::from_secs(20)).await;
    let fresh_after = fresh_request(ctx).await;
    Round {
        stalled_ok,
        idle_ok,
        open_secs,
        listen_overflows,
        after_stalled,
        during,
        fd_sockets,
        fd_others,
        stalled_states,
        idle_states,
        oldest_idle_secs,
        oldest_stalled_secs,
        kernel_tcp_mib,
        fresh,
        after,
        fresh_after,
    }
}

/// The machine's `TcpExt: ListenOverflows` counter (accept queue full: SYN or ACK dropped).
fn listen_overflows() -> u64 {
    let Ok(netstat) = std::fs::read_to_string("/proc/net/netstat") else {
        return 0;
    };
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

fn kernel_tcp_mem_mib() -> f64 {
    std::fs::read_to_string("/proc/net/sockstat")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("TCP:"))?;
            let mut words = line.split_whitespace();
            words.position(|w| w == "mem")?;
            words.next()?.parse::<u64>().ok()
        })
        .map_or(f64::NAN, |pages| (pages * 4096) as f64 / MIB as f64)
}
