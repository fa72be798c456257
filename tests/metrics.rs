//! The library's metrics as an operator sees them: the example server built with the
//! `metrics` feature serves a directory with `--metrics-addr`, clients over real TCP do a
//! scripted mix (whole and ranged GETs, HEAD, `304`, `416`, a miss, `405`, a client that goes
//! away, a file cut under a slow client), and `/metrics` must count exactly that.

#![cfg(unix)]

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use support::{content, temp_dir, write, Server, LIMIT};

/// Large enough that no socket buffer holds it: a client that stops reading leaves the
/// server's body mid-way.
const LARGE: usize = 32 << 20;
const SMALL: usize = 100_000;

/// The example server built with the `metrics` feature, serving `dir` at `/media/`, with its
/// metrics endpoint on a port of its own; and that endpoint's address.
fn start(dir: &Path) -> (Server, SocketAddr) {
    let server = Server::start_example_with_features(
        "server",
        &["metrics"],
        &[dir.to_str().unwrap(), "--metrics-addr", "127.0.0.1:0"],
        &[("RUST_LOG", "warn")],
    );
    let line = server.stdout_lines(2, LIMIT)[1].clone();
    let metrics = line
        .strip_prefix("metrics at http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|addr| addr.parse::<SocketAddr>().ok())
        .unwrap_or_else(|| panic!("unexpected second line {line:?}"));
    assert_ne!(metrics.port(), 0, "{line}");
    assert_ne!(metrics, server.addr);
    (server, metrics)
}

/// A response as a client got it: its status, its head, and the body bytes that came.
struct Received {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Connects with a read timeout and sends `method path` with `headers` and `Connection:
/// close`.
fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// Reads the response head and at least `body_bytes` of the body (or all it has, if less).
fn read_response(stream: &mut TcpStream, body_bytes: usize) -> Received {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut head_end = None;
    loop {
        if let Some(end) = head_end {
            if buf.len() - end >= body_bytes {
                break;
            }
        }
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            // A connection cut by the server may end with a reset rather than an end of file.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("reading the response: {e}"),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if head_end.is_none() {
            head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
        }
    }
    let end = head_end.expect("a response head");
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    Received {
        status,
        head,
        body: buf[end..].to_vec(),
    }
}

/// A whole exchange on a fresh connection.
fn exchange(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Received {
    let mut stream = send(addr, method, path, headers);
    read_response(&mut stream, usize::MAX)
}

/// The series on `/metrics` by their full name (`name{labels}`), in Prometheus text format.
fn scrape(metrics: SocketAddr) -> HashMap<String, f64> {
    let page = exchange(metrics, "GET", "/metrics", &[]);
    assert_eq!(page.status, 200, "{}", page.head);
    let text = String::from_utf8(page.body).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// Scrapes until `done` holds, at most [`LIMIT`]; returns the last scrape.
#[track_caller]
fn scrape_until(
    metrics: SocketAddr,
    what: &str,
    done: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let scraped = scrape(metrics);
        if done(&scraped) {
            return scraped;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {LIMIT:?}; /metrics: {scraped:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn value(scraped: &HashMap<String, f64>, series: &str) -> f64 {
    scraped.get(series).copied().unwrap_or(0.0)
}

fn outcome(scraped: &HashMap<String, f64>, outcome: &str) -> f64 {
    value(
        scraped,
        &format!("tower_range_bodies_ended_total{{outcome=\"{outcome}\"}}"),
    )
}

#[test]
fn every_metric_counts_exactly_what_a_scripted_mix_of_clients_did() {
    let dir = temp_dir("metrics-mix");
    write(&dir.join("small.bin"), &content(SMALL));
    write(&dir.join("large.bin"), &content(LARGE));
    write(&dir.join("cut.bin"), &content(LARGE));
    let (server, metrics) = start(&dir);
    let addr = server.addr;
    let mut received = 0usize;

    // Answers that complete: a whole GET, three ranges (one multipart), a HEAD.
    let whole = exchange(addr, "GET", "/media/small.bin", &[]);
    assert_eq!((whole.status, whole.body.len()), (200, SMALL));
    received += whole.body.len();
    for range in ["bytes=0-99", "bytes=-100", "bytes=0-9,200-299"] {
        let part = exchange(addr, "GET", "/media/small.bin", &[("Range", range)]);
        assert_eq!(part.status, 206, "{range}: {}", part.head);
        received += part.body.len();
    }
    let head = exchange(addr, "HEAD", "/media/small.bin", &[]);
    assert_eq!(head.status, 200);
    // Answers without a body to stream: 304, 416, a miss, 405.
    let etag = whole.header("etag").expect("an ETag").to_owned();
    let not_modified = exchange(addr, "GET", "/media/small.bin", &[("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    let unsatisfiable = exchange(
        addr,
        "GET",
        "/media/small.bin",
        &[("Range", "bytes=999999999-")],
    );
    assert_eq!(unsatisfiable.status, 416);
    received += unsatisfiable.body.len();
    let missing = exchange(addr, "GET", "/media/missing.bin", &[]);
    assert_eq!(missing.status, 404);
    received += missing.body.len();
    let post = exchange(addr, "POST", "/media/small.bin", &[]);
    assert_eq!(post.status, 405);
    received += post.body.len();

    // A client that reads a little of a large file and goes away.
    let mut leaving = send(addr, "GET", "/media/large.bin", &[]);
    let partial = read_response(&mut leaving, 64 * 1024);
    assert_eq!(partial.status, 200);
    received += partial.body.len();
    drop(leaving);
    scrape_until(metrics, "the body of the client that left ends", |m| {
        outcome(m, "aborted") >= 1.0
    });

    // A slow client, and the file cut to nothing under it mid-stream: the body must end with
    // an error, so the client gets fewer bytes than the Content-Length promised.
    let mut slow = send(addr, "GET", "/media/cut.bin", &[]);
    let started = read_response(&mut slow, 64 * 1024);
    assert_eq!(started.status, 200);
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cut.bin"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let mut rest = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match slow.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
        }
    }
    let cut_received = started.body.len() + rest.len();
    assert!(cut_received < LARGE, "the cut body was sent whole");
    received += cut_received;

    let scraped = scrape_until(metrics, "every body ends and its read-ahead is back", |m| {
        outcome(m, "cut") >= 1.0
            && value(m, "tower_range_bodies_active") == 0.0
            && value(m, "tower_range_read_ahead_bytes") == 0.0
    });
    let by_status = |status: &str| {
        value(
            &scraped,
            &format!("tower_range_requests_total{{status=\"{status}\"}}"),
        )
    };
    let statuses = ["200", "206", "304", "404", "405", "416"].map(by_status);
    // 200: the whole GET, the HEAD, the client that left, the cut one.
    assert_eq!(statuses, [4.0, 3.0, 1.0, 1.0, 1.0, 1.0], "{scraped:#?}");
    let answered: f64 = scraped
        .iter()
        .filter(|(series, _)| series.starts_with("tower_range_requests_total{"))
        .map(|(_, count)| count)
        .sum();
    assert_eq!(answered, 11.0, "no other status: {scraped:#?}");
    // Only streaming bodies have an outcome: not the HEAD, 304, 416, 404 or 405.
    let outcomes = ["completed", "aborted", "cut"].map(|o| outcome(&scraped, o));
    assert_eq!(outcomes, [4.0, 1.0, 1.0], "{scraped:#?}");
    // Every answer, whatever its status, is timed to its head.
    assert_eq!(
        value(&scraped, "tower_range_response_head_seconds_count"),
        answered,
        "{scraped:#?}"
    );
    assert_eq!(
        value(
            &scraped,
            "tower_range_response_head_seconds_bucket{le=\"+Inf\"}"
        ),
        answered,
        "histograms are exported as buckets: {scraped:#?}"
    );
    let sent = value(&scraped, "tower_range_sent_bytes_total");
    assert!(sent >= received as f64, "sent {sent} < received {received}");
    // Whether a body read ahead depends on the disk (a body served from the page cache reads
    // on demand), so the read-ahead gauge may never have moved; where it did, the wait above
    // saw it back at 0.
    for gauge in [
        "tower_range_blocking_operations_running",
        "tower_range_blocking_operations_waiting",
    ] {
        assert_eq!(value(&scraped, gauge), 0.0, "{gauge}: {scraped:#?}");
    }
    drop(server);
}

#[test]
fn the_endpoint_describes_each_metric_and_serves_only_its_path() {
    let dir = temp_dir("metrics-endpoint");
    write(&dir.join("small.bin"), &content(SMALL));
    let (server, metrics) = start(&dir);
    let whole = exchange(server.addr, "GET", "/media/small.bin", &[]);
    assert_eq!(whole.status, 200);
    let page = exchange(metrics, "GET", "/metrics", &[]);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{}",
        page.head
    );
    let text = String::from_utf8(page.body).unwrap();
    for (name, kind) in [
        ("tower_range_requests_total", "counter"),
        ("tower_range_response_head_seconds", "histogram"),
        ("tower_range_sent_bytes_total", "counter"),
        ("tower_range_bodies_ended_total", "counter"),
        ("tower_range_bodies_active", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}: {text}"
        );
        assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
    }
    assert_eq!(exchange(metrics, "GET", "/", &[]).status, 404);
    assert_eq!(exchange(metrics, "GET", "/metrics/x", &[]).status, 404);
}
