//! How the [`StoreProxy`](super::StoreProxy) answers one request: the fault that applies,
//! else the store's answer, streamed through and counted, and cut when the fault says so.

use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::store_proxy::{Entry, State};
use super::Fault;

type ProxyBody = BoxBody<Bytes, ProxyError>;

/// Why the proxy ended a connection or a body (a concrete type: a boxed error in the
/// service's future trips the compiler's inference of `Send` across lifetimes).
#[derive(Debug)]
pub(super) struct ProxyError(String);

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyError {}

/// Headers of one connection, not to be passed on (RFC 9110, 7.6.1); hyper frames each side's
/// body itself.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the [`HOP_BY_HOP`] headers.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Records `request`, then answers it as the fault for it says: forwarded to the store (its
/// answer streamed back), or failed.
pub(super) async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let fault = {
        let mut faults = state.faults.lock().unwrap();
        match &mut faults.next_gets {
            Some((fault, left)) if *left > 0 && request.method() == http::Method::GET => {
                *left -= 1;
                fault.clone()
            }
            _ => faults.standing.clone(),
        }
    };
    let path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let entry = Arc::new(Entry {
        method: request.method().as_str().to_owned(),
        path: path.clone(),
        range: header("range"),
        if_match: header("if-match"),
        fault: fault.clone(),
        status: AtomicU16::new(0),
        body_bytes: AtomicU64::new(0),
    });
    state.entries.lock().unwrap().push(entry.clone());
    let cut = match fault {
        Fault::None => None,
        Fault::CutBodyAfter(n) => Some(n),
        Fault::Refuse => return Err(ProxyError("refused by the StoreProxy's fault".into())),
        Fault::ServiceUnavailable => return Ok(service_unavailable(&entry, &path)),
        Fault::Hang => {
            let mut changed = state.changed.subscribe();
            // Ends at the next change of the faults; the runtime's end (the proxy's drop)
            // cancels it otherwise.
            let _ = changed.changed().await;
            None
        }
    };
    let (mut parts, body) = request.into_parts();
    let base = state.upstream.to_string();
    parts.uri = format!("{}{path}", base.trim_end_matches('/'))
        .parse()
        .map_err(|e| ProxyError(format!("upstream URI: {e}")))?;
    parts.version = http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    let response = match state.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(error) => {
            entry.status.store(502, Ordering::SeqCst);
            let body = format!("StoreProxy: the store did not answer: {error}\n");
            let mut response = Response::new(full(body));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            return Ok(response);
        }
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    entry.status.store(parts.status.as_u16(), Ordering::SeqCst);
    let body = Relay {
        inner: body,
        left: cut,
        flushed: false,
        entry,
    };
    Ok(Response::from_parts(parts, body.boxed()))
}

fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

fn service_unavailable(entry: &Entry, path: &str) -> Response<ProxyBody> {
    entry.status.store(503, Ordering::SeqCst);
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ServiceUnavailable</Code>\
         <Message>Service is unable to handle request.</Message><Resource>{path}</Resource>\
         <RequestId>StoreProxyFault</RequestId></Error>"
    );
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header("content-type", "application/xml")
        .body(full(xml))
        .unwrap()
}

/// The store's response body on its way to the client: counted, and cut after `left` bytes
/// when a [`Fault::CutBodyAfter`] applies. The head keeps the store's `Content-Length`, so the
/// client sees a body that ends early.
struct Relay {
    inner: Incoming,
    left: Option<u64>,
    /// Whether the body, due to be cut, has answered `Pending` once: that has hyper write out
    /// what it holds (the head, the last bytes) before the error aborts the connection.
    flushed: bool,
    entry: Arc<Entry>,
}

impl Body for Relay {
    type Data = Bytes;
    type Error = ProxyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ProxyError>>> {
        let this = &mut *self;
        if this.left == Some(0) && !this.flushed {
            // hyper keeps a head (and small writes) in its buffer until the body is pending:
            // without this a cut at 0 would send nothing at all.
            this.flushed = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let Some(frame) = ready!(Pin::new(&mut this.inner).poll_frame(cx)) else {
            return Poll::Ready(None);
        };
        let frame = frame.map_err(|e| ProxyError(format!("the store's body: {e}")))?;
        let frame = match frame.into_data() {
            Ok(mut data) => {
                if let Some(left) = &mut this.left {
                    if *left == 0 {
                        // An error makes hyper abort the connection mid-body.
                        let cut = ProxyError("body cut by the StoreProxy's fault".into());
                        return Poll::Ready(Some(Err(cut)));
                    }
                    data.truncate(data.len().min(*left as usize));
                    *left -= data.len() as u64;
                }
                this.entry
                    .body_bytes
                    .fetch_add(data.len() as u64, Ordering::SeqCst);
                Frame::data(data)
            }
            Err(other) => other,
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
