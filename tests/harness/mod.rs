//! Shared by the integration tests: a real server on 127.0.0.1:0 and a real client, over TCP.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test after [`LIMIT`].
pub async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("timed out: a bounded wait in the test expired")
}

/// Serves `service` on 127.0.0.1:0 (HTTP/1.1 and h2c) until the test's runtime ends.
pub async fn serve<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            stream.set_nodelay(true).unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The HTTP version a [`Client`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// One connection to the server.
pub enum Client {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    pub async fn connect(addr: SocketAddr, protocol: Protocol) -> Client {
        let stream = bounded(TcpStream::connect(addr)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let io = TokioIo::new(stream);
        match protocol {
            Protocol::Http1 => {
                let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
                tokio::spawn(conn);
                Client::Http1(send)
            }
            Protocol::Http2 => {
                let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                Client::Http2(send)
            }
        }
    }

    /// Sends a request; returns the response with its body unread.
    pub async fn send(&mut self, request: Request<Empty<Bytes>>) -> Response<Incoming> {
        bounded(async {
            match self {
                Client::Http1(send) => {
                    send.ready().await.unwrap();
                    send.send_request(request).await.unwrap()
                }
                Client::Http2(send) => {
                    send.ready().await.unwrap();
                    send.send_request(request).await.unwrap()
                }
            }
        })
        .await
    }
}

/// A GET (or other method) for `path` with the given headers.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<Empty<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Empty::new()).unwrap()
}

/// Sends one request on a fresh connection and reads the whole body.
pub async fn fetch(
    addr: SocketAddr,
    protocol: Protocol,
    method: &str,
    headers: &[(&str, &str)],
) -> (http::response::Parts, Bytes) {
    let mut client = Client::connect(addr, protocol).await;
    let response = client.send(request(method, "/", headers)).await;
    let (parts, body) = response.into_parts();
    let body = bounded(body.collect()).await.unwrap().to_bytes();
    (parts, body)
}

/// Deterministic test content: byte `i` is `i * 7 + i / 251` (mod 256), so that no two
/// nearby windows are equal and a shifted or mixed-up slice is caught.
pub fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(7).wrapping_add(i / 251)) as u8)
        .collect()
}

/// The example binary `name`. Test binaries live in `<target>/<profile>/deps`, and
/// `cargo test` builds the examples into `<target>/<profile>/examples`.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary is in <target>/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

/// A fresh directory for one test's files.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Header value as text, for assertions.
pub fn header<'a>(parts: &'a http::response::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).map(|v| v.to_str().unwrap())
}

/// Splits a `multipart/byteranges` body into `(Content-Range, bytes)` parts.
pub fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a multipart content type names its boundary");
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    // Skip to the first delimiter.
    let start = find(rest, delimiter.as_bytes()).expect("first delimiter");
    rest = &rest[start + delimiter.len()..];
    for _ in 0..10_000 {
        if rest.starts_with(b"--") {
            return parts;
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .expect("CRLF after the delimiter");
        let head_end = find(rest, b"\r\n\r\n").expect("end of part headers");
        let head = std::str::from_utf8(&rest[..head_end]).unwrap();
        let range = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Range: "))
            .expect("each part has a Content-Range")
            .to_owned();
        rest = &rest[head_end + 4..];
        let next = find(rest, format!("\r\n{delimiter}").as_bytes()).expect("next delimiter");
        parts.push((range, rest[..next].to_vec()));
        rest = &rest[next + 2 + delimiter.len()..];
    }
    panic!("too many parts");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
