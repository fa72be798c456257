//! A real S3 for the object-store tests: moto's server (`moto_server`, from PyPI's
//! `moto[server]`) as a child process on 127.0.0.1, and helpers that set up buckets, objects
//! and IAM users with plain signed HTTP requests (see `sigv4`), so that the default
//! `cargo test` never builds the `object_store` crate.
//!
//! Authentication is off when moto starts; `moto_iam` switches it on and makes users.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{aws_encode, manifest_dir, signed_request, ChildGuard, Credentials};

/// The command that installs moto where [`Moto::program`] looks first.
pub const MOTO_INSTALL: &str =
    "python3 -m venv target/moto-venv && target/moto-venv/bin/pip install 'moto[server]==5.2.5'";

/// How long moto may take to start answering (it imports every service's models first).
const STARTUP: Duration = Duration::from_secs(30);

/// Lines of moto's output kept for the message of a failure.
const LOG_LINES: usize = 200;

/// A `moto_server` child on 127.0.0.1, in its own process group, killed when dropped. Own it
/// in the test (not in a `static`, whose drop never runs and would leave the server behind).
pub struct Moto {
    child: ChildGuard,
    pub(super) addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
    /// What the helpers sign with: a placeholder while authentication is off, the
    /// administrator made by [`Moto::enable_auth`] after.
    pub(super) admin: Mutex<Credentials>,
}

/// What a put left: the object's ETag (quoted, as S3 sends it) and, in a versioned bucket,
/// its version id.
#[derive(Debug, Clone)]
pub struct PutObject {
    pub etag: String,
    pub version_id: Option<String>,
}

impl Moto {
    /// Where `moto_server` is: `$TOWER_RANGE_MOTO`, else `target/moto-venv/bin/moto_server` in
    /// the crate, else `moto_server` in `PATH`; `Err` says what was tried and how to install.
    pub fn program() -> Result<PathBuf, String> {
        if let Some(path) = std::env::var_os("TOWER_RANGE_MOTO") {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "TOWER_RANGE_MOTO={} is not a file; install moto with `{MOTO_INSTALL}`",
                    path.display()
                ))
            };
        }
        let venv = manifest_dir().join("target/moto-venv/bin/moto_server");
        if venv.is_file() {
            return Ok(venv);
        }
        super::find_program("moto_server").ok_or_else(|| {
            format!(
                "moto_server not found (not in $TOWER_RANGE_MOTO, {}, nor PATH): this test needs \
                 moto's S3 server. Install it with `{MOTO_INSTALL}` (.ci/run does)",
                venv.display()
            )
        })
    }

    /// Starts moto, or panics (with how to install it when it is missing).
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// Starts moto with extra environment variables (moto reads its settings from there). With
    /// `INITIAL_NO_AUTH_ACTION_COUNT=N` the helpers' own requests count among the N actions
    /// and fail after them; [`Moto::enable_auth`] is the simpler switch.
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let program = Moto::program().unwrap_or_else(|why| panic!("{why}"));
        Moto::spawn(program, env)
    }

    /// Starts moto; when it is not installed, `None` after saying why on stderr, so the test
    /// can return early, except under CI (`CI` set), where a missing moto is a failure.
    pub fn start_or_skip() -> Option<Moto> {
        match Moto::program() {
            Ok(program) => Some(Moto::spawn(program, &[])),
            Err(why) if std::env::var_os("CI").is_some() => panic!("{why}"),
            Err(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    fn spawn(program: PathBuf, env: &[(&str, &str)]) -> Moto {
        use std::os::unix::process::CommandExt;
        // Port 0: the server picks a free port and says which, so no other process can take it
        // between our choosing and its binding.
        let mut cmd = Command::new(&program);
        cmd.args(["-H", "127.0.0.1", "-p", "0"])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            cmd.env(name, value);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (port_tx, port_rx) = mpsc::channel();
        keep_tail(child.stdout.take().unwrap(), log.clone(), port_tx.clone());
        keep_tail(child.stderr.take().unwrap(), log.clone(), port_tx);
        let child = ChildGuard(Some(child));
        let deadline = Instant::now() + STARTUP;
        let port = port_rx.recv_timeout(STARTUP).unwrap_or_else(|_| {
            panic!(
                "moto did not say its port within {STARTUP:?}:\n{}",
                joined(&log)
            )
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while !answers_http(addr) {
            assert!(
                Instant::now() < deadline,
                "moto on {addr} did not answer HTTP within {STARTUP:?}:\n{}",
                joined(&log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            child,
            addr,
            log,
            admin: Mutex::new(Credentials::placeholder()),
        }
    }

    /// `http://127.0.0.1:PORT`, moto's own address (the `AWS_ENDPOINT` for a client that
    /// does not go through a proxy).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// moto's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The last lines moto printed (its request log and tracebacks), for a failure message.
    pub fn log_tail(&self) -> String {
        joined(&self.log)
    }

    /// The key the helpers sign with: an administrator's after [`Moto::enable_auth`].
    pub fn admin(&self) -> Credentials {
        self.admin.lock().unwrap().clone()
    }

    /// A signed S3 request straight to moto with the helpers' key; panics unless it
    /// succeeds (2xx), with moto's answer and log.
    async fn s3(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> http::response::Parts {
        let (parts, answer) =
            signed_request(self.addr, &self.admin(), "s3", method, path, headers, body).await;
        self.check(method, path, &parts, &answer);
        parts
    }

    /// Panics unless moto's answer to `method path` is a success, with the answer and log.
    pub(super) fn check(
        &self,
        method: &str,
        path: &str,
        parts: &http::response::Parts,
        body: &Bytes,
    ) {
        assert!(
            parts.status.is_success(),
            "moto answered {method} {path} with {}: {}\nmoto's log:\n{}",
            parts.status,
            String::from_utf8_lossy(body),
            self.log_tail()
        );
    }

    /// Creates `bucket` (3 to 63 lowercase letters, digits, dots and hyphens).
    pub async fn create_bucket(&self, bucket: &str) {
        self.s3("PUT", &format!("/{bucket}"), &[], Bytes::new())
            .await;
    }

    /// Turns versioning on for `bucket`: every put keeps the earlier versions.
    pub async fn enable_versioning(&self, bucket: &str) {
        let body = "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                    <Status>Enabled</Status></VersioningConfiguration>";
        let headers = [("content-type", "application/xml")];
        self.s3(
            "PUT",
            &format!("/{bucket}?versioning="),
            &headers,
            Bytes::from(body),
        )
        .await;
    }

    /// Puts `body` at `key` in `bucket`.
    pub async fn put_object(&self, bucket: &str, key: &str, body: impl Into<Bytes>) -> PutObject {
        // A content type that is not a form's: moto's web framework would take a form-encoded
        // body as fields and store an empty object.
        let headers = [("content-type", "application/octet-stream")];
        let path = format!("/{bucket}/{}", aws_encode(key, true));
        let parts = self.s3("PUT", &path, &headers, body.into()).await;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        PutObject {
            etag: header("etag").expect("moto's put answer has an ETag"),
            version_id: header("x-amz-version-id"),
        }
    }

    /// Deletes `key` in `bucket`; in a versioned bucket, the delete marker's version id.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Option<String> {
        let path = format!("/{bucket}/{}", aws_encode(key, true));
        let parts = self.s3("DELETE", &path, &[], Bytes::new()).await;
        parts
            .headers
            .get("x-amz-version-id")
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let pid = self.child.id();
        if pid != 0 {
            // The whole group, in case the server started helpers of its own; ChildGuard then
            // reaps the child.
            super::signal_group(pid, libc::SIGKILL);
        }
    }
}

/// Reads `reader`'s lines on a thread to its end, keeping the last [`LOG_LINES`], and sends
/// the port of werkzeug's "Running on http://127.0.0.1:PORT" line.
fn keep_tail<R: Read + Send + 'static>(
    reader: R,
    log: Arc<Mutex<VecDeque<String>>>,
    port: mpsc::Sender<u16>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("Running on http://127.0.0.1:").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(p) = digits.parse() {
                    let _ = port.send(p);
                }
            }
            let mut log = log.lock().unwrap();
            if log.len() == LOG_LINES {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

fn joined(log: &Mutex<VecDeque<String>>) -> String {
    let log = log.lock().unwrap();
    log.iter().cloned().collect::<Vec<_>>().join("\n")
}

/// Whether something on `addr` answers an HTTP request (any status) within a second.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    // A GET here is refused with 400 ("Need to POST"): harmless, and moto counts no action.
    let probe =
        format!("GET /moto-api/reset-auth HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(probe.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}
