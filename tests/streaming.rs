//! The streaming body over real TCP: read-ahead bounds with a stalled client, the file handle
//! closed when a client goes away, responses cut (never padded or mixed) when the file changes
//! under them, and open errors mapped to statuses.

mod support;

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use support::{
    bounded, content, fetch, header, request, serve, temp_dir, temp_file, Client, Protocol,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceBuilder;
use tower_range::source::MemoryReader;
use tower_range::{MemorySource, Opened, RangeFileService, Resources, Source, SourceReader};

/// Counts the reads a body starts, through the source trait.
#[derive(Clone)]
struct CountingSource {
    inner: MemorySource,
    reads: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct CountingReader {
    inner: MemoryReader,
    reads: Arc<AtomicUsize>,
}

impl Source for CountingSource {
    type Reader = CountingReader;

    async fn open(
        &self,
        resources: &Resources,
    ) -> Result<Opened<CountingReader>, tower_range::OpenError> {
        let opened = self.inner.open(resources).await?;
        Ok(Opened::new(
            opened.metadata,
            CountingReader {
                inner: opened.reader,
                reads: self.reads.clone(),
            },
        ))
    }
}

impl SourceReader for CountingReader {
    type Read = <MemoryReader as SourceReader>::Read;

    fn read_at(&self, offset: u64, len: usize) -> Self::Read {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_at(offset, len)
    }
}

pin_project_lite::pin_project! {
    /// Counts the data frames a body hands on to the server.
    struct CountingBody<B> {
        #[pin]
        inner: B,
        handed: Arc<AtomicUsize>,
    }
}

impl<B: Body<Data = Bytes>> Body for CountingBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if frame.is_data() {
                this.handed.fetch_add(1, Ordering::SeqCst);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Polls `value` until it has not changed for a while; returns it.
async fn settled(value: impl Fn() -> usize) -> usize {
    bounded(async {
        let mut last = value();
        let mut unchanged = 0;
        while unchanged < 8 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = value();
            if now == last {
                unchanged += 1;
            } else {
                unchanged = 0;
                last = now;
            }
        }
        last
    })
    .await
}

async fn stalled_client_stops_the_reads(protocol: Protocol) {
    const FRAME: usize = 64 * 1024;
    const READ_AHEAD: usize = 3;
    const LEN: usize = 64 * 1024 * 1024;
    let bytes = Bytes::from(content(LEN));
    let reads = Arc::new(AtomicUsize::new(0));
    let handed = Arc::new(AtomicUsize::new(0));
    let source = CountingSource {
        inner: MemorySource::new(bytes.clone()),
        reads: reads.clone(),
    };
    let counter = handed.clone();
    let service = ServiceBuilder::new()
        .map_response(move |response: http::Response<_>| {
            let handed = counter.clone();
            response.map(|inner| CountingBody { inner, handed })
        })
        .service(
            RangeFileService::from_source(source)
                .frame_size(FRAME)
                .read_ahead(READ_AHEAD),
        );
    let addr = serve(service).await;
    let mut client = Client::connect(addr, protocol).await;
    let response = client.send(request("GET", "/", &[])).await;
    assert_eq!(response.status(), StatusCode::OK);

    // The client reads nothing: the socket buffers fill, then the server stops polling.
    let stalled_reads = settled(|| reads.load(Ordering::SeqCst)).await;
    let stalled_handed = handed.load(Ordering::SeqCst);
    let total_frames = LEN / FRAME;
    assert!(
        stalled_reads < total_frames / 2,
        "reads went on without the client: {stalled_reads} of {total_frames}"
    );
    assert!(
        stalled_reads <= stalled_handed + READ_AHEAD,
        "{stalled_reads} frames read, {stalled_handed} handed on, read-ahead {READ_AHEAD}"
    );
    assert!(stalled_reads >= stalled_handed);

    // The client resumes: the rest arrives, exact.
    let body = bounded(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, bytes);
    assert_eq!(reads.load(Ordering::SeqCst), total_frames);
    assert_eq!(handed.load(Ordering::SeqCst), total_frames);
}

#[tokio::test]
async fn a_stalled_http1_client_stops_the_reads_within_the_read_ahead() {
    stalled_client_stops_the_reads(Protocol::Http1).await;
}

#[tokio::test]
async fn a_stalled_http2_client_stops_the_reads_within_the_read_ahead() {
    stalled_client_stops_the_reads(Protocol::Http2).await;
}

/// The open file descriptors of this process that point at `path`.
fn fds_open_on(path: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        panic!("this test reads /proc/self/fd (Linux)");
    };
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// A raw HTTP/1.1 exchange: the request is written by hand, the response read as it comes.
struct RawResponse {
    head: String,
    content_length: usize,
    stream: TcpStream,
    body: Vec<u8>,
}

async fn raw_get(addr: SocketAddr, extra: &str) -> RawResponse {
    let mut stream = bounded(TcpStream::connect(addr)).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = Vec::new();
    let head_end = bounded(async {
        loop {
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the response head");
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
        }
    })
    .await;
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let content_length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("content-length")
        .trim()
        .parse()
        .unwrap();
    RawResponse {
        head,
        content_length,
        stream,
        body: buffer[head_end..].to_vec(),
    }
}

impl RawResponse {
    /// Reads until `want` body bytes have arrived, or the connection ends.
    async fn read_until(&mut self, want: usize) {
        bounded(async {
            while self.body.len() < want {
                let mut chunk = vec![0u8; 256 * 1024];
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => self.body.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
    }

    /// Reads the whole body, or what arrives before the connection ends.
    async fn read_to_end(&mut self) {
        self.read_until(self.content_length).await
    }
}

fn big_file(test: &str, len: usize) -> (PathBuf, Vec<u8>) {
    let bytes = content(len);
    let path = temp_file(test, "big.mp4", &bytes);
    (path.canonicalize().unwrap(), bytes)
}

#[tokio::test]
async fn a_client_that_goes_away_closes_the_file_handle() {
    let (path, _) = big_file("goes-away", 32 * 1024 * 1024);
    let addr = serve(RangeFileService::new(&path).read_ahead(4)).await;
    for _ in 0..3 {
        let mut response = raw_get(addr, "").await;
        response.read_until(64 * 1024).await;
        assert!(fds_open_on(&path) > 0, "the file is open while it streams");
        drop(response);
        let open = settled(|| fds_open_on(&path)).await;
        assert_eq!(open, 0, "the file is still open after the client left");
    }
}

/// Streams a 64 MiB file to a client that pauses after 1 MiB, calls `change`, then reads on.
/// Returns the original bytes and what the client got.
async fn change_while_streaming(test: &str, change: impl FnOnce(&Path)) -> (Vec<u8>, RawResponse) {
    let (path, bytes) = big_file(test, 64 * 1024 * 1024);
    let addr = serve(
        RangeFileService::new(&path)
            .frame_size(64 * 1024)
            .read_ahead(2),
    )
    .await;
    let mut response = raw_get(addr, "").await;
    assert!(response.head.starts_with("HTTP/1.1 200"));
    assert_eq!(response.content_length, bytes.len());
    response.read_until(1024 * 1024).await;
    change(&path);
    response.read_to_end().await;
    (bytes, response)
}

fn assert_cut_prefix(original: &[u8], response: &RawResponse) {
    let got = &response.body;
    assert!(
        got.len() < response.content_length,
        "the response should have been cut, but all {} bytes arrived",
        got.len()
    );
    assert!(got.len() >= 1024 * 1024);
    assert!(
        got[..] == original[..got.len()],
        "the bytes received are not a prefix of the version the headers described"
    );
}

#[tokio::test]
async fn a_file_truncated_while_streaming_cuts_the_response() {
    let (original, response) = change_while_streaming("truncated", |path| {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(2 * 1024 * 1024).unwrap();
    })
    .await;
    assert_cut_prefix(&original, &response);
}

#[tokio::test]
async fn a_file_overwritten_in_place_while_streaming_cuts_the_response() {
    let (original, response) = change_while_streaming("overwritten", |path| {
        let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        // Same size, other bytes everywhere.
        let other = vec![0xAAu8; 64 * 1024 * 1024];
        file.write_all(&other).unwrap();
        file.sync_all().unwrap();
    })
    .await;
    assert_cut_prefix(&original, &response);
}

#[tokio::test]
async fn a_file_replaced_or_deleted_while_streaming_completes_with_the_old_bytes() {
    let (original, response) = change_while_streaming("replaced-mid", |path| {
        let next = path.with_extension("next");
        std::fs::write(&next, b"new").unwrap();
        std::fs::rename(&next, path).unwrap();
    })
    .await;
    assert_eq!(response.body.len(), original.len());
    assert!(response.body == original);

    let (original, response) = change_while_streaming("deleted-mid", |path| {
        std::fs::remove_file(path).unwrap();
    })
    .await;
    assert!(response.body == original);
}

/// A source whose open always fails with one kind of error.
struct Failing(io::ErrorKind);

impl Source for Failing {
    type Reader = MemoryReader;

    async fn open(&self, _: &Resources) -> Result<Opened<MemoryReader>, tower_range::OpenError> {
        Err(io::Error::from(self.0).into())
    }
}

#[tokio::test]
async fn open_errors_become_403_404_and_500() {
    for (kind, status) in [
        (io::ErrorKind::PermissionDenied, StatusCode::FORBIDDEN),
        (io::ErrorKind::NotFound, StatusCode::NOT_FOUND),
        (io::ErrorKind::Other, StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let addr = serve(RangeFileService::from_source(Failing(kind))).await;
        let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[]).await;
        assert_eq!(parts.status, status);
        assert_eq!(
            header(&parts, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            header(&parts, "content-length"),
            Some(body.len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn a_directory_is_404() {
    let dir = temp_dir("a-directory");
    let addr = serve(RangeFileService::new(&dir)).await;
    let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
}

// The service accepts any request body type and never reads it.
#[tokio::test]
async fn any_request_body_type_is_accepted() {
    use tower::ServiceExt;
    let service = RangeFileService::from_source(MemorySource::new("hello"));
    let response = service
        .clone()
        .oneshot(http::Request::new(String::from("ignored")))
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    assert_eq!(response.status(), StatusCode::OK);
    let response = service
        .oneshot(http::Request::new(http_body_util::Full::new(
            Bytes::from_static(b"x"),
        )))
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");
}
