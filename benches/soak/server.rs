//! The example server under test, as a child process: building it, starting it on an
//! ephemeral port, keeping the tail of its log, reading its memory and descriptors from
//! `/proc`, and stopping it with SIGTERM as a user would.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::{example_server, fatal, procfs};

/// Builds the server unless told not to; a missing binary ends the bench.
pub fn ensure_binary(config: &Config) {
    if config.build {
        build_server(config);
    }
    if !config.server.is_file() {
        fatal(&format!(
            "no server binary at {} (run cargo build --release --example server)",
            config.server.display()
        ));
    }
}

fn build_server(config: &Config) {
    eprintln!("soak: cargo build --release --example server");
    match example_server::build_examples(&config.root, &["server"], env!("CARGO")) {
        Ok(status) if status.success() => {}
        Ok(status) => fatal(&format!("building the example server failed: {status}")),
        Err(error) => fatal(&format!("running cargo: {error}")),
    }
}

#[derive(Default)]
struct ServerLog {
    lines: u64,
    warnings: u64,
    tail: VecDeque<String>,
}

pub struct Server {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    log: Arc<Mutex<ServerLog>>,
    pub args: String,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub fds: u64,
    pub threads: u64,
}

impl ProcStats {
    pub fn rss(&self) -> String {
        format!("{:.1} MiB", self.rss_kib as f64 / 1024.0)
    }
    pub fn hwm(&self) -> String {
        format!("{:.1} MiB", self.hwm_kib as f64 / 1024.0)
    }
}

impl Server {
    pub fn start(binary: &Path, file: &Path, extra: &[String]) -> Server {
        let mut child = Command::new(binary)
            .arg(file)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fatal(&format!("starting {}: {e}", binary.display())));
        let pid = child.id();
        let log = Arc::new(Mutex::new(ServerLog::default()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().unwrap();
                log.lines += 1;
                if line.contains("WARN") || line.contains("ERROR") {
                    log.warnings += 1;
                }
                log.tail.push_back(line);
                if log.tail.len() > 20 {
                    log.tail.pop_front();
                }
            }
        });
        let Some((first, mut rest)) =
            example_server::first_line(&mut child, Duration::from_secs(30))
        else {
            let _ = child.kill();
            fatal("the server printed no first line within 30 s");
        };
        // Drain the rest so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut rest, &mut std::io::sink());
        });
        let Some(addr) = example_server::announced_addr(&first) else {
            let _ = child.kill();
            let _ = child.wait();
            let tail: Vec<String> = log.lock().unwrap().tail.iter().cloned().collect();
            fatal(&format!(
                "unexpected first line from the server: {first:?}; stderr: {tail:?}"
            ));
        };
        Server {
            child,
            pid,
            addr,
            log,
            args: if extra.is_empty() {
                "(defaults)".into()
            } else {
                extra.join(" ")
            },
        }
    }

    pub fn stats(&self) -> ProcStats {
        let mut stats = ProcStats::default();
        if let Ok(status) = procfs::status(self.pid) {
            stats.rss_kib = procfs::status_field(&status, "VmRSS:").unwrap_or(0);
            stats.hwm_kib = procfs::status_field(&status, "VmHWM:").unwrap_or(0);
            stats.threads = procfs::status_field(&status, "Threads:").unwrap_or(0);
        }
        stats.fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        stats
    }

    /// The server's descriptors: (sockets, others).
    pub fn fd_kinds(&self) -> (u64, u64) {
        let (mut sockets, mut others) = (0, 0);
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", self.pid)) {
            for entry in dir.flatten() {
                match std::fs::read_link(entry.path()) {
                    Ok(target) if target.to_string_lossy().starts_with("socket:") => sockets += 1,
                    _ => others += 1,
                }
            }
        }
        (sockets, others)
    }

    /// Waits (at most `limit`) until the server holds at most `fds` descriptors, then one
    /// more second; returns its figures then.
    pub async fn settle(&self, fds: u64, limit: Duration) -> ProcStats {
        let deadline = Instant::now() + limit;
        while self.stats().fds > fds && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.stats()
    }

    /// The figures a phase starts from, once the connection of `check::context`'s HEAD
    /// has had up to 2 s to close.
    pub async fn baseline(&self) -> ProcStats {
        self.settle(self.stats().fds.saturating_sub(1), Duration::from_secs(2))
            .await
    }

    /// SIGTERM, then up to 15 s for a graceful exit; returns whether it exited by itself.
    fn stop(mut self) -> Result<(), String> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("server exited with {status} on SIGTERM")),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("server still running 15 s after SIGTERM: killed".into());
                }
            }
        }
    }

    fn log_summary(&self) -> (u64, u64, Vec<String>) {
        let log = self.log.lock().unwrap();
        (log.lines, log.warnings, log.tail.iter().cloned().collect())
    }

    /// Stops the server; what it logged at WARN or ERROR becomes a note about `who`, an
    /// unclean exit a failure named `failure`.
    pub fn retire(
        self,
        who: &str,
        failure: &str,
        notes: &mut Vec<String>,
        failed: &mut Vec<String>,
    ) {
        let (lines, warnings, tail) = self.log_summary();
        if warnings > 0 {
            notes.push(format!(
                "{who} logged {warnings} warnings/errors ({lines} lines); last: {tail:?}"
            ));
        }
        if let Err(e) = self.stop() {
            failed.push(format!("{failure}: {e}"));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
