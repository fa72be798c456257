//! The floor of the object-store benchmark (`BENCH_WORKLOADS=ws cargo bench --bench compare`,
//! issue 13): the least a process can spend to pull an object's bytes from S3 with the client
//! the library uses, and, with `--send`, to hand them on to a client. It makes the GETs the
//! example server makes for the same workload — `object_store`'s `get_opts(..).into_stream()`
//! with a `Range`, the client built by `tower_range::store::from_url` (the same streaming
//! client options, the same `AWS_*` environment) — and copies each chunk it receives: without
//! `--send` it drops the bytes, counting them (the receive-only floor); with `--send
//! HOST:PORT` each copy loop opens one TCP connection to HOST:PORT before the loops start
//! (`TCP_NODELAY`, as the server's) and writes every chunk to it (`write_all`), so that it
//! pays what the server pays to put the bytes on a socket. No HTTP server, no frames: what
//! the server spends beyond this is what serving costs.
//!
//! ```text
//! cargo run --release --features aws --example store_copy -- s3://BUCKET/KEY --size BYTES \
//!     [--conns N] [--secs S] [--drain S] [--range-len BYTES] [--seed N] [--send HOST:PORT]
//! cargo run --release --features aws --example store_copy -- s3://BUCKET/KEY --probe
//! ```
//!
//! `--conns` loops run at once, each starting GETs one after another for `--secs` (then the
//! GETs in flight may finish for up to `--drain` seconds more, as the bench's load clients
//! do); a GET asks for the whole object (`--range-len 0`, W1's shape) or for `--range-len`
//! bytes at a random offset (W2's). The bench pins it to CPU 0 as it pins the servers, and a
//! tokio runtime like the server's runs on it (one worker under `taskset`); with `--send`, the
//! bench's sink reads the connections on CPU 1 and discards the bytes. One JSON line at the
//! end: GETs started and finished, body bytes, chunks and the largest, errors, whether it sent
//! (`sent`) and the bytes written to the connections (`sent_bytes`), wall time and the
//! process's CPU seconds (all threads, from `/proc/self/stat`) over the copy loops alone (the
//! connects before them are not counted). A loop whose connection fails to take a chunk
//! counts an error and stops. `--probe` prints the object's size and ETag (one HEAD) and
//! exits: the bench checks with it that the store answers and serves the ETag it was given.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

// The benches' own readers of /proc and their random numbers: this program is the compare
// bench's floor.
#[path = "../benches/support/procfs.rs"]
#[allow(dead_code)]
mod procfs;
#[path = "../benches/support/splitmix.rs"]
mod splitmix;
use tower_range::store::from_url;
use tower_range::store::object_store::path::Path;
use tower_range::store::object_store::{GetOptions, GetRange, ObjectStore};

/// What the command line asks for.
struct Args {
    url: String,
    size: u64,
    conns: u64,
    secs: f64,
    drain: f64,
    range_len: u64,
    seed: u64,
    probe: bool,
    /// Where each loop writes the bytes it receives (`--send`), if anywhere.
    send: Option<String>,
}

impl Args {
    fn parse() -> Self {
        let mut args = Args {
            url: String::new(),
            size: 0,
            conns: 1,
            secs: 10.0,
            drain: 0.0,
            range_len: 0,
            seed: 1,
            probe: false,
            send: None,
        };
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            if word == "--probe" {
                args.probe = true;
                continue;
            }
            if !word.starts_with("--") {
                args.url = word;
                continue;
            }
            let value = words
                .next()
                .unwrap_or_else(|| fail(&format!("{word} needs a value")));
            if word == "--send" {
                args.send = Some(value);
                continue;
            }
            let number = || -> f64 {
                value
                    .parse()
                    .unwrap_or_else(|_| fail(&format!("{word} {value}: not a number")))
            };
            match word.as_str() {
                "--size" => args.size = number() as u64,
                "--conns" => args.conns = (number() as u64).max(1),
                "--secs" => args.secs = number(),
                "--drain" => args.drain = number(),
                "--range-len" => args.range_len = number() as u64,
                "--seed" => args.seed = number() as u64,
                other => fail(&format!("unknown flag {other}")),
            }
        }
        if args.url.is_empty() || (!args.probe && args.size == 0) {
            fail("usage: store_copy s3://BUCKET/KEY --size BYTES [--conns N] [--secs S] [--drain S] [--range-len BYTES] [--seed N] [--send HOST:PORT] | --probe");
        }
        args
    }
}

fn fail(message: &str) -> ! {
    eprintln!("store_copy: {message}");
    std::process::exit(2)
}

/// What the copy loops counted, shared by them.
#[derive(Default)]
struct Counts {
    started: AtomicU64,
    finished: AtomicU64,
    bytes: AtomicU64,
    chunks: AtomicU64,
    largest_chunk: AtomicU64,
    errors: AtomicU64,
    /// Bytes written to the `--send` connections.
    sent_bytes: AtomicU64,
}

/// Why a GET's copy failed: the store's stream, or the `--send` connection.
enum CopyError {
    Store(tower_range::store::object_store::Error),
    Send(std::io::Error),
}

/// One loop: GETs one after another until `stop`; the one running then may go on to `cut`.
/// With a connection (`--send`), each chunk is written to it.
async fn copy_loop(
    store: Arc<dyn ObjectStore>,
    key: Path,
    args: Arc<Args>,
    (index, mut send): (u64, Option<TcpStream>),
    counts: Arc<Counts>,
    (stop, cut): (tokio::time::Instant, tokio::time::Instant),
) {
    // The benches' SplitMix64 from a state of this loop's own: the offsets need spread only.
    let mut state = args.seed.wrapping_add(index.wrapping_mul(0x1000_0001));
    while tokio::time::Instant::now() < stop {
        let range = if args.range_len == 0 {
            0..args.size
        } else {
            state = state.wrapping_add(splitmix::GOLDEN);
            let offset = splitmix::mix(state) % (args.size.saturating_sub(args.range_len) + 1);
            offset..(offset + args.range_len).min(args.size)
        };
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        counts.started.fetch_add(1, Ordering::Relaxed);
        let copied = tokio::time::timeout_at(cut, async {
            let result = store.get_opts(&key, options).await;
            let mut stream = result.map_err(CopyError::Store)?.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(CopyError::Store)?;
                if let Some(socket) = send.as_mut() {
                    socket.write_all(&chunk).await.map_err(CopyError::Send)?;
                    counts
                        .sent_bytes
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                counts
                    .bytes
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                counts.chunks.fetch_add(1, Ordering::Relaxed);
                counts
                    .largest_chunk
                    .fetch_max(chunk.len() as u64, Ordering::Relaxed);
            }
            Ok::<(), CopyError>(())
        });
        match copied.await {
            Ok(Ok(())) => {
                counts.finished.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(CopyError::Store(error))) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("store_copy: {error}");
            }
            // The connection is gone: this loop can hand nothing on any more.
            Ok(Err(CopyError::Send(error))) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("store_copy: sending: {error}");
                return;
            }
            // Cut at the end of the drain: in flight, not an error.
            Err(_) => return,
        }
    }
}

fn main() {
    let args = Arc::new(Args::parse());
    // As the example server: a multi-threaded runtime, one worker per CPU it may use.
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(run(args));
}

async fn run(args: Arc<Args>) {
    let (store, key) = from_url(&args.url).unwrap_or_else(|e| fail(&format!("{}: {e}", args.url)));
    if args.probe {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let meta = match store.get_opts(&key, options).await {
            Ok(result) => result.meta,
            Err(error) => fail(&format!("{}: {error}", args.url)),
        };
        println!(
            "{}",
            serde_json::json!({ "size": meta.size, "e_tag": meta.e_tag })
        );
        return;
    }
    // The connections first, outside the measured time: one per loop.
    let mut sockets = Vec::new();
    if let Some(addr) = &args.send {
        for _ in 0..args.conns {
            let socket = TcpStream::connect(addr.as_str())
                .await
                .unwrap_or_else(|e| fail(&format!("connecting to {addr}: {e}")));
            socket
                .set_nodelay(true)
                .unwrap_or_else(|e| fail(&format!("TCP_NODELAY to {addr}: {e}")));
            sockets.push(socket);
        }
    }
    let mut sockets = sockets.into_iter();
    let counts = Arc::new(Counts::default());
    let stop = tokio::time::Instant::now() + Duration::from_secs_f64(args.secs);
    let cut = stop + Duration::from_secs_f64(args.drain);
    let cpu0 = procfs::cpu_s("self");
    let started = Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for index in 0..args.conns {
        let (store, key, args, counts) = (store.clone(), key.clone(), args.clone(), counts.clone());
        let send = sockets.next();
        loops.spawn(copy_loop(
            store,
            key,
            args,
            (index, send),
            counts,
            (stop, cut),
        ));
    }
    while loops.join_next().await.is_some() {}
    let duration = started.elapsed().as_secs_f64();
    let cpu = procfs::cpu_s("self") - cpu0;
    let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "started": get(&counts.started),
            "finished": get(&counts.finished),
            "body_bytes": get(&counts.bytes),
            "chunks": get(&counts.chunks),
            "largest_chunk": get(&counts.largest_chunk),
            "errors": get(&counts.errors),
            "sent": args.send.is_some(),
            "sent_bytes": get(&counts.sent_bytes),
            "duration_s": duration,
            "cpu_s": cpu,
        })
    );
}
