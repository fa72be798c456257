//! Issue 15's cost of throttling: what ten thousand throttled streams cost the server, against
//! the same bytes sent unthrottled in frames of the same size.
//!
//! ```text
//! cargo bench --bench throttled
//! ```
//!
//! The release example server runs pinned to CPU 0 and this bench's clients to CPU 1 (it
//! re-runs itself under `taskset -c 1`). Two phases, each on a fresh server and a 1 MiB file:
//!
//! 1. THROTTLED: `THROTTLE_STREAMS` (10,000) connections each `GET /video` from a server
//!    started with `--limit-rate THROTTLE_RATE` (8 KiB/s: its frames are then 4 KiB, one every
//!    half second, so every frame waits on a timer), all read as fast as they come. Once all
//!    are streaming, the server's CPU time (`/proc/PID/stat`) and the bytes received are
//!    measured over `THROTTLE_SECS` (20) seconds, and the server's RSS at the end. The server
//!    needs two descriptors a stream: with a hard `RLIMIT_NOFILE` below twice the streams,
//!    fewer streams run (and the report says so).
//! 2. FREE: `--frame-size 4096` without a limit, 16 connections that fetch the file again
//!    and again for the same time: the CPU per GiB of the same frames sent as fast as the
//!    client takes them.
//!
//! It prints both, the CPU per frame in each, and the difference: what a frame's timer and
//! the wake-up it causes cost on top of sending the frame. `THROTTLE_BUILD=0` uses the
//! binary already built.

#[path = "support/atomic_file.rs"]
mod atomic_file;
#[path = "support/env.rs"]
mod env;
#[path = "support/example_server.rs"]
mod example_server;
#[path = "support/nofile.rs"]
mod nofile;
#[path = "support/procfs.rs"]
mod procfs;
#[path = "support/splitmix.rs"]
mod splitmix;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FILE_LEN: usize = 1 << 20;
const FRAME: u64 = 4096;
const GIB: f64 = (1u64 << 30) as f64;

fn main() {
    if env::value("THROTTLE_PINNED").is_none() {
        pin_and_rerun();
    }
    let streams: usize = env::number("THROTTLE_STREAMS", 10_000);
    let rate: u64 = env::number("THROTTLE_RATE", 8192);
    let secs: f64 = env::number("THROTTLE_SECS", 20.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if env::value("THROTTLE_BUILD").as_deref() != Some("0") {
        let built = example_server::build_examples(root, &["server"], "cargo").expect("cargo");
        assert!(built.success(), "building the example server failed");
    }
    // The server holds two descriptors a stream (its socket and the open file), and inherits
    // this process's limit.
    let nofile = nofile::raise_nofile() as usize;
    let fit = nofile.saturating_sub(200) / 2;
    if fit < streams {
        println!("RLIMIT_NOFILE is {nofile}: {fit} streams instead of {streams}");
    }
    let streams = streams.min(fit);
    let file = data_file(root);
    println!(
        "kernel {}; load average before: {}",
        procfs::kernel_release().unwrap_or_default(),
        procfs::load_average().unwrap_or_default()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let limit = [
        "--limit-rate".to_string(),
        rate.to_string(),
        "--max-connections".into(),
        (streams + 100).to_string(),
    ];
    let throttled = Server::start(root, &file, &limit);
    let measured = runtime.block_on(throttled_phase(&throttled, streams, secs));
    let rss_kib = procfs::status(throttled.pid())
        .ok()
        .and_then(|s| procfs::status_field(&s, "VmRSS:"));
    drop(throttled);

    let free_server = Server::start(root, &file, &["--frame-size".into(), FRAME.to_string()]);
    let free = runtime.block_on(free_phase(&free_server, 16, secs));
    drop(free_server);

    report(streams, rate, &measured, &free, rss_kib);
}

/// Runs this bench again under `taskset -c 1`, and exits with its status.
fn pin_and_rerun() -> ! {
    let me = std::env::current_exe().unwrap();
    let status = Command::new("taskset")
        .args(["-c", "1"])
        .arg(me)
        .args(std::env::args_os().skip(1))
        .env("THROTTLE_PINNED", "1")
        .status()
        .expect("taskset (util-linux) runs the clients on CPU 1");
    std::process::exit(status.code().unwrap_or(1));
}

/// `target/throttle-data/file-1MiB.bin`, deterministic bytes, written once.
fn data_file(root: &Path) -> PathBuf {
    let path = root.join("target/throttle-data/file-1MiB.bin");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == FILE_LEN as u64) {
        return path;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    atomic_file::write(&path, |out| {
        for word in 0..(FILE_LEN / 8) as u64 {
            out.write_all(&splitmix::mix(word).to_le_bytes())?;
        }
        Ok(())
    })
    .expect("writing the data file");
    path
}

/// The release example server pinned to CPU 0, killed when dropped.
struct Server {
    child: Child,
    addr: std::net::SocketAddr,
    // Kept open: a closed pipe would kill the server with SIGPIPE.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(root: &Path, file: &Path, args: &[String]) -> Server {
        let binary = root.join("target/release/examples/server");
        let mut child = Command::new("taskset")
            .args(["-c", "0"])
            .arg(&binary)
            .arg(file)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the example server");
        let (line, stdout) = example_server::first_line(&mut child, Duration::from_secs(30))
            .expect("the server did not say where it listens");
        let addr = example_server::announced_addr(&line).expect("an address");
        Server {
            child,
            addr,
            _stdout: stdout,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's CPU time so far (user + system).
    fn cpu(&self) -> Duration {
        Duration::from_secs_f64(procfs::cpu_s(&self.pid().to_string()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one phase measured.
struct Measured {
    bytes: u64,
    cpu: Duration,
    wall: Duration,
}

/// `streams` connections, each one throttled `GET /video` read to its end; measured once
/// all of them stream.
async fn throttled_phase(server: &Server, streams: usize, secs: f64) -> Measured {
    let received = Arc::new(AtomicU64::new(0));
    let streaming = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for batch in 0..streams.div_ceil(100) {
        for _ in 0..100.min(streams - batch * 100) {
            let (received, streaming) = (received.clone(), streaming.clone());
            let addr = server.addr;
            tasks.spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                stream
                    .write_all(b"GET /video HTTP/1.1\r\nHost: bench\r\n\r\n")
                    .await
                    .unwrap();
                let mut buf = vec![0; 16 * 1024];
                let mut first = true;
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    if std::mem::take(&mut first) {
                        streaming.fetch_add(1, Ordering::Relaxed);
                    }
                    received.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
        // The server's listen backlog is short: let each batch in before the next.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while streaming.load(Ordering::Relaxed) < streams {
        assert!(
            Instant::now() < deadline,
            "not all streams started in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("throttled: {streams} streams running; measuring {secs} s");
    // A second for the first frames' burst to pass.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let measured = measure(server, &received, secs).await;
    tasks.abort_all();
    measured
}

/// `connections` connections fetching the file again and again, unthrottled.
async fn free_phase(server: &Server, connections: usize, secs: f64) -> Measured {
    let received = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let received = received.clone();
        let addr = server.addr;
        tasks.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let mut buf = vec![0; 256 * 1024];
            loop {
                stream
                    .write_all(b"GET /video HTTP/1.1\r\nHost: bench\r\n\r\n")
                    .await
                    .unwrap();
                // The head is a few hundred bytes; count the body's bytes in full.
                let mut left = FILE_LEN as i64 + 1;
                while left > 0 {
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the server closed the connection");
                    if left == FILE_LEN as i64 + 1 {
                        let head = buf[..n].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        left = FILE_LEN as i64 - (n - head) as i64;
                        received.fetch_add((n - head) as u64, Ordering::Relaxed);
                    } else {
                        left -= n as i64;
                        received.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let measured = measure(server, &received, secs).await;
    tasks.abort_all();
    measured
}

/// The server's CPU time and the bytes received over `secs` seconds.
async fn measure(server: &Server, received: &AtomicU64, secs: f64) -> Measured {
    let (cpu0, bytes0, start) = (
        server.cpu(),
        received.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    Measured {
        bytes: received.load(Ordering::Relaxed) - bytes0,
        cpu: server.cpu() - cpu0,
        wall: start.elapsed(),
    }
}

fn report(streams: usize, rate: u64, throttled: &Measured, free: &Measured, rss_kib: Option<u64>) {
    let per_gib = |m: &Measured| m.cpu.as_secs_f64() / (m.bytes as f64 / GIB);
    let per_frame_us = |m: &Measured| m.cpu.as_secs_f64() * 1e6 / (m.bytes / FRAME) as f64;
    let mb_s = |m: &Measured| m.bytes as f64 / m.wall.as_secs_f64() / 1e6;
    println!("| phase | MB/s | server CPU (cores) | CPU s per GiB | CPU µs per 4 KiB frame |");
    println!("|---|---:|---:|---:|---:|");
    for (name, m) in [
        (
            format!("{streams} streams throttled to {rate} B/s"),
            throttled,
        ),
        ("16 streams, same frames, unthrottled".to_string(), free),
    ] {
        println!(
            "| {name} | {:.1} | {:.2} | {:.2} | {:.2} |",
            mb_s(m),
            m.cpu.as_secs_f64() / m.wall.as_secs_f64(),
            per_gib(m),
            per_frame_us(m)
        );
    }
    println!(
        "\nexpected aggregate rate {:.1} MB/s; a frame's timer and wake-up cost {:.2} µs; \
         server RSS with {streams} throttled streams: {}",
        (streams as u64 * rate) as f64 / 1e6,
        per_frame_us(throttled) - per_frame_us(free),
        rss_kib.map_or("unknown".into(), |k| format!(
            "{:.0} MiB ({:.1} KiB a stream)",
            k as f64 / 1024.0,
            k as f64 / streams as f64
        )),
    );
}
