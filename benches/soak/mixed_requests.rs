//! SOAK: the mixed requests, `concurrency` workers each on its own HTTP/1.1 or HTTP/2
//! connection taking the next request of the mix until all are sent, while the server's
//! descriptors and threads are sampled for their peak.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::check::{Ctx, Progress};
use crate::client::{Conn, Proto};
use crate::config::Config;
use crate::execute::execute;
use crate::request_mix::{plan, Expect, Kind, KINDS};
use crate::server::{ProcStats, Server};

#[derive(Default)]
struct SoakStats {
    next: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    connects: AtomicU64,
    per_kind: [AtomicU64; KINDS.len()],
    kind_errors: [AtomicU64; KINDS.len()],
    messages: Mutex<Vec<String>>,
}

impl SoakStats {
    fn error(&self, kind: Option<Kind>, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Some(kind) = kind {
            self.kind_errors[kind.index()].fetch_add(1, Ordering::Relaxed);
        }
        let mut messages = self.messages.lock().unwrap();
        if messages.len() < 50 {
            eprintln!("soak: ERROR {message}");
            messages.push(message);
        }
    }
}

pub struct SoakReport {
    pub server_args: String,
    pub requests: u64,
    pub done: u64,
    pub errors: u64,
    pub secs: f64,
    pub bytes: u64,
    pub h1: usize,
    pub h2: usize,
    pub start: ProcStats,
    pub peak_during: ProcStats,
    pub end: ProcStats,
    pub per_kind: Vec<(Kind, u64, u64)>,
    pub messages: Vec<String>,
}

pub async fn soak(config: &Config, server: &Server, ctx: Arc<Ctx>) -> SoakReport {
    let start_stats = server.baseline().await;
    let stats = Arc::new(SoakStats::default());
    let deadline = Instant::now() + Duration::from_secs(200);
    let began = Instant::now();
    let h2_workers = config.concurrency * config.h2_percent / 100;
    let mut workers = Vec::new();
    for w in 0..config.concurrency {
        let proto = if w < h2_workers { Proto::H2 } else { Proto::H1 };
        let stats = stats.clone();
        let ctx = ctx.clone();
        let (requests, seed) = (config.requests, config.seed);
        workers.push(tokio::spawn(async move {
            let mut conn: Option<Conn> = None;
            loop {
                let index = stats.next.fetch_add(1, Ordering::Relaxed);
                if index >= requests {
                    break;
                }
                let plan = plan(index, seed, ctx.len, &ctx.validators);
                if Instant::now() > deadline {
                    stats.error(
                        Some(plan.kind),
                        format!("{}: not sent, the soak's 200 s deadline passed", plan.describe(proto)),
                    );
                    continue;
                }
                stats.per_kind[plan.kind.index()].fetch_add(1, Ordering::Relaxed);
                if conn.is_none() {
                    match Conn::connect(ctx.addr, proto).await {
                        Ok(c) => {
                            stats.connects.fetch_add(1, Ordering::Relaxed);
                            conn = Some(c);
                        }
                        Err(e) => {
                            stats.error(Some(plan.kind), format!("{}: {e}", plan.describe(proto)));
                            continue;
                        }
                    }
                }
                let limit = match plan.expect {
                    Expect::Full { body: true } => Duration::from_secs(120),
                    _ => Duration::from_secs(30),
                };
                let mut progress = Progress {
                    stage: "sending",
                    ..Progress::default()
                };
                let result = tokio::time::timeout(
                    limit,
                    execute(conn.as_mut().unwrap(), proto, &plan, &ctx, &mut progress),
                )
                .await;
                match result {
                    Ok(Ok(outcome)) => {
                        stats.done.fetch_add(1, Ordering::Relaxed);
                        stats.bytes.fetch_add(outcome.bytes, Ordering::Relaxed);
                        if outcome.drop_connection {
                            conn = None;
                        }
                    }
                    Ok(Err(e)) => {
                        stats.error(
                            Some(plan.kind),
                            format!(
                                "{}: {e} (status {:?}, {} body bytes checked)",
                                plan.describe(proto),
                                progress.status,
                                progress.body_bytes
                            ),
                        );
                        conn = None;
                    }
                    Err(_) => {
                        stats.error(
                            Some(plan.kind),
                            format!(
                                "{}: timed out after {limit:?} {} (status {:?}, {} body bytes checked)",
                                plan.describe(proto),
                                progress.stage,
                                progress.status,
                                progress.body_bytes
                            ),
                        );
                        conn = None;
                    }
                }
            }
        }));
    }
    // Sample the server while the soak runs, for its peak fds and threads.
    let mut peak = start_stats;
    let mut last_print = Instant::now();
    loop {
        if workers.iter().all(|w| w.is_finished()) {
            break;
        }
        let s = server.stats();
        peak.rss_kib = peak.rss_kib.max(s.rss_kib);
        peak.hwm_kib = peak.hwm_kib.max(s.hwm_kib);
        peak.fds = peak.fds.max(s.fds);
        peak.threads = peak.threads.max(s.threads);
        if last_print.elapsed() > Duration::from_secs(5) {
            last_print = Instant::now();
            eprintln!(
                "soak: {} / {} done, {} errors, server RSS {} fds {}",
                stats.done.load(Ordering::Relaxed),
                config.requests,
                stats.errors.load(Ordering::Relaxed),
                s.rss(),
                s.fds
            );
        }
        if Instant::now() > deadline + Duration::from_secs(130) {
            stats.error(
                None,
                "workers still running 130 s after the deadline: aborted".into(),
            );
            for w in &workers {
                w.abort();
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for w in workers {
        let _ = w.await;
    }
    let secs = began.elapsed().as_secs_f64();
    // All client connections are closed now (each worker dropped its own).
    let end = server
        .settle(start_stats.fds, Duration::from_secs(15))
        .await;
    let per_kind = KINDS
        .iter()
        .map(|k| {
            (
                *k,
                stats.per_kind[k.index()].load(Ordering::Relaxed),
                stats.kind_errors[k.index()].load(Ordering::Relaxed),
            )
        })
        .collect();
    let messages = stats.messages.lock().unwrap().clone();
    SoakReport {
        server_args: server.args.clone(),
        requests: config.requests,
        done: stats.done.load(Ordering::Relaxed),
        errors: stats.errors.load(Ordering::Relaxed),
        secs,
        bytes: stats.bytes.load(Ordering::Relaxed),
        h1: config.concurrency - h2_workers,
        h2: h2_workers,
        start: start_stats,
        peak_during: peak,
        end,
        per_kind,
        messages,
    }
}
