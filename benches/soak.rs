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

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::response::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
/// The server's default read-ahead budget, for the table.
const DEFAULT_BUDGET: u64 = 64 * MIB;
/// A stale entity tag: never the file's.
const STALE_TAG: &str = "\"0123456789abcdef\"";
/// A date that is not the file's `Last-Modified`.
const STALE_DATE: &str = "Thu, 01 Jan 2015 00:00:00 GMT";

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

struct Config {
    requests: u64,
    concurrency: usize,
    h2_percent: usize,
    file_len: u64,
    connections: usize,
    stalled: usize,
    budgets: Vec<Option<u64>>,
    rounds: usize,
    seed: u64,
    build: bool,
    root: PathBuf,
    server: PathBuf,
    data_dir: PathBuf,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    env(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

impl Config {
    fn from_env() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target = env("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
        let connections: usize = env_num("SOAK_CONNECTIONS", 10_000);
        let budgets = env("SOAK_BUDGETS")
            .unwrap_or_else(|| "default,8388608".into())
            .split(',')
            .map(|b| match b.trim() {
                "default" => None,
                n => Some(n.parse().expect("SOAK_BUDGETS: numbers or `default`")),
            })
            .collect();
        Self {
            requests: env_num("SOAK_REQUESTS", 10_000),
            concurrency: env_num("SOAK_CONCURRENCY", 200),
            h2_percent: env_num("SOAK_H2_PERCENT", 25),
            file_len: env_num::<u64>("SOAK_FILE_MIB", 256) * MIB,
            connections,
            stalled: env_num("SOAK_STALLED", connections / 2).min(connections),
            budgets,
            rounds: env_num("SOAK_ROUNDS", 2).max(1),
            seed: env_num("SOAK_SEED", 0x50a4_2026),
            build: env("SOAK_BUILD").is_none_or(|v| v != "0"),
            server: env("SOAK_SERVER")
                .map_or_else(|| target.join("release/examples/server"), PathBuf::from),
            data_dir: target.join("soak-data"),
            root,
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
fn raise_nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur as u64
}

/// The commit the server was built from, and whether the tree the build saw differs from it.
fn source_version(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        "src",
        "examples",
        "Cargo.toml",
    ])
    .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit} + uncommitted changes in src/, examples/ or Cargo.toml")
    } else {
        commit
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------------------------------
// The data file
// ---------------------------------------------------------------------------------------

/// SplitMix64: the file's bytes and the request mix both come from it.
struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// The file: 8-byte words `mix(seed ^ word index)`, little-endian. No two windows repeat, so
/// a shifted, mixed-up or stale slice is caught.
fn generate(len: u64, seed: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(len as usize + 8);
    for word in 0..len.div_ceil(8) {
        data.extend_from_slice(&mix(seed ^ word).to_le_bytes());
    }
    data.truncate(len as usize);
    data
}

/// Writes the file unless it is there with the right bytes.
fn ensure_file(path: &Path, data: &[u8]) {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() == data.len() as u64 && std::fs::read(path).is_ok_and(|d| d == data) {
            eprintln!("soak: data file {} is up to date", path.display());
            return;
        }
    }
    eprintln!(
        "soak: writing {} ({} MiB)",
        path.display(),
        data.len() as u64 / MIB
    );
    std::fs::create_dir_all(path.parent().unwrap()).expect("creating the data directory");
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).expect("creating the data file");
    file.write_all(data).expect("writing the data file");
    file.sync_all().expect("syncing the data file");
    std::fs::rename(&tmp, path).expect("renaming the data file");
}

// ---------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------

fn build_server(config: &Config) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    eprintln!("soak: cargo build --release --example server");
    let status = Command::new(cargo)
        .args(["build", "--release", "--example", "server"])
        .current_dir(&config.root)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => fatal(&format!("building the example server failed: {status}")),
        Err(error) => fatal(&format!("running cargo: {error}")),
    }
}

fn fatal(message: &str) -> ! {
    eprintln!("soak: error: {message}");
    std::process::exit(2);
}

#[derive(Default)]
struct ServerLog {
    lines: u64,
    warnings: u64,
    tail: VecDeque<String>,
}

struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: Arc<Mutex<ServerLog>>,
    args: String,
}

#[derive(Debug, Clone, Copy, Default)]
struct ProcStats {
    rss_kib: u64,
    hwm_kib: u64,
    fds: u64,
    threads: u64,
}

impl ProcStats {
    fn rss(&self) -> String {
        format!("{:.1} MiB", self.rss_kib as f64 / 1024.0)
    }
    fn hwm(&self) -> String {
        format!("{:.1} MiB", self.hwm_kib as f64 / 1024.0)
    }
}

impl Server {
    fn start(binary: &Path, file: &Path, extra: &[String]) -> Server {
        let mut child = Command::new(binary)
            .arg(file)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fatal(&format!("starting {}: {e}", binary.display())));
        let pid = child.id();
        let log = Arc::new(Mutex::new(ServerLog::default()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().unwrap();
                log.lines += 1;
                if line.contains("WARN") || line.contains("ERROR") {
                    log.warnings += 1;
                }
                log.tail.push_back(line);
                if log.tail.len() > 20 {
                    log.tail.pop_front();
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            // Drain the rest so the server never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let first = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                fatal("the server printed no first line within 30 s");
            }
        };
        let addr = first
            .trim_end()
            .rsplit_once(" at http://")
            .and_then(|(_, rest)| rest.trim_end_matches('/').parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            let tail: Vec<String> = log.lock().unwrap().tail.iter().cloned().collect();
            fatal(&format!(
                "unexpected first line from the server: {first:?}; stderr: {tail:?}"
            ));
        };
        Server {
            child,
            pid,
            addr,
            log,
            args: if extra.is_empty() {
                "(defaults)".into()
            } else {
                extra.join(" ")
            },
        }
    }

    fn stats(&self) -> ProcStats {
        let mut stats = ProcStats::default();
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", self.pid)) {
            for line in status.lines() {
                let value = |l: &str| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                };
                if line.starts_with("VmRSS:") {
                    stats.rss_kib = value(line);
                } else if line.starts_with("VmHWM:") {
                    stats.hwm_kib = value(line);
                } else if line.starts_with("Threads:") {
                    stats.threads = value(line);
                }
            }
        }
        stats.fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        stats
    }

    /// The server's descriptors: (sockets, others).
    fn fd_kinds(&self) -> (u64, u64) {
        let (mut sockets, mut others) = (0, 0);
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", self.pid)) {
            for entry in dir.flatten() {
                match std::fs::read_link(entry.path()) {
                    Ok(target) if target.to_string_lossy().starts_with("socket:") => sockets += 1,
                    _ => others += 1,
                }
            }
        }
        (sockets, others)
    }

    /// Waits (at most `limit`) until the server holds at most `fds` descriptors, then one
    /// more second; returns its figures then.
    async fn settle(&self, fds: u64, limit: Duration) -> ProcStats {
        let deadline = Instant::now() + limit;
        while self.stats().fds > fds && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.stats()
    }

    /// SIGTERM, then up to 15 s for a graceful exit; returns whether it exited by itself.
    fn stop(mut self) -> Result<(), String> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("server exited with {status} on SIGTERM")),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("server still running 15 s after SIGTERM: killed".into());
                }
            }
        }
    }

    fn log_summary(&self) -> (u64, u64, Vec<String>) {
        let log = self.log.lock().unwrap();
        (log.lines, log.warnings, log.tail.iter().cloned().collect())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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

// ---------------------------------------------------------------------------------------
// Client connections (hyper 1's client conn API)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// One client connection; dropping it closes the socket.
struct Conn {
    sender: Sender,
    task: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Conn {
    async fn connect(addr: SocketAddr, proto: Proto) -> Result<Conn, String> {
        let connect = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let io = TokioIo::new(stream);
            Ok(match proto {
                Proto::H1 => {
                    let (send, conn) = hyper::client::conn::http1::handshake(io)
                        .await
                        .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
                    let task = tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    Conn {
                        sender: Sender::H1(send),
                        task,
                    }
                }
                Proto::H2 => {
                    let (send, conn) =
                        hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                            .await
                            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
                    let task = tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    Conn {
                        sender: Sender::H2(send),
                        task,
                    }
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| "connect + handshake timed out after 10 s".to_string())?
    }

    async fn send(&mut self, request: Request<Empty<Bytes>>) -> Result<Response<Incoming>, String> {
        match &mut self.sender {
            Sender::H1(send) => {
                send.ready()
                    .await
                    .map_err(|e| format!("connection not ready: {e}"))?;
                send.send_request(request)
                    .await
                    .map_err(|e| format!("sending: {e}"))
            }
            Sender::H2(send) => {
                send.ready()
                    .await
                    .map_err(|e| format!("connection not ready: {e}"))?;
                send.send_request(request)
                    .await
                    .map_err(|e| format!("sending: {e}"))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The request mix
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Full,
    Head,
    Single,
    Multi,
    IfNoneMatch,
    IfModifiedSince,
    IfNoneMatchStale,
    IfRangeCurrent,
    IfRangeStale,
    IfMatchRight,
    IfMatchWrong,
    Unsatisfiable,
    Abort,
}

const KINDS: [Kind; 13] = [
    Kind::Full,
    Kind::Head,
    Kind::Single,
    Kind::Multi,
    Kind::IfNoneMatch,
    Kind::IfModifiedSince,
    Kind::IfNoneMatchStale,
    Kind::IfRangeCurrent,
    Kind::IfRangeStale,
    Kind::IfMatchRight,
    Kind::IfMatchWrong,
    Kind::Unsatisfiable,
    Kind::Abort,
];

impl Kind {
    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap()
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Full => "full GET (200)",
            Kind::Head => "HEAD (200)",
            Kind::Single => "single range (206)",
            Kind::Multi => "multi-range (206 multipart)",
            Kind::IfNoneMatch => "If-None-Match current (304)",
            Kind::IfModifiedSince => "If-Modified-Since (304)",
            Kind::IfNoneMatchStale => "If-None-Match stale + Range (206)",
            Kind::IfRangeCurrent => "If-Range current (206)",
            Kind::IfRangeStale => "If-Range stale (200 full)",
            Kind::IfMatchRight => "If-Match current + Range (206)",
            Kind::IfMatchWrong => "If-Match wrong (412)",
            Kind::Unsatisfiable => "unsatisfiable (416)",
            Kind::Abort => "aborted download",
        }
    }
}

/// What the response must be.
#[derive(Debug, Clone)]
enum Expect {
    /// 200 with the whole file (`body == false` for HEAD).
    Full {
        body: bool,
    },
    /// 206 with `first..=last`.
    Single {
        first: u64,
        last: u64,
    },
    /// 206 with these requested ranges, merged; `ordered` when none overlap or touch, so
    /// the parts must come in this order.
    Multi {
        ranges: Vec<(u64, u64)>,
        ordered: bool,
    },
    NotModified,
    PreconditionFailed,
    Unsatisfiable,
    /// 206 with `first..=last`: read `read` bytes, then drop the connection (or, over
    /// HTTP/2 when `stream_only`, just the stream).
    Abort {
        first: u64,
        last: u64,
        read: u64,
        stream_only: bool,
    },
}

struct Plan {
    index: u64,
    kind: Kind,
    method: &'static str,
    headers: Vec<(&'static str, String)>,
    expect: Expect,
}

impl Plan {
    fn describe(&self, proto: Proto) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        format!(
            "#{} {:?} {} /video [{}]",
            self.index,
            proto,
            self.method,
            headers.join("; ")
        )
    }
}

/// Validators of the file as the server announces them.
struct Validators {
    etag: String,
    last_modified: String,
}

/// A random range size: mostly small, sometimes a few MiB.
fn random_size(rng: &mut Rng) -> u64 {
    match rng.below(100) {
        0..50 => rng.between(1, 64 * KIB),
        50..90 => rng.between(64 * KIB, MIB),
        _ => rng.between(MIB, 8 * MIB),
    }
}

/// A random single range: its spec and the bytes it selects.
fn random_range(rng: &mut Rng, len: u64) -> (String, u64, u64) {
    let size = random_size(rng).min(len);
    match rng.below(10) {
        0 => (format!("-{size}"), len - size, len - 1),
        1 => {
            let first = len - size;
            (format!("{first}-"), first, len - 1)
        }
        2 => {
            let first = len - size;
            let past = len + rng.below(10_000);
            (format!("{first}-{past}"), first, len - 1)
        }
        _ => {
            let first = rng.below(len - size + 1);
            let last = first + size - 1;
            (format!("{first}-{last}"), first, last)
        }
    }
}

fn plan(index: u64, seed: u64, len: u64, validators: &Validators) -> Plan {
    let mut rng = Rng::new(seed ^ mix(index));
    let kind = match index % 1000 {
        0 => Kind::Full,
        500 => Kind::IfRangeStale,
        _ => match rng.below(100) {
            0..34 => Kind::Single,
            34..52 => Kind::Multi,
            52..58 => Kind::IfNoneMatch,
            58..61 => Kind::IfModifiedSince,
            61..65 => Kind::IfNoneMatchStale,
            65..71 => Kind::IfRangeCurrent,
            71..75 => Kind::IfMatchRight,
            75..80 => Kind::IfMatchWrong,
            80..86 => Kind::Head,
            86..92 => Kind::Unsatisfiable,
            _ => Kind::Abort,
        },
    };
    let etag = validators.etag.clone();
    let mut headers: Vec<(&'static str, String)> = Vec::new();
    let mut method = "GET";
    let expect = match kind {
        Kind::Full => Expect::Full { body: true },
        Kind::Head => {
            method = "HEAD";
            if rng.below(2) == 0 {
                // HEAD answers the headers of a plain GET: Range does not apply.
                headers.push(("range", "bytes=0-99".into()));
            }
            Expect::Full { body: false }
        }
        Kind::Single => {
            let (spec, first, last) = random_range(&mut rng, len);
            let unit = if rng.below(20) == 0 { "Bytes" } else { "bytes" };
            headers.push(("range", format!("{unit}={spec}")));
            Expect::Single { first, last }
        }
        Kind::Multi => {
            let count = rng.between(2, 5);
            let disjoint = rng.below(5) != 0;
            let mut ranges: Vec<(u64, u64)> = Vec::new();
            let mut tries = 0;
            while (ranges.len() as u64) < count {
                tries += 1;
                let size = rng.between(1, 256 * KIB).min(len);
                let first = if !disjoint && !ranges.is_empty() && rng.below(2) == 0 {
                    // Overlap or touch an earlier range.
                    let (a, b) = ranges[rng.below(ranges.len() as u64) as usize];
                    rng.between(a, (b + 1).min(len - 1))
                } else {
                    rng.below(len - size + 1)
                };
                let last = (first + size - 1).min(len - 1);
                let apart = ranges.iter().all(|&(a, b)| last + 1 < a || first > b + 1);
                if !disjoint || apart || tries > 100 {
                    ranges.push((first, last));
                }
            }
            let ordered = pairwise_apart(&ranges);
            let sep = if rng.below(2) == 0 { "," } else { ", " };
            let spec: Vec<String> = ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            headers.push(("range", format!("bytes={}", spec.join(sep))));
            Expect::Multi { ranges, ordered }
        }
        Kind::IfNoneMatch => {
            let value = match rng.below(4) {
                0 => etag.clone(),
                1 => format!("W/{etag}"),
                2 => format!("{STALE_TAG}, {etag}"),
                _ => "*".into(),
            };
            headers.push(("if-none-match", value));
            if rng.below(2) == 0 {
                let (spec, _, _) = random_range(&mut rng, len);
                headers.push(("range", format!("bytes={spec}")));
            }
            Expect::NotModified
        }
        Kind::IfModifiedSince => {
            headers.push(("if-modified-since", validators.last_modified.clone()));
            Expect::NotModified
        }
        Kind::IfNoneMatchStale => {
            let (spec, first, last) = random_range(&mut rng, len);
            headers.push(("if-none-match", STALE_TAG.into()));
            headers.push(("range", format!("bytes={spec}")));
            Expect::Single { first, last }
        }
        Kind::IfRangeCurrent => {
            let (spec, first, last) = random_range(&mut rng, len);
            headers.push(("range", format!("bytes={spec}")));
            headers.push(("if-range", etag.clone()));
            Expect::Single { first, last }
        }
        Kind::IfRangeStale => {
            let (spec, _, _) = random_range(&mut rng, len);
            let value = match rng.below(3) {
                0 => STALE_TAG.to_string(),
                // A weak tag never matches If-Range.
                1 => format!("W/{etag}"),
                _ => STALE_DATE.to_string(),
            };
            headers.push(("range", format!("bytes={spec}")));
            headers.push(("if-range", value));
            Expect::Full { body: true }
        }
        Kind::IfMatchRight => {
            let (spec, first, last) = random_range(&mut rng, len);
            let value = match rng.below(3) {
                0 => "*".to_string(),
                1 => format!("{STALE_TAG}, {etag}"),
                _ => etag.clone(),
            };
            headers.push(("if-match", value));
            headers.push(("range", format!("bytes={spec}")));
            Expect::Single { first, last }
        }
        Kind::IfMatchWrong => {
            let value = match rng.below(2) {
                0 => STALE_TAG.to_string(),
                // If-Match compares strongly: a weak tag never matches.
                _ => format!("W/{etag}"),
            };
            headers.push(("if-match", value));
            if rng.below(2) == 0 {
                let (spec, _, _) = random_range(&mut rng, len);
                headers.push(("range", format!("bytes={spec}")));
            }
            Expect::PreconditionFailed
        }
        Kind::Unsatisfiable => {
            let past = len + rng.below(MIB);
            let spec = match rng.below(5) {
                0 => format!("{len}-"),
                1 => format!("{past}-{}", past + rng.below(MIB)),
                2 => "-0".to_string(),
                3 => format!("{len}-{}", len + 10),
                _ => format!("{past}-,{}-{}", len + 1, len + 99),
            };
            headers.push(("range", format!("bytes={spec}")));
            Expect::Unsatisfiable
        }
        Kind::Abort => {
            let first = rng.below(len / 2);
            let read = rng.between(16 * KIB, 2 * MIB);
            headers.push(("range", format!("bytes={first}-")));
            Expect::Abort {
                first,
                last: len - 1,
                read,
                stream_only: rng.below(2) == 0,
            }
        }
    };
    Plan {
        index,
        kind,
        method,
        headers,
        expect,
    }
}

/// Whether no two ranges overlap or touch (so the server keeps them all, in order).
fn pairwise_apart(ranges: &[(u64, u64)]) -> bool {
    ranges
        .iter()
        .enumerate()
        .all(|(i, &(a, b))| ranges[i + 1..].iter().all(|&(c, d)| b + 1 < c || d + 1 < a))
}

/// The union of inclusive ranges, touching ones joined, sorted.
fn merged(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in sorted {
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Checking a response
// ---------------------------------------------------------------------------------------

struct Ctx {
    data: &'static [u8],
    len: u64,
    validators: Validators,
    addr: SocketAddr,
}

#[derive(Default)]
struct Progress {
    stage: &'static str,
    status: Option<u16>,
    body_bytes: u64,
}

struct Outcome {
    bytes: u64,
    drop_connection: bool,
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn check_header(parts: &Parts, name: &str, want: &str) -> Result<(), String> {
    match header(parts, name) {
        Some(got) if got == want => Ok(()),
        got => Err(format!("{name}: expected {want:?}, got {got:?}")),
    }
}

fn check_status(parts: &Parts, want: StatusCode) -> Result<(), String> {
    if parts.status == want {
        Ok(())
    } else {
        Err(format!(
            "status: expected {want}, got {} (headers {:?})",
            parts.status, parts.headers
        ))
    }
}

/// The headers every 200 and 206 of the file carries.
fn check_entity_headers(parts: &Parts, ctx: &Ctx) -> Result<(), String> {
    check_header(parts, "etag", &ctx.validators.etag)?;
    check_header(parts, "last-modified", &ctx.validators.last_modified)?;
    check_header(parts, "accept-ranges", "bytes")
}

/// Where two byte strings first differ, for a precise report.
fn mismatch(got: &[u8], want: &[u8]) -> Option<usize> {
    if got == want {
        return None;
    }
    Some(
        got.iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len())),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn compare(got: &[u8], file_offset: u64, ctx: &Ctx) -> Result<(), String> {
    let start = file_offset as usize;
    let want = &ctx.data[start..start + got.len()];
    match mismatch(got, want) {
        None => Ok(()),
        Some(at) => Err(format!(
            "wrong bytes at file offset {}: expected {} got {}",
            file_offset + at as u64,
            hex(&want[at..(at + 16).min(want.len())]),
            hex(&got[at..(at + 16).min(got.len())]),
        )),
    }
}

/// Streams a body that must be the file's `first..first + len`, checking each frame as it
/// comes; with `stop_after`, returns once that many bytes have been checked.
async fn check_stream(
    body: &mut Incoming,
    first: u64,
    len: u64,
    stop_after: Option<u64>,
    ctx: &Ctx,
    progress: &mut Progress,
) -> Result<u64, String> {
    let mut pos = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body error after {pos} of {len} bytes: {e}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if pos + data.len() as u64 > len {
            return Err(format!(
                "body longer than the {len} bytes announced (at least {})",
                pos + data.len() as u64
            ));
        }
        compare(&data, first + pos, ctx)?;
        pos += data.len() as u64;
        progress.body_bytes = pos;
        if stop_after.is_some_and(|n| pos >= n) {
            return Ok(pos);
        }
    }
    if pos != len {
        return Err(format!("short body: {pos} of {len} bytes"));
    }
    Ok(pos)
}

/// Reads a small body whole (at most `cap` bytes).
async fn small_body(body: &mut Incoming, cap: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body error: {e}"))?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() as u64 > cap {
                return Err(format!("body longer than {cap} bytes"));
            }
        }
    }
    Ok(out)
}

fn content_length(parts: &Parts) -> Result<u64, String> {
    header(parts, "content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            format!(
                "no valid content-length: {:?}",
                parts.headers.get("content-length")
            )
        })
}

fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Checks a `multipart/byteranges` body: each part's headers and bytes; returns the parts'
/// ranges in order.
fn check_multipart(body: &[u8], boundary: &str, ctx: &Ctx) -> Result<Vec<(u64, u64)>, String> {
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes()).ok_or("no first delimiter")?;
    if body[..start].iter().any(|b| !b"\r\n".contains(b)) {
        return Err(format!("junk before the first delimiter: {start} bytes"));
    }
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if let Some(end) = rest.strip_prefix(b"--") {
            if !end.iter().all(|b| b"\r\n".contains(b)) {
                return Err("junk after the closing delimiter".into());
            }
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("no CRLF after a delimiter")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("no end of a part's headers")?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| "part head not UTF-8")?;
        let mut range = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').ok_or("bad part header line")?;
            match name.trim().to_ascii_lowercase().as_str() {
                "content-range" => range = Some(value.trim().to_string()),
                "content-type" => content_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
        if content_type.as_deref() != Some("video/mp4") {
            return Err(format!("part content-type {content_type:?}"));
        }
        let range = range.ok_or("a part without content-range")?;
        let (a, b, total) =
            parse_content_range(&range).ok_or_else(|| format!("bad part range {range:?}"))?;
        if total != ctx.len || a > b || b >= ctx.len {
            return Err(format!("bad part range {range:?}"));
        }
        rest = &rest[head_end + 4..];
        let n = (b - a + 1) as usize;
        if rest.len() < n {
            return Err(format!("part {range:?} truncated: {} bytes", rest.len()));
        }
        compare(&rest[..n], a, ctx).map_err(|e| format!("part {range:?}: {e}"))?;
        parts.push((a, b));
        rest = rest[n..]
            .strip_prefix(b"\r\n")
            .and_then(|r| r.strip_prefix(delimiter.as_bytes()))
            .ok_or_else(|| format!("no delimiter after part {range:?}"))?;
    }
}

async fn execute(
    conn: &mut Conn,
    proto: Proto,
    plan: &Plan,
    ctx: &Ctx,
    progress: &mut Progress,
) -> Result<Outcome, String> {
    let uri = match proto {
        Proto::H1 => "/video".to_string(),
        Proto::H2 => format!("http://{}/video", ctx.addr),
    };
    let mut builder = Request::builder().method(plan.method).uri(uri);
    if proto == Proto::H1 {
        builder = builder.header("host", ctx.addr.to_string());
    }
    for (name, value) in &plan.headers {
        builder = builder.header(*name, value);
    }
    let request = builder.body(Empty::new()).map_err(|e| e.to_string())?;
    progress.stage = "waiting for the response head";
    let response = conn.send(request).await?;
    let (parts, mut body) = response.into_parts();
    progress.status = Some(parts.status.as_u16());
    progress.stage = "reading the body";
    let len = ctx.len;
    let outcome = |bytes| Outcome {
        bytes,
        drop_connection: false,
    };
    match &plan.expect {
        Expect::Full { body: with_body } => {
            check_status(&parts, StatusCode::OK)?;
            check_entity_headers(&parts, ctx)?;
            check_header(&parts, "content-type", "video/mp4")?;
            check_header(&parts, "content-length", &len.to_string())?;
            if parts.headers.contains_key("content-range") {
                return Err("a 200 with content-range".into());
            }
            if *with_body {
                let n = check_stream(&mut body, 0, len, None, ctx, progress).await?;
                Ok(outcome(n))
            } else {
                let rest = small_body(&mut body, 0).await?;
                if !rest.is_empty() {
                    return Err(format!("HEAD with a body of {} bytes", rest.len()));
                }
                Ok(outcome(0))
            }
        }
        Expect::Single { first, last } => {
            check_status(&parts, StatusCode::PARTIAL_CONTENT)?;
            check_entity_headers(&parts, ctx)?;
            check_header(&parts, "content-type", "video/mp4")?;
            check_header(
                &parts,
                "content-range",
                &format!("bytes {first}-{last}/{len}"),
            )?;
            let n = last - first + 1;
            check_header(&parts, "content-length", &n.to_string())?;
            let n = check_stream(&mut body, *first, n, None, ctx, progress).await?;
            Ok(outcome(n))
        }
        Expect::Multi { ranges, ordered } => {
            let want = merged(ranges);
            check_status(&parts, StatusCode::PARTIAL_CONTENT)?;
            check_entity_headers(&parts, ctx)?;
            if want.len() == 1 {
                // Merged into one: a plain single-part 206.
                let (first, last) = want[0];
                check_header(&parts, "content-type", "video/mp4")?;
                check_header(
                    &parts,
                    "content-range",
                    &format!("bytes {first}-{last}/{len}"),
                )?;
                let n = last - first + 1;
                check_header(&parts, "content-length", &n.to_string())?;
                let n = check_stream(&mut body, first, n, None, ctx, progress).await?;
                return Ok(outcome(n));
            }
            let content_type = header(&parts, "content-type").unwrap_or_default();
            let boundary = content_type
                .strip_prefix("multipart/byteranges; boundary=")
                .ok_or_else(|| format!("content-type {content_type:?}"))?
                .to_string();
            if parts.headers.contains_key("content-range") {
                return Err("a multipart 206 with content-range".into());
            }
            let announced = content_length(&parts)?;
            if announced > 64 * MIB {
                return Err(format!("multipart content-length {announced} is absurd"));
            }
            let bytes = small_body(&mut body, announced).await?;
            if bytes.len() as u64 != announced {
                return Err(format!(
                    "multipart body of {} bytes, content-length {announced}",
                    bytes.len()
                ));
            }
            let got = check_multipart(&bytes, &boundary, ctx)?;
            let mut sorted = got.clone();
            sorted.sort();
            if sorted != want {
                return Err(format!(
                    "parts {got:?}, expected the merged ranges {want:?}"
                ));
            }
            if *ordered && got != *ranges {
                return Err(format!(
                    "parts {got:?} not in the requested order {ranges:?}"
                ));
            }
            Ok(outcome(announced))
        }
        Expect::NotModified => {
            check_status(&parts, StatusCode::NOT_MODIFIED)?;
            check_header(&parts, "etag", &ctx.validators.etag)?;
            check_header(&parts, "last-modified", &ctx.validators.last_modified)?;
            if parts.headers.contains_key("content-range") {
                return Err("a 304 with content-range".into());
            }
            let rest = small_body(&mut body, 0).await?;
            if !rest.is_empty() {
                return Err(format!("304 with a body of {} bytes", rest.len()));
            }
            Ok(outcome(0))
        }
        Expect::PreconditionFailed => {
            check_status(&parts, StatusCode::PRECONDITION_FAILED)?;
            let rest = small_body(&mut body, 4096).await?;
            if let Some(n) = header(&parts, "content-length") {
                if n != rest.len().to_string() {
                    return Err(format!("412 content-length {n}, body {}", rest.len()));
                }
            }
            Ok(outcome(rest.len() as u64))
        }
        Expect::Unsatisfiable => {
            check_status(&parts, StatusCode::RANGE_NOT_SATISFIABLE)?;
            check_header(&parts, "content-range", &format!("bytes */{len}"))?;
            let rest = small_body(&mut body, 4096).await?;
            if let Some(n) = header(&parts, "content-length") {
                if n != rest.len().to_string() {
                    return Err(format!("416 content-length {n}, body {}", rest.len()));
                }
            }
            Ok(outcome(rest.len() as u64))
        }
        Expect::Abort {
            first,
            last,
            read,
            stream_only,
        } => {
            check_status(&parts, StatusCode::PARTIAL_CONTENT)?;
            check_entity_headers(&parts, ctx)?;
            check_header(
                &parts,
                "content-range",
                &format!("bytes {first}-{last}/{len}"),
            )?;
            let n = last - first + 1;
            check_header(&parts, "content-length", &n.to_string())?;
            let got = check_stream(&mut body, *first, n, Some(*read), ctx, progress).await?;
            drop(body);
            Ok(Outcome {
                bytes: got,
                // HTTP/1.1 can only abort by closing; HTTP/2 resets the stream when the body
                // is dropped, and half the time closes the connection as well.
                drop_connection: proto == Proto::H1 || !stream_only,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// The soak
// ---------------------------------------------------------------------------------------

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

struct SoakReport {
    server_args: String,
    requests: u64,
    done: u64,
    errors: u64,
    secs: f64,
    bytes: u64,
    h1: usize,
    h2: usize,
    start: ProcStats,
    peak_during: ProcStats,
    end: ProcStats,
    per_kind: Vec<(Kind, u64, u64)>,
    messages: Vec<String>,
}

async fn soak(config: &Config, server: &Server, ctx: Arc<Ctx>) -> SoakReport {
    // The first HEAD's connection may still be closing.
    let start_stats = server
        .settle(server.stats().fds.saturating_sub(1), Duration::from_secs(2))
        .await;
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

// ---------------------------------------------------------------------------------------
// Ten thousand connections
// ---------------------------------------------------------------------------------------

/// One round: all connections opened, measured, then closed.
struct Round {
    stalled_ok: usize,
    idle_ok: usize,
    open_secs: f64,
    listen_overflows: u64,
    after_stalled: ProcStats,
    during: ProcStats,
    fd_sockets: u64,
    fd_others: u64,
    stalled_states: States,
    idle_states: States,
    oldest_idle_secs: f64,
    oldest_stalled_secs: f64,
    kernel_tcp_mib: f64,
    fresh: Vec<Result<Duration, String>>,
    after: ProcStats,
    fresh_after: Result<Duration, String>,
}

/// TCP states of client sockets, from `TCP_INFO`.
#[derive(Debug, Default, Clone, Copy)]
struct States {
    established: usize,
    /// The server closed the connection.
    close_wait: usize,
    other: usize,
}

impl States {
    fn of(streams: &[TcpStream]) -> States {
        use std::os::fd::AsRawFd;
        let mut states = States::default();
        for stream in streams {
            let mut info = [0u8; 256];
            let mut len = info.len() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `info`.
            let rc = unsafe {
                libc::getsockopt(
                    stream.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_INFO,
                    info.as_mut_ptr() as *mut libc::c_void,
                    &mut len,
                )
            };
            // The first byte of struct tcp_info is tcpi_state: 1 ESTABLISHED, 8 CLOSE_WAIT.
            match (rc, info[0]) {
                (0, 1) => states.established += 1,
                (0, 8) => states.close_wait += 1,
                _ => states.other += 1,
            }
        }
        states
    }
}

struct ConnReport {
    server_args: String,
    budget: u64,
    wanted: usize,
    base: ProcStats,
    base_sockets: u64,
    kernel_tcp_base_mib: f64,
    rounds: Vec<Round>,
    failures: Vec<String>,
}

/// A client socket with an Internet-like MSS and a small receive buffer.
fn client_socket() -> std::io::Result<TcpSocket> {
    use std::os::fd::AsRawFd;
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4 * 1024)?;
    let mss: libc::c_int = 1460;
    // SAFETY: setsockopt on a socket we own, with a c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            &mss as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket)
}

/// Opens a download of the whole file, checks its head and the bytes that came with it,
/// then leaves it unread.
async fn open_stalled(addr: SocketAddr, ctx: &Ctx) -> Result<TcpStream, String> {
    let socket = client_socket().map_err(|e| format!("socket: {e}"))?;
    let mut stream = socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!("GET /video HTTP/1.1\r\nHost: {addr}\r\nRange: bytes=0-\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    loop {
        let r = stream
            .read(&mut buf[n..])
            .await
            .map_err(|e| format!("read: {e}"))?;
        if r == 0 {
            return Err(format!("EOF after {n} bytes of the head"));
        }
        n += r;
        if let Some(end) = find(&buf[..n], b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status = lines.next().unwrap_or_default();
            if !status.starts_with("HTTP/1.1 206") {
                return Err(format!("status line {status:?}"));
            }
            let want = format!("bytes 0-{}/{}", ctx.len - 1, ctx.len);
            let range = lines.find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-range")
                    .then(|| value.trim().to_string())
            });
            if range.as_deref() != Some(&want) {
                return Err(format!("content-range {range:?}, expected {want:?}"));
            }
            compare(&buf[end + 4..n], 0, ctx)?;
            return Ok(stream);
        }
        if n == buf.len() {
            return Err("no end of head in 8 KiB".into());
        }
    }
}

async fn open_idle(addr: SocketAddr) -> Result<TcpStream, String> {
    let socket = client_socket().map_err(|e| format!("socket: {e}"))?;
    socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// Opens `count` connections in batches of 100, waiting after each batch (at most 5 s) for
/// the server to have accepted them. The example server listens with tokio's
/// `TcpListener::bind`, whose backlog is 128 (mio's, as std's): a bigger burst overflows the
/// accept queue, the kernel drops SYNs (retried after 1 s) and, with SYN cookies, the
/// handshake ACKs of idle clients, who then believe themselves connected while the server
/// never hears of them. Returns the connections that opened.
async fn open_many(
    count: usize,
    stalled: bool,
    ctx: &Arc<Ctx>,
    server: &Server,
    failures: &mut Vec<String>,
) -> Vec<TcpStream> {
    const BATCH: usize = 100;
    // A stalled download holds its socket and its open file.
    let fds_each = if stalled { 2 } else { 1 };
    let fds_before = server.stats().fds;
    let mut streams = Vec::with_capacity(count);
    let mut opened = 0;
    while opened < count {
        let batch = BATCH.min(count - opened);
        opened += batch;
        let batch_began = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let ctx = ctx.clone();
            set.spawn(async move {
                let open = async {
                    if stalled {
                        open_stalled(ctx.addr, &ctx).await
                    } else {
                        open_idle(ctx.addr).await
                    }
                };
                tokio::time::timeout(Duration::from_secs(20), open)
                    .await
                    .unwrap_or_else(|_| Err("no connection (and head) within 20 s".into()))
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(stream)) => streams.push(stream),
                Ok(Err(e)) => {
                    if failures.len() < 20 {
                        failures.push(format!(
                            "{} connection: {e}",
                            if stalled { "stalled" } else { "idle" }
                        ));
                    }
                }
                Err(e) => failures.push(format!("task: {e}")),
            }
        }
        if batch_began.elapsed() > Duration::from_millis(900) {
            eprintln!(
                "connections: a batch of {batch} {} connections took {:.1?}",
                if stalled { "stalled" } else { "idle" },
                batch_began.elapsed()
            );
        }
        let want = fds_before + (fds_each * streams.len()) as u64;
        // Done when the server holds about that many fds (a few come and go: fresh
        // requests, a closing client connection), or when its count stops growing.
        let began = Instant::now();
        let mut fds = server.stats().fds;
        let mut progress = (fds, Instant::now());
        while fds + 16 < want
            && began.elapsed() < Duration::from_secs(5)
            && progress.1.elapsed() < Duration::from_millis(500)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
            fds = server.stats().fds;
            if fds > progress.0 {
                progress = (fds, Instant::now());
            }
        }
        if fds + 16 < want {
            eprintln!(
                "connections: after {} {} connections the server holds {fds} fds, {want} expected",
                streams.len(),
                if stalled { "stalled" } else { "idle" },
            );
        }
    }
    streams
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

async fn connections(
    config: &Config,
    server: &Server,
    ctx: Arc<Ctx>,
    budget: u64,
    rounds: usize,
) -> ConnReport {
    // The first HEAD's connection may still be closing.
    let base = server
        .settle(server.stats().fds.saturating_sub(1), Duration::from_secs(2))
        .await;
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

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

fn ms(d: &Result<Duration, String>) -> String {
    match d {
        Ok(d) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
        Err(e) => format!("FAILED ({e})"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list" || a == "--help") {
        println!("soak: bench");
        return;
    }
    let mut config = Config::from_env();
    let nofile = raise_nofile();
    let needed = config.connections as u64 + config.concurrency as u64 + 200;
    let mut notes = Vec::new();
    if nofile < needed {
        let connections = nofile.saturating_sub(config.concurrency as u64 + 200) as usize;
        notes.push(format!(
            "RLIMIT_NOFILE is {nofile}: {connections} connections instead of {}",
            config.connections
        ));
        config.stalled = config.stalled * connections / config.connections.max(1);
        config.connections = connections;
    }
    let load_start = load_average();
    let version = match env("SOAK_SERVER") {
        Some(path) => format!("{path} (SOAK_SERVER)"),
        None => source_version(&config.root),
    };
    if config.build {
        build_server(&config);
    }
    if !config.server.is_file() {
        fatal(&format!(
            "no server binary at {} (run cargo build --release --example server)",
            config.server.display()
        ));
    }
    let data: &'static [u8] = Vec::leak(generate(config.file_len, config.seed));
    let file = config
        .data_dir
        .join(format!("soak-{}MiB.mp4", config.file_len / MIB));
    ensure_file(&file, data);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut failed: Vec<String> = Vec::new();
    let began = Instant::now();
    let (soak_report, conn_reports) = runtime.block_on(async {
        // Soak, with the server's defaults.
        let server = Server::start(&config.server, &file, &[]);
        let ctx = Arc::new(context(&server, data, config.file_len).await);
        eprintln!(
            "soak: {} requests over {} connections against {} (ETag {})",
            config.requests, config.concurrency, server.addr, ctx.validators.etag
        );
        let soak_report = soak(&config, &server, ctx).await;
        let (lines, warnings, tail) = server.log_summary();
        if warnings > 0 {
            notes.push(format!(
                "soak server logged {warnings} warnings/errors ({lines} lines); last: {tail:?}"
            ));
        }
        if let Err(e) = server.stop() {
            failed.push(format!("soak server: {e}"));
        }
        // Ten thousand connections, once per budget, each on a fresh server.
        let mut conn_reports = Vec::new();
        for budget in &config.budgets {
            let extra: Vec<String> = budget
                .map(|b| vec!["--read-ahead-budget".to_string(), b.to_string()])
                .unwrap_or_default();
            let server = Server::start(&config.server, &file, &extra);
            let ctx = Arc::new(context(&server, data, config.file_len).await);
            let report = connections(
                &config,
                &server,
                ctx,
                budget.unwrap_or(DEFAULT_BUDGET),
                config.rounds,
            )
            .await;
            let (lines, warnings, tail) = server.log_summary();
            if warnings > 0 {
                notes.push(format!(
                    "server {} logged {warnings} warnings/errors ({lines} lines); last: {tail:?}",
                    server.args
                ));
            }
            if let Err(e) = server.stop() {
                failed.push(format!("connections server {}: {e}", report.server_args));
            }
            conn_reports.push(report);
        }
        (soak_report, conn_reports)
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    let total_secs = began.elapsed().as_secs_f64();
    let load_end = load_average();

    // Summary.
    let s = &soak_report;
    println!();
    println!("## soak: {} requests, {} connections ({} HTTP/1.1 keep-alive, {} HTTP/2), {} MiB file, server {}", s.requests, s.h1 + s.h2, s.h1, s.h2, config.file_len / MIB, s.server_args);
    println!();
    println!("| request kind | count | errors |");
    println!("|---|---:|---:|");
    for (kind, count, errors) in &s.per_kind {
        println!("| {} | {count} | {errors} |", kind.name());
    }
    println!();
    println!("| soak | value |");
    println!("|---|---|");
    println!(
        "| requests answered and checked | {} / {} |",
        s.done, s.requests
    );
    println!("| errors | {} |", s.errors);
    println!("| wall time | {:.1} s |", s.secs);
    println!("| requests/s | {:.0} |", s.done as f64 / s.secs);
    println!(
        "| body bytes checked | {:.2} GiB ({:.0} MiB/s) |",
        s.bytes as f64 / (1u64 << 30) as f64,
        s.bytes as f64 / MIB as f64 / s.secs
    );
    println!(
        "| server RSS start / end (VmHWM end) | {} / {} ({}) |",
        s.start.rss(),
        s.end.rss(),
        s.end.hwm()
    );
    println!(
        "| server fds start / peak / end | {} / {} / {} |",
        s.start.fds, s.peak_during.fds, s.end.fds
    );
    println!(
        "| server threads start / peak / end | {} / {} / {} |",
        s.start.threads, s.peak_during.threads, s.end.threads
    );
    if s.errors > 0 {
        failed.push(format!("soak: {} errors", s.errors));
        for m in &s.messages {
            println!("- ERROR {m}");
        }
    }
    if s.end.fds > s.start.fds {
        failed.push(format!(
            "soak: server fds {} at the end, {} at the start",
            s.end.fds, s.start.fds
        ));
    }
    println!();
    println!(
        "## connections: {} at once ({} stalled downloads `Range: bytes=0-` reading nothing after the head, {} idle sending nothing; client MSS 1460, SO_RCVBUF 4 KiB)",
        config.connections, config.stalled, config.connections - config.stalled
    );
    println!();
    let columns: Vec<(&ConnReport, usize, &Round)> = conn_reports
        .iter()
        .flat_map(|r| {
            r.rounds
                .iter()
                .enumerate()
                .map(move |(i, round)| (r, i + 1, round))
        })
        .collect();
    print!("| |");
    for (r, i, _) in &columns {
        print!(" budget {} MiB, round {i} |", r.budget / MIB);
    }
    println!();
    print!("|---|");
    for _ in &columns {
        print!("---|");
    }
    println!();
    let row = |name: &str, f: &dyn Fn(&ConnReport, &Round) -> String| {
        print!("| {name} |");
        for (r, _, round) in &columns {
            print!(" {} |", f(r, round));
        }
        println!();
    };
    row("server args", &|r, _| r.server_args.clone());
    row("server RSS / fds before (fresh server)", &|r, _| {
        format!("{} / {}", r.base.rss(), r.base.fds)
    });
    row("connections open (stalled + idle)", &|r, x| {
        format!("{} + {} of {}", x.stalled_ok, x.idle_ok, r.wanted)
    });
    row(
        "time to open them (machine's ListenOverflows meanwhile)",
        &|_, x| format!("{:.1} s ({})", x.open_secs, x.listen_overflows),
    );
    row("server RSS with the stalled only", &|_, x| {
        x.after_stalled.rss()
    });
    row("server RSS with all open", &|_, x| x.during.rss());
    row("server VmHWM with all open", &|_, x| x.during.hwm());
    row("RSS per stalled / per idle connection", &|r, x| {
        let stalled = x.after_stalled.rss_kib.saturating_sub(r.base.rss_kib) as f64;
        let idle = x.during.rss_kib.saturating_sub(x.after_stalled.rss_kib) as f64;
        format!(
            "{:.0} KiB / {:.1} KiB",
            stalled / x.stalled_ok.max(1) as f64,
            idle / x.idle_ok.max(1) as f64
        )
    });
    row("server fds with all open (sockets + others)", &|_, x| {
        format!("{} ({} + {})", x.during.fds, x.fd_sockets, x.fd_others)
    });
    row("client sockets established (stalled, idle)", &|_, x| {
        format!(
            "{}, {}",
            x.stalled_states.established, x.idle_states.established
        )
    });
    row("server threads with all open", &|_, x| {
        x.during.threads.to_string()
    });
    row("kernel TCP memory, machine-wide (before)", &|r, x| {
        format!(
            "{:.0} MiB ({:.0} MiB)",
            x.kernel_tcp_mib, r.kernel_tcp_base_mib
        )
    });
    row("age of oldest idle / stalled at measurement", &|_, x| {
        format!(
            "{:.1} s / {:.1} s",
            x.oldest_idle_secs, x.oldest_stalled_secs
        )
    });
    row("fresh request (new conn, bytes=0-1023)", &|_, x| {
        ms(&x.fresh[0])
    });
    row("fresh requests 2nd..5th", &|_, x| {
        x.fresh[1..].iter().map(ms).collect::<Vec<_>>().join(", ")
    });
    row("server RSS after closing all (VmHWM)", &|_, x| {
        format!("{} ({})", x.after.rss(), x.after.hwm())
    });
    row("server fds after closing all", &|_, x| {
        x.after.fds.to_string()
    });
    row("fresh request after closing", &|_, x| ms(&x.fresh_after));
    for (r, i, x) in &columns {
        let label = format!("connections (budget {} MiB, round {i})", r.budget / MIB);
        if x.stalled_ok + x.idle_ok < r.wanted {
            failed.push(format!(
                "{label}: only {} of {} connections opened: {:?}",
                x.stalled_ok + x.idle_ok,
                r.wanted,
                r.failures
            ));
        }
        let accepted = x.fd_sockets.saturating_sub(r.base_sockets);
        if accepted < (x.stalled_ok + x.idle_ok) as u64 {
            failed.push(format!(
                "{label}: the server had accepted {accepted} of the {} open connections at the measurement",
                x.stalled_ok + x.idle_ok
            ));
        }
        for (what, states) in [("stalled", x.stalled_states), ("idle", x.idle_states)] {
            if states.close_wait + states.other > 0 {
                failed.push(format!(
                    "{label}: at the measurement ({:.1} s after the first stalled, {:.1} s after the first idle connection), {} {what} connections were closed by the server and {} in another TCP state",
                    x.oldest_stalled_secs, x.oldest_idle_secs, states.close_wait, states.other
                ));
            }
        }
        for (n, f) in x.fresh.iter().enumerate() {
            if let Err(e) = f {
                failed.push(format!("{label}: fresh request {}: {e}", n + 1));
            }
        }
        if let Err(e) = &x.fresh_after {
            failed.push(format!("{label}: fresh request after closing: {e}"));
        }
        if x.after.fds > r.base.fds {
            failed.push(format!(
                "{label}: server fds {} after closing, {} before",
                x.after.fds, r.base.fds
            ));
        }
    }
    println!();
    println!(
        "server built from {version}; {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| format!("Linux {}", r.trim()))
            .unwrap_or_default()
    );
    println!(
        "total {total_secs:.0} s; load average (1/5/15 min) at start {load_start}, at end {load_end}; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for n in &notes {
        println!("note: {n}");
    }
    if failed.is_empty() {
        println!("RESULT: all checks passed");
    } else {
        for f in &failed {
            println!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}

/// Reads the file's validators with a HEAD, checking its length.
async fn context(server: &Server, data: &'static [u8], len: u64) -> Ctx {
    let mut conn = Conn::connect(server.addr, Proto::H1)
        .await
        .unwrap_or_else(|e| fatal(&format!("first connection: {e}")));
    let request = Request::builder()
        .method("HEAD")
        .uri("/video")
        .header("host", server.addr.to_string())
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), conn.send(request))
        .await
        .unwrap_or_else(|_| fatal("first HEAD timed out"))
        .unwrap_or_else(|e| fatal(&format!("first HEAD: {e}")));
    let parts = response.into_parts().0;
    let get = |name: &str| {
        header(&parts, name)
            .unwrap_or_else(|| fatal(&format!("first HEAD: no {name}: {parts:?}")))
            .to_string()
    };
    if get("content-length") != len.to_string() {
        fatal(&format!(
            "first HEAD: content-length {}",
            get("content-length")
        ));
    }
    Ctx {
        data,
        len,
        validators: Validators {
            etag: get("etag"),
            last_modified: get("last-modified"),
        },
        addr: server.addr,
    }
}
