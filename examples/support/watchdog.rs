//! The example server's connection watchdog: closes a connection that stays idle, or whose
//! response makes no progress, for longer than its limit.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The connection limits of the example server.
#[derive(Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long an HTTP/1 client may take to send a request head.
    pub header: Duration,
    /// How long a connection may stay without a request in progress.
    pub idle: Duration,
    /// How long a response may go without the connection taking data.
    pub send: Duration,
}

/// What a connection is doing, for its watchdog: how many requests are in progress, and
/// when it last made progress (a request started or ended, or a body handed on a frame).
pub struct Activity {
    in_progress: AtomicUsize,
    last_progress: AtomicU64,
}

fn millis_since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl Activity {
    pub fn new() -> Self {
        Self {
            in_progress: AtomicUsize::new(0),
            last_progress: AtomicU64::new(millis_since_start()),
        }
    }

    pub fn touch(&self) {
        self.last_progress
            .store(millis_since_start(), Ordering::Relaxed);
    }

    pub fn request_started(&self) {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    pub fn request_ended(&self) {
        self.in_progress.fetch_sub(1, Ordering::Relaxed);
        self.touch();
    }

    /// Resolves when the connection has been idle or stuck too long. hyper has no timeout
    /// for the first bytes of a connection nor an idle timeout for HTTP/2, and HTTP/2 pings
    /// would keep a byte-based timer alive: hence this watchdog, driven by requests.
    pub async fn expired(&self, limits: Limits) -> &'static str {
        loop {
            let (limit, reason) = if self.in_progress.load(Ordering::Relaxed) == 0 {
                (limits.idle, "idle")
            } else {
                (limits.send, "no progress sending a response")
            };
            let last = self.last_progress.load(Ordering::Relaxed);
            let deadline = last + limit.as_millis() as u64;
            let now = millis_since_start();
            if now >= deadline {
                return reason;
            }
            // Sleep to the deadline (at most a second, so a change of state is seen soon).
            tokio::time::sleep(Duration::from_millis((deadline - now).min(1000))).await;
        }
    }
}
