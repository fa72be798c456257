//! Faults over real TCP: a disk that hangs and recovers (latency injected through the source
//! trait), and many clients that abort mid-download against the example server in a child
//! process (file descriptors and RSS come back).

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use support::{bounded, content, request, serve, temp_file, Client, Protocol, Server};
use tokio::sync::watch;
use tower_range::source::MemoryReader;
use tower_range::{Error, MemorySource, Opened, RangeFileService, Resources, Source, SourceReader};

/// A disk that can hang: reads wait until the gate is open. Each read runs as its own task,
/// as a real source's would, and counts while it waits.
#[derive(Clone)]
struct HangingDisk {
    inner: MemorySource,
    open: watch::Receiver<bool>,
    waiting: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct HangingReader {
    inner: MemoryReader,
    open: watch::Receiver<bool>,
    waiting: Arc<AtomicUsize>,
}

impl Source for HangingDisk {
    type Reader = HangingReader;

    async fn open(
        &self,
        resources: &Resources,
    ) -> Result<Opened<HangingReader>, tower_range::OpenError> {
        let opened = self.inner.open(resources).await?;
        Ok(Opened::new(
            opened.metadata,
            HangingReader {
                inner: opened.reader,
                open: self.open.clone(),
                waiting: self.waiting.clone(),
            },
        ))
    }
}

impl SourceReader for HangingReader {
    type Read = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Bytes, Error>> + Send>>;

    fn read_at(&self, offset: u64, len: usize) -> Self::Read {
        let mut open = self.open.clone();
        let read = self.inner.read_at(offset, len);
        let waiting = self.waiting.clone();
        waiting.fetch_add(1, Ordering::SeqCst);
        let task = tokio::spawn(async move {
            let _ = open.wait_for(|open| *open).await;
            waiting.fetch_sub(1, Ordering::SeqCst);
            read.await
        });
        Box::pin(async move { task.await.expect("the read task ran") })
    }
}

#[tokio::test]
async fn requests_queue_while_the_disk_hangs_and_are_answered_exactly_when_it_recovers() {
    const CLIENTS: usize = 40;
    const READ_AHEAD: usize = 2;
    let bytes = Bytes::from(content(4 * 1024 * 1024));
    let (gate, open) = watch::channel(false);
    let waiting = Arc::new(AtomicUsize::new(0));
    let disk = HangingDisk {
        inner: MemorySource::new(bytes.clone()),
        open,
        waiting: waiting.clone(),
    };
    let addr = serve(
        RangeFileService::from_source(disk)
            .frame_size(64 * 1024)
            .read_ahead(READ_AHEAD),
    )
    .await;
    let mut downloads = Vec::new();
    for i in 0..CLIENTS {
        let protocol = if i % 2 == 0 {
            Protocol::Http1
        } else {
            Protocol::Http2
        };
        downloads.push(tokio::spawn(async move {
            let mut client = Client::connect(addr, protocol).await;
            let first = i * 1000;
            let range = format!("bytes={first}-");
            let response = client.send(request("GET", "/", &[("range", &range)])).await;
            assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
            let body = bounded(response.into_body().collect())
                .await
                .unwrap()
                .to_bytes();
            (first, body)
        }));
    }
    // The disk hangs: every body waits with a bounded number of reads queued.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(downloads.iter().all(|d| !d.is_finished()));
    let queued = waiting.load(Ordering::SeqCst);
    assert!(
        queued >= CLIENTS,
        "every client waits for its first frame: {queued}"
    );
    assert!(
        queued <= CLIENTS * (READ_AHEAD + 1),
        "{queued} reads queued for {CLIENTS} clients with read-ahead {READ_AHEAD}"
    );
    // The disk recovers: every client gets exactly its bytes.
    gate.send(true).unwrap();
    for download in downloads {
        let (first, body) = bounded(download).await.unwrap();
        assert!(
            body == bytes[first..],
            "wrong bytes for the range from {first}"
        );
    }
}

/// The example server serving `video`, its access log off: this test measures the server, not
/// its logging.
fn start_server(video: &std::path::Path) -> Server {
    Server::start_example(
        "server",
        &[video.to_str().unwrap()],
        &[("RUST_LOG", "warn")],
    )
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Downloads the first 64 KiB of the video and hangs up.
fn aborted_download(addr: SocketAddr) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /video HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = 0;
    let mut buffer = vec![0u8; 16 * 1024];
    while got < 64 * 1024 {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the server closed early");
        got += n;
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_thousand_aborted_downloads_leave_no_descriptors_and_no_memory_behind() {
    let video = temp_file("aborted-downloads", "big.mp4", &content(64 * 1024 * 1024));
    let server = start_server(&video);
    let pid = server.pid();
    // Warm up (thread pools and allocator arenas reach their working size), then take the
    // baseline.
    for _ in 0..1000 {
        aborted_download(server.addr);
    }
    std::thread::sleep(Duration::from_millis(300));
    let baseline_fds = open_fds(pid);
    let baseline_rss = rss_kib(pid);
    let settle = |what: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !what() {
            assert!(
                Instant::now() < deadline,
                "did not settle within 10 s: fds {baseline_fds} -> {}, RSS {baseline_rss} KiB -> {} KiB",
                open_fds(pid),
                rss_kib(pid)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for _ in 0..1000 {
        aborted_download(server.addr);
    }
    settle(&|| open_fds(pid) <= baseline_fds);
    settle(&|| rss_kib(pid) <= baseline_rss + baseline_rss / 10);
    println!(
        "fds: baseline {baseline_fds}, after {}; RSS: baseline {baseline_rss} KiB, after {} KiB",
        open_fds(pid),
        rss_kib(pid)
    );
}
