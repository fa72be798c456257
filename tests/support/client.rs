//! Talking to a server under test: one hyper connection per [`Client`] (for tests that care
//! which protocol and which connection), a pooled hyper client for tests that address a router
//! by URL, and header lookup in what came back (hyper's parts, or header lines as text).

use std::collections::VecDeque;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::bounded;

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
    request_builder(method, format!("http://localhost{path}"), headers)
        .body(Empty::new())
        .unwrap()
}

fn request_builder(
    method: impl AsRef<str>,
    uri: String,
    headers: &[(&str, &str)],
) -> http::request::Builder {
    let mut builder = Request::builder().method(method.as_ref()).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
}

/// Sends one request for `/` on a fresh connection and reads the whole body.
pub async fn fetch(
    addr: SocketAddr,
    protocol: Protocol,
    method: &str,
    headers: &[(&str, &str)],
) -> (http::response::Parts, Bytes) {
    fetch_path(addr, protocol, method, "/", headers).await
}

/// Sends one request for `path` on a fresh connection and reads the whole body.
pub async fn fetch_path(
    addr: SocketAddr,
    protocol: Protocol,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (http::response::Parts, Bytes) {
    let mut client = Client::connect(addr, protocol).await;
    let response = client.send(request(method, path, headers)).await;
    let (parts, body) = response.into_parts();
    let body = bounded(body.collect()).await.unwrap().to_bytes();
    (parts, body)
}

/// Header value as text, for assertions.
pub fn header<'a>(parts: &'a http::response::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).map(|v| v.to_str().unwrap())
}

/// hyper's pooled client, as an application would use it against a router.
pub type HttpClient = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// A pooled client that speaks HTTP/1.1.
pub fn http1_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

/// A pooled client that speaks HTTP/2 with prior knowledge (h2c).
pub fn http2_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A whole response from an [`HttpClient`].
pub struct Reply {
    pub version: Version,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The status and headers, and only the length of the body, for assertion messages.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} {} {:?} ({} body bytes)",
            self.version,
            self.status,
            self.headers,
            self.body.len()
        )
    }
}

impl Reply {
    /// Header value as text, for assertions.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// A request for `http://{addr}{path}` with the given headers and no body.
pub fn url_request(
    method: Method,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Request<Full<Bytes>> {
    request_builder(method, format!("http://{addr}{path}"), headers)
        .body(Full::default())
        .unwrap()
}

/// Sends `request` and waits for the response head only.
pub async fn response_head(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
) -> Response<Incoming> {
    bounded(client.request(request)).await.expect("a response")
}

/// Sends `request` and reads the whole response.
pub async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Reply {
    let (parts, body) = response_head(client, request).await.into_parts();
    let body = bounded(body.collect())
        .await
        .expect("a complete body")
        .to_bytes();
    Reply {
        version: parts.version,
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A GET for `http://{addr}{path}` through `client`, read whole.
pub async fn get(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    send(client, url_request(Method::GET, addr, path, headers)).await
}

/// Header fields with lower-case names, in order.
pub type Headers = Vec<(String, String)>;

/// The first value of header `name` (lower-case) in `headers`.
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a raw header block (as `curl -D` writes it) of the last response in it:
/// `(status, headers with lower-case names)`.
pub fn parse_header_dump(dump: &str) -> (u16, Headers) {
    let mut blocks: VecDeque<&str> = dump
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    let last = blocks.pop_back().expect("an empty header dump");
    let mut lines = last.lines();
    let status_line = lines.next().expect("no status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// Reads a response body to its end or its error: the bytes that came, and whether it
/// completed (a body cut by the server ends with an error).
pub async fn read_body_or_cut(mut body: Incoming) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    loop {
        match bounded(body.frame()).await {
            Some(Ok(frame)) => got.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d)),
            Some(Err(_)) => return (got, false),
            None => return (got, true),
        }
    }
}

/// Percent-encodes every byte of `text` but the unreserved ones (RFC 3986): a path segment
/// or a query value, whatever it holds.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
