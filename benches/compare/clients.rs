//! The load generators that the driver runs in their own process (the bench binary again,
//! with `--role ...`), pinned to CPU 1:
//!
//! - `--role load`: a closed-loop HTTP/1.1 client, `conns` keep-alive connections that each
//!   send one `GET` with a `Range` at a time and read the whole response into a 256 KiB
//!   buffer. It is used for W1 and W2 because `wrk` reads 8 KiB per `read(2)` and tops out
//!   near 0.8 GB/s on this machine, below what the servers send. With `--drain S` the
//!   requests in flight at the end may finish for S seconds more (the object-store workloads
//!   count the store's GETs per request sent, so every request sent must reach the server).
//! - `--role slow`: W4's clients: `conns` connections each asking for a long range; even ones
//!   read at `rate` bytes/s, odd ones read the response head and then stop reading. They hold
//!   on until the driver closes the standard input.
//! - `--role proxy`: the object store's counting proxy (`proxy.rs`).
//! - `--role sink`: where the sending floor of the object store (`store_copy --send`) writes
//!   the bytes it pulls: listens on 127.0.0.1 at a port of its own, whose address is its first
//!   line out (`sink at ADDR`), accepts any number of connections and reads each with 256 KiB
//!   reads, discarding the bytes, until the driver closes its standard input; then it reads
//!   the connections it has to their end (the floor is gone by then) and stops. It lives at
//!   most `secs` seconds in any case.
//!
//! `load`, `slow` and `sink` print one JSON line with what they measured, their own CPU time
//! included.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BUF: usize = 256 * 1024;

/// Runs the role named in `args` (the arguments after `--role`).
pub fn role_main(args: &[String]) {
    let role = args.first().map(String::as_str).unwrap_or("");
    if role == "proxy" {
        // The object store's counting proxy, a role of its own (`proxy.rs`).
        return crate::proxy::role_main(&args[1..]);
    }
    let opts = Opts::parse(&args[1.min(args.len())..]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let line = match role {
        "load" => runtime.block_on(load(opts)),
        "slow" => runtime.block_on(slow(opts)),
        "sink" => runtime.block_on(sink(opts)),
        other => {
            eprintln!("unknown role {other:?}");
            std::process::exit(2);
        }
    };
    println!("{line}");
    // Exit without closing sockets one by one: the kernel closes them.
    std::process::exit(0);
}

#[derive(Debug, Clone)]
struct Opts {
    addr: SocketAddr,
    path: String,
    conns: usize,
    secs: f64,
    /// For `load`: how long the requests in flight at the end of `secs` may go on (no new
    /// ones are sent), so that every request sent reaches the server and is counted there.
    drain: f64,
    /// 0: `bytes=0-`; otherwise ranges of this many bytes at random offsets.
    range_len: u64,
    file_size: u64,
    /// For `slow`: the last byte asked for (`bytes=0-END`).
    range_end: u64,
    /// For `slow`: the reading clients' rate in bytes/s.
    /// (For `sink`, `secs` is its longest lifetime.)
    rate: u64,
    seed: u64,
}

impl Opts {
    fn parse(args: &[String]) -> Self {
        let mut opts = Opts {
            addr: "127.0.0.1:8000".parse().unwrap(),
            path: "/video".into(),
            conns: 1,
            secs: 10.0,
            drain: 0.0,
            range_len: 0,
            file_size: 0,
            range_end: 0,
            rate: 64 * 1024,
            seed: 1,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            let num = || {
                value
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("bad {flag}"))
            };
            match flag.as_str() {
                "--addr" => opts.addr = value.parse().expect("bad --addr"),
                "--path" => opts.path = value.clone(),
                "--conns" => opts.conns = num() as usize,
                "--secs" => opts.secs = value.parse().expect("bad --secs"),
                "--drain" => opts.drain = value.parse().expect("bad --drain"),
                "--range-len" => opts.range_len = num(),
                "--file-size" => opts.file_size = num(),
                "--range-end" => opts.range_end = num(),
                "--rate" => opts.rate = num(),
                "--seed" => opts.seed = num(),
                other => panic!("unknown flag {other}"),
            }
        }
        opts
    }
}

/// CPU seconds (user + system) this process used so far.
fn self_cpu_s() -> f64 {
    crate::procfs::cpu_s("self")
}

#[derive(Default)]
struct ConnStats {
    /// Requests written, answered or not.
    sent: u64,
    requests: u64,
    body_bytes: u64,
    errors: u64,
    bad_status: u64,
    latencies_us: Vec<u32>,
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Where the head ends, its status and its `Content-Length` and whether it says `close`.
fn parse_head(buf: &[u8]) -> Option<Result<(usize, u16, u64, bool), ()>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ());
    let Ok(head) = head else {
        return Some(Err(()));
    };
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    let Some(status) = status else {
        return Some(Err(()));
    };
    let mut len = None;
    let mut close = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = value.parse().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            }
        }
    }
    match len {
        Some(len) => Some(Ok((end, status, len, close))),
        None => Some(Err(())),
    }
}

async fn load(opts: Opts) -> String {
    let cpu0 = self_cpu_s();
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(opts.secs);
    let cut = deadline + Duration::from_secs_f64(opts.drain);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..opts.conns {
        let opts = opts.clone();
        tasks.spawn(load_conn(opts, i as u64, deadline, cut));
    }
    let mut total = ConnStats::default();
    while let Some(joined) = tasks.join_next().await {
        let stats = joined.expect("a load connection task");
        total.sent += stats.sent;
        total.requests += stats.requests;
        total.body_bytes += stats.body_bytes;
        total.errors += stats.errors;
        total.bad_status += stats.bad_status;
        total.latencies_us.extend(stats.latencies_us);
    }
    let elapsed = start.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    let pct = |p: f64| -> u32 {
        let l = &total.latencies_us;
        if l.is_empty() {
            return 0;
        }
        l[((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1]
    };
    serde_json::json!({
        "sent": total.sent,
        "requests": total.requests,
        "body_bytes": total.body_bytes,
        "duration_s": elapsed,
        "errors": total.errors,
        "bad_status": total.bad_status,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "max_us": total.latencies_us.last().copied().unwrap_or(0),
        "client_cpu_s": self_cpu_s() - cpu0,
    })
    .to_string()
}

/// One connection's requests, one at a time, until `deadline`; the one in flight then may
/// go on until `cut`.
async fn load_conn(
    opts: Opts,
    index: u64,
    deadline: tokio::time::Instant,
    cut: tokio::time::Instant,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut rng =
        (opts.seed ^ 0x9e37_79b9_7f4a_7c15).wrapping_add(index.wrapping_mul(0x1000_0001)) | 1;
    let mut buf = vec![0u8; BUF];
    'connect: while tokio::time::Instant::now() < deadline {
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(opts.addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) => {
                stats.errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(_) => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = stream;
        loop {
            let range = if opts.range_len == 0 {
                "bytes=0-".to_string()
            } else {
                let span = opts.file_size.saturating_sub(opts.range_len) + 1;
                let offset = xorshift(&mut rng) % span;
                format!("bytes={}-{}", offset, offset + opts.range_len - 1)
            };
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nRange: {}\r\n\r\n",
                opts.path, opts.addr, range
            );
            let t0 = Instant::now();
            if stream.write_all(request.as_bytes()).await.is_err() {
                stats.errors += 1;
                continue 'connect;
            }
            stats.sent += 1;
            // The head, and whatever body came with it.
            let mut filled = 0;
            let (head_end, status, len, close) = loop {
                let read = tokio::time::timeout_at(cut, stream.read(&mut buf[filled..]));
                match read.await {
                    Err(_) => return stats,
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        stats.errors += 1;
                        continue 'connect;
                    }
                    Ok(Ok(n)) => filled += n,
                }
                match parse_head(&buf[..filled]) {
                    Some(Ok(head)) => break head,
                    Some(Err(())) => {
                        stats.errors += 1;
                        continue 'connect;
                    }
                    None if filled == buf.len() => {
                        stats.errors += 1;
                        continue 'connect;
                    }
                    None => {}
                }
            };
            if status != 206 && status != 200 {
                stats.bad_status += 1;
            }
            let mut got = (filled - head_end) as u64;
            stats.body_bytes += got;
            while got < len {
                let want = ((len - got) as usize).min(buf.len());
                let read = tokio::time::timeout_at(cut, stream.read(&mut buf[..want]));
                match read.await {
                    Err(_) => return stats,
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        stats.errors += 1;
                        continue 'connect;
                    }
                    Ok(Ok(n)) => {
                        got += n as u64;
                        stats.body_bytes += n as u64;
                    }
                }
            }
            if got > len {
                // Bytes past the body: the server sent more than it said.
                stats.errors += 1;
                continue 'connect;
            }
            stats.requests += 1;
            stats
                .latencies_us
                .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
            if close {
                continue 'connect;
            }
            if tokio::time::Instant::now() >= deadline {
                return stats;
            }
        }
    }
    stats
}

#[derive(Default)]
struct SlowStats {
    connected: u64,
    heads: u64,
    errors: u64,
    read_bytes: u64,
}

async fn slow(opts: Opts) -> String {
    let cpu0 = self_cpu_s();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The driver closes our standard input to stop us.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = stop_tx.send(true);
    });
    let stats = std::sync::Arc::new(std::sync::Mutex::new(SlowStats::default()));
    let mut tasks = Vec::new();
    for i in 0..opts.conns {
        let opts = opts.clone();
        let stats = stats.clone();
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = slow_conn(opts, i % 2 == 0, stats) => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        }));
        // Stagger the connects a little so that the listen backlog never overflows.
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut stop = stop_rx.clone();
    let _ = stop.wait_for(|stop| *stop).await;
    let stats = stats.lock().unwrap();
    serde_json::json!({
        "connected": stats.connected,
        "heads": stats.heads,
        "errors": stats.errors,
        "read_bytes": stats.read_bytes,
        "client_cpu_s": self_cpu_s() - cpu0,
    })
    .to_string()
}

async fn slow_conn(opts: Opts, reads: bool, stats: std::sync::Arc<std::sync::Mutex<SlowStats>>) {
    let Ok(mut stream) = TcpStream::connect(opts.addr).await else {
        stats.lock().unwrap().errors += 1;
        return;
    };
    stats.lock().unwrap().connected += 1;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nRange: bytes=0-{}\r\n\r\n",
        opts.path, opts.addr, opts.range_end
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        stats.lock().unwrap().errors += 1;
        return;
    }
    // Read the head in small pieces so that a stalling client takes little of the body.
    let mut head = Vec::new();
    let mut piece = [0u8; 1024];
    loop {
        match stream.read(&mut piece).await {
            Ok(0) | Err(_) => {
                stats.lock().unwrap().errors += 1;
                return;
            }
            Ok(n) => head.extend_from_slice(&piece[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    stats.lock().unwrap().heads += 1;
    if !reads {
        // Stall: keep the connection open, read nothing more.
        std::future::pending::<()>().await;
    }
    let started = tokio::time::Instant::now();
    let mut read: u64 = 0;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => {
                stats.lock().unwrap().errors += 1;
                return;
            }
            Ok(n) => {
                read += n as u64;
                stats.lock().unwrap().read_bytes += n as u64;
            }
        }
        let due = started + Duration::from_secs_f64(read as f64 / opts.rate as f64);
        tokio::time::sleep_until(due).await;
    }
}

/// What the sink received, shared by its readers.
#[derive(Default)]
struct SinkCounts {
    connections: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
}

/// `--role sink`: reads and discards what any number of connections send, until the driver
/// closes our standard input and the connections have ended, or `secs` have passed.
async fn sink(opts: Opts) -> String {
    use std::sync::atomic::Ordering::Relaxed;

    let cpu0 = self_cpu_s();
    let end_of_life = tokio::time::Instant::now() + Duration::from_secs_f64(opts.secs);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the sink");
    println!("sink at {}", listener.local_addr().unwrap());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = stop_tx.send(true);
    });
    let counts = std::sync::Arc::new(SinkCounts::default());
    let mut readers = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut stream, _)) = accepted else {
                    counts.errors.fetch_add(1, Relaxed);
                    continue;
                };
                counts.connections.fetch_add(1, Relaxed);
                let counts = counts.clone();
                readers.spawn(async move {
                    let mut buf = vec![0u8; BUF];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) => return,
                            Ok(n) => {
                                counts.bytes.fetch_add(n as u64, Relaxed);
                            }
                            Err(_) => {
                                counts.errors.fetch_add(1, Relaxed);
                                return;
                            }
                        }
                    }
                });
            }
            _ = stop_rx.wait_for(|stop| *stop) => break,
            () = tokio::time::sleep_until(end_of_life) => break,
        }
    }
    // What the writers sent before they went is still to be read: to the end of each.
    let drained = tokio::time::timeout_at(end_of_life, async {
        while readers.join_next().await.is_some() {}
    });
    let timed_out = drained.await.is_err();
    serde_json::json!({
        "connections": counts.connections.load(Relaxed),
        "bytes": counts.bytes.load(Relaxed),
        "errors": counts.errors.load(Relaxed),
        "timed_out": timed_out,
        "client_cpu_s": self_cpu_s() - cpu0,
    })
    .to_string()
}
