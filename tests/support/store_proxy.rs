//! An HTTP/1.1 reverse proxy between the server under test and its object store, so that a
//! test can count what the server asked of the store (method, path, `Range`, `If-Match`,
//! status) and make the store fail on purpose, switching [`Fault`]s while the test runs.
//!
//! Bodies stream through in both directions (nothing is buffered whole), and every
//! end-to-end header goes on unchanged, `Host` included: S3's SigV4 signs `Host`, and the
//! client, configured with the proxy as its endpoint, signed the proxy's `host:port`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::Uri;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the proxy does to a request instead of (or while) forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forwards it.
    None,
    /// Answers 503 with an S3-style XML error, as a store that is down answers.
    ServiceUnavailable,
    /// Closes the connection without an answer; as the standing fault, also every new
    /// connection as soon as it is accepted.
    Refuse,
    /// Answers nothing until the test changes the faults (any `set_fault`, `fault_next_gets`
    /// or `clear_faults`) or drops the proxy; once released, the request is forwarded.
    Hang,
    /// Forwards it, passes the response head and the first `n` bytes of the body (none for
    /// 0), then aborts the connection.
    CutBodyAfter(u64),
}

/// One request that reached the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// "GET", "HEAD", …
    pub method: String,
    /// Path and query, as received.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `If-Match` header, if any.
    pub if_match: Option<String>,
    /// The status the client got: the store's or the fault's; `None` while no answer has gone
    /// (or none will: `Refuse`, a `Hang` not yet released).
    pub status: Option<u16>,
    /// Response body bytes passed to the client so far.
    pub body_bytes: u64,
    /// The fault applied to it.
    pub fault: Fault,
}

/// The live record behind a [`Recorded`]: the answer's status and bytes arrive later.
pub(super) struct Entry {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) range: Option<String>,
    pub(super) if_match: Option<String>,
    pub(super) fault: Fault,
    pub(super) status: AtomicU16,
    pub(super) body_bytes: AtomicU64,
}

/// The faults in force.
pub(super) struct Faults {
    /// For every request that no `next_gets` takes.
    pub(super) standing: Fault,
    /// A fault for the next GETs, and how many are left; GETs past them get `standing`.
    pub(super) next_gets: Option<(Fault, usize)>,
}

/// What the accept loop, the connections and the test share.
pub(super) struct State {
    pub(super) upstream: Uri,
    pub(super) client: Client<HttpConnector, Incoming>,
    pub(super) faults: Mutex<Faults>,
    /// Bumped at each change of the faults, which releases every hung request.
    pub(super) changed: tokio::sync::watch::Sender<u64>,
    pub(super) entries: Mutex<Vec<Arc<Entry>>>,
    pub(super) accepted: AtomicUsize,
    pub(super) refused: AtomicUsize,
}

/// The proxy, on 127.0.0.1:0 with its own thread and runtime; it stops (closing every
/// connection) when dropped.
pub struct StoreProxy {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StoreProxy {
    /// Starts a proxy to `upstream`, a base URL such as `http://127.0.0.1:PORT` (what
    /// `Moto::endpoint` gives).
    pub fn start(upstream: &str) -> StoreProxy {
        let upstream: Uri = upstream
            .trim_end_matches('/')
            .parse()
            .expect("an upstream URL");
        assert_eq!(upstream.scheme_str(), Some("http"), "an http:// upstream");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        // Host exactly as received (set_host(false)): the signature covers it.
        let client = Client::builder(TokioExecutor::new())
            .set_host(false)
            .build(HttpConnector::new());
        let state = Arc::new(State {
            upstream,
            client,
            faults: Mutex::new(Faults {
                standing: Fault::None,
                next_gets: None,
            }),
            changed: tokio::sync::watch::channel(0).0,
            entries: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        });
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = {
            let state = state.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(accept_loop(listener, state, stop));
                // Dropping the runtime cancels every connection task and closes its sockets.
            })
        };
        StoreProxy {
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give the client (`AWS_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request since the start or the last [`StoreProxy::clear`], in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        let entries = self.state.entries.lock().unwrap();
        entries
            .iter()
            .map(|e| Recorded {
                method: e.method.clone(),
                path: e.path.clone(),
                range: e.range.clone(),
                if_match: e.if_match.clone(),
                status: match e.status.load(Ordering::SeqCst) {
                    0 => None,
                    s => Some(s),
                },
                body_bytes: e.body_bytes.load(Ordering::SeqCst),
                fault: e.fault.clone(),
            })
            .collect()
    }

    /// How many requests with `method` (e.g. "GET") arrived since the last clear.
    pub fn count(&self, method: &str) -> usize {
        let entries = self.state.entries.lock().unwrap();
        entries.iter().filter(|e| e.method == method).count()
    }

    /// Forgets the recorded requests (not the faults).
    pub fn clear(&self) {
        self.state.entries.lock().unwrap().clear();
    }

    /// Waits at most `timeout` until `count(method) >= n`; whether it got there. Async, so
    /// that the test's runtime goes on running the client meanwhile.
    pub async fn wait_for_count(&self, method: &str, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.count(method) < n {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Connections accepted so far (refused ones included).
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// Connections closed on arrival by a standing [`Fault::Refuse`].
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// Applies `fault` to every request (after any left of [`StoreProxy::fault_next_gets`]).
    pub fn set_fault(&self, fault: Fault) {
        self.state.faults.lock().unwrap().standing = fault;
        self.state.changed.send_modify(|g| *g += 1);
    }

    /// Applies `fault` to the next `gets` GET requests only; other methods, and the GETs
    /// after them, get the standing fault.
    pub fn fault_next_gets(&self, fault: Fault, gets: usize) {
        self.state.faults.lock().unwrap().next_gets = Some((fault, gets));
        self.state.changed.send_modify(|g| *g += 1);
    }

    /// Back to forwarding everything (and releases hung requests).
    pub fn clear_faults(&self) {
        let mut faults = self.state.faults.lock().unwrap();
        faults.standing = Fault::None;
        faults.next_gets = None;
        drop(faults);
        self.state.changed.send_modify(|g| *g += 1);
    }
}

impl Drop for StoreProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        state.accepted.fetch_add(1, Ordering::SeqCst);
        if state.faults.lock().unwrap().standing == Fault::Refuse {
            state.refused.fetch_add(1, Ordering::SeqCst);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { super::store_forward::handle(state, request).await }
            });
            // An error here is a connection the client or a fault ended; nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
