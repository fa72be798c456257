//! A throttling TCP proxy, so that a client on loopback sees a slow network: without it a
//! whole file arrives before a browser or a segmented downloader ever needs a range.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A TCP proxy on 127.0.0.1:0 that forwards to `upstream`, passing client→server bytes as
/// they come and server→client bytes at no more than `bytes_per_sec` per connection, so that
/// a client on loopback sees a slow network. It runs on its own thread and runtime and stops
/// (closing every connection) when dropped.
pub struct ThrottleProxy {
    pub addr: SocketAddr,
    active: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ThrottleProxy {
    pub fn start(upstream: SocketAddr, bytes_per_sec: u64) -> ThrottleProxy {
        assert!(bytes_per_sec > 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let active = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let thread = {
            let active = active.clone();
            let accepted = accepted.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    loop {
                        tokio::select! {
                            _ = &mut stop => break,
                            accepted_conn = listener.accept() => {
                                let Ok((client, _)) = accepted_conn else { continue };
                                accepted.fetch_add(1, Ordering::SeqCst);
                                let guard = ActiveGuard::new(active.clone());
                                tokio::spawn(async move {
                                    let _guard = guard;
                                    proxy_connection(client, upstream, bytes_per_sec).await;
                                });
                            }
                        }
                    }
                });
                // Dropping the runtime cancels every connection task and closes its sockets.
            })
        };
        ThrottleProxy {
            addr,
            active,
            accepted,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT{path}` through the proxy.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits at most `timeout` for every proxied connection to close; true if they did.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.active() > 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

impl Drop for ThrottleProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct ActiveGuard(Arc<AtomicUsize>);

impl ActiveGuard {
    fn new(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn proxy_connection(client: tokio::net::TcpStream, upstream: SocketAddr, rate: u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let down = async {
        // Send in slices of 1/50 s worth of bytes, each no earlier than its due time.
        let chunk = ((rate / 50) as usize).clamp(512, 64 * 1024);
        let mut buf = vec![0u8; chunk];
        let started = tokio::time::Instant::now();
        let mut sent: u64 = 0;
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            sent += n as u64;
            let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
            tokio::time::sleep_until(due).await;
        }
        let _ = client_write.shutdown().await;
    };
    // When either side closes or fails, the whole connection goes.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
