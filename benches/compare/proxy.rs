//! The counting proxy of the object-store workloads (`--role proxy`, pinned to CPU 1 with the
//! store and the load): every request the server under test (or the floor) sends to the S3
//! server passes through it and is counted by method, with its `Range` and `If-Match`, so
//! that "upstream requests per client request" comes from the wire, not from the library's own
//! accounting (which the example server does not print, and which would not see a retry
//! inside the store client).
//!
//! HTTP/1.1 only, as `object_store` speaks it to an `http://` endpoint: each connection is
//! relayed to a connection of its own to the store; requests are parsed only as far as
//! their heads and `Content-Length` bodies, and go on byte for byte (the `Host` header with
//! them, which SigV4 signs); responses are relayed unparsed. A request it cannot frame (a
//! chunked body) is counted as `unframed` and the rest of that connection relayed raw.
//!
//! The driver talks to it over its standard streams: the first line out is
//! `counting proxy at http://ADDR/`; each line in is answered with one JSON line of the
//! counts so far; the end of its input ends it.

use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// The requests seen since the proxy started.
#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    gets: AtomicU64,
    /// GETs with a `Range` header.
    ranged_gets: AtomicU64,
    /// GETs with an `If-Match` header.
    conditional_gets: AtomicU64,
    heads: AtomicU64,
    /// Requests of any other method.
    others: AtomicU64,
    /// Requests whose body the proxy could not frame.
    unframed: AtomicU64,
    /// Response bytes relayed from the store, heads included.
    bytes_down: AtomicU64,
}

impl Counts {
    fn json(&self) -> String {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        serde_json::json!({
            "connections": get(&self.connections),
            "gets": get(&self.gets),
            "ranged_gets": get(&self.ranged_gets),
            "conditional_gets": get(&self.conditional_gets),
            "heads": get(&self.heads),
            "others": get(&self.others),
            "unframed": get(&self.unframed),
            "bytes_down": get(&self.bytes_down),
        })
        .to_string()
    }
}

/// Runs the proxy role: `--upstream HOST:PORT`.
pub fn role_main(args: &[String]) {
    let upstream: SocketAddr = match args {
        [flag, addr] if flag == "--upstream" => addr.parse().expect("bad --upstream"),
        _ => panic!("the proxy role takes --upstream HOST:PORT"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let counts = Arc::new(Counts::default());
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("binding the proxy");
    println!(
        "counting proxy at http://{}/",
        listener.local_addr().unwrap()
    );
    // The driver asks for the counts with a line and stops the proxy by closing our input.
    let asked = counts.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            println!("{}", asked.json());
        }
        std::process::exit(0);
    });
    runtime.block_on(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            counts.connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(relay(client, upstream, counts.clone()));
        }
    });
}

/// One client connection relayed to a store connection of its own, both ways.
async fn relay(client: TcpStream, upstream: SocketAddr, counts: Arc<Counts>) {
    let Ok(store) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = store.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (store_read, store_write) = store.into_split();
    let up = requests(client_read, store_write, counts.clone());
    let down = responses(store_read, client_write, counts);
    tokio::join!(up, down);
}

/// The read size of both directions: the store's answers come in pieces of at most this.
const BUF: usize = 64 * 1024;

/// Store to client: the bytes as they come, counted.
async fn responses(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, counts: Arc<Counts>) {
    let mut buf = vec![0u8; BUF];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                counts.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Client to store: each request head parsed and counted, then passed on with its body.
async fn requests(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, counts: Arc<Counts>) {
    let mut pending: Vec<u8> = Vec::with_capacity(BUF);
    let mut buf = vec![0u8; BUF];
    'requests: loop {
        // The head: read until its blank line.
        let end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break 'requests,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        };
        let body = match count(&pending[..end], &counts) {
            Some(body) => body,
            None => {
                // Unframed: relay the rest raw.
                counts.unframed.fetch_add(1, Ordering::Relaxed);
                if to.write_all(&pending).await.is_err() {
                    break;
                }
                let _ = tokio::io::copy(&mut from, &mut to).await;
                break;
            }
        };
        if to.write_all(&pending[..end]).await.is_err() {
            break;
        }
        pending.drain(..end);
        // The body, from what came with the head and then from the socket.
        let mut left = body;
        let now = (left as usize).min(pending.len());
        if to.write_all(&pending[..now]).await.is_err() {
            break;
        }
        pending.drain(..now);
        left -= now as u64;
        while left > 0 {
            let want = (left as usize).min(buf.len());
            match from.read(&mut buf[..want]).await {
                Ok(0) | Err(_) => break 'requests,
                Ok(n) => {
                    if to.write_all(&buf[..n]).await.is_err() {
                        break 'requests;
                    }
                    left -= n as u64;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Counts the request of `head` and returns the length of its body; `None` when the head
/// does not parse or the body is chunked.
fn count(head: &[u8], counts: &Counts) -> Option<u64> {
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let method = lines.next()?.split(' ').next()?;
    let (mut length, mut range, mut if_match) = (0u64, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        } else if name.eq_ignore_ascii_case("range") {
            range = true;
        } else if name.eq_ignore_ascii_case("if-match") {
            if_match = true;
        }
    }
    let counter = match method {
        "GET" => {
            if range {
                counts.ranged_gets.fetch_add(1, Ordering::Relaxed);
            }
            if if_match {
                counts.conditional_gets.fetch_add(1, Ordering::Relaxed);
            }
            &counts.gets
        }
        "HEAD" => &counts.heads,
        _ => &counts.others,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    Some(length)
}

/// The upstream requests counted between two moments (see [`Proxy::counts`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Upstream {
    pub gets: f64,
    pub ranged_gets: f64,
    pub conditional_gets: f64,
    pub heads: f64,
    pub others: f64,
    pub unframed: f64,
}

impl Upstream {
    /// What was counted after `before` was.
    pub fn since(self, before: Upstream) -> Upstream {
        Upstream {
            gets: self.gets - before.gets,
            ranged_gets: self.ranged_gets - before.ranged_gets,
            conditional_gets: self.conditional_gets - before.conditional_gets,
            heads: self.heads - before.heads,
            others: self.others - before.others,
            unframed: self.unframed - before.unframed,
        }
    }
}

/// The proxy as the driver runs it: a child process pinned to CPU 1 in front of the store.
pub struct Proxy {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    /// Where the server under test and the floor send their store requests.
    pub addr: SocketAddr,
}

impl Proxy {
    /// Starts the proxy in front of `upstream`, its errors into `log`.
    pub fn start(upstream: SocketAddr, log: std::fs::File) -> Self {
        use std::process::Stdio;

        let exe = std::env::current_exe().expect("the bench's own path");
        let args = ["--role", "proxy", "--upstream", &upstream.to_string()].map(String::from);
        let mut child = crate::children::pinned("1", &exe, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting the counting proxy");
        crate::children::track(child.id());
        let stdin = child.stdin.take().expect("the proxy's input");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("its output"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the proxy's first line");
        let addr = crate::example_server::announced_addr(&line)
            .unwrap_or_else(|| panic!("the proxy said {line:?}"));
        Self {
            child,
            stdin,
            stdout,
            addr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The requests counted since the proxy started.
    pub fn counts(&mut self) -> Upstream {
        use std::io::Write;

        writeln!(self.stdin).expect("asking the proxy for its counts");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the proxy's counts");
        let json: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("the proxy said {line:?}"));
        let get = |key: &str| json[key].as_f64().unwrap_or(f64::NAN);
        Upstream {
            gets: get("gets"),
            ranged_gets: get("ranged_gets"),
            conditional_gets: get("conditional_gets"),
            heads: get("heads"),
            others: get("others"),
            unframed: get("unframed"),
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::children::untrack(self.child.id());
    }
}
