//! Helpers shared by the real-client tests (`tests/browser.rs`, `tests/clients.rs`): the
//! example server as a child process with its access log parsed, a throttling TCP proxy,
//! the generated test media, and external programs run with a bounded wait.
//!
//! Every wait here has a deadline; every missing program is a panic with the command that
//! installs it, never a silent skip.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The packages that the real-client tests need on Debian.
pub const APT_PACKAGES: &str = "chromium chromium-driver ffmpeg curl wget aria2";

/// The repository root.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory for one test's files, under cargo's target tmp dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("real-clients")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Finds `program` in `PATH` (or takes it as a path) or panics, naming the package to install.
pub fn require_program(program: &str, package: &str) -> PathBuf {
    find_program(program).unwrap_or_else(|| {
        panic!(
            "{program} not found in PATH: this test needs it. Install it with \
             `apt-get install -y {package}` (all real-client tests: `apt-get install -y {APT_PACKAGES}`)"
        )
    })
}

/// Finds `program` in `PATH`, or takes it as a path when it contains a slash.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let is_file = |p: &Path| p.is_file();
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_file(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_file(p))
}

/// The three media files of the tests.
#[derive(Debug, Clone)]
pub struct TestMedia {
    /// `media/sample.mp4`: H.264 + AAC, `moov` first (faststart).
    pub faststart_mp4: PathBuf,
    /// The same streams with `moov` after `mdat`.
    pub moov_at_end_mp4: PathBuf,
    /// VP9 + Opus in WebM.
    pub vp9_opus_webm: PathBuf,
}

/// Generates the extra test media once per test process (with `media/make-test-media.sh`,
/// which needs ffmpeg) into the target tmp dir, and returns all three files.
pub fn test_media() -> TestMedia {
    static MEDIA: OnceLock<Result<TestMedia, String>> = OnceLock::new();
    MEDIA
        .get_or_init(|| {
            require_program("ffmpeg", "ffmpeg");
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-media");
            let script = manifest_dir().join("media/make-test-media.sh");
            let mut cmd = Command::new("bash");
            cmd.arg(&script).arg(&dir);
            let out = run(&mut cmd, Duration::from_secs(120));
            if !out.status.success() {
                return Err(format!(
                    "{} {} failed: {}\n{}",
                    script.display(),
                    dir.display(),
                    out.status,
                    out.stderr_text()
                ));
            }
            let media = TestMedia {
                faststart_mp4: manifest_dir().join("media/sample.mp4"),
                moov_at_end_mp4: dir.join("moov-at-end.mp4"),
                vp9_opus_webm: dir.join("vp9-opus.webm"),
            };
            for f in [
                &media.faststart_mp4,
                &media.moov_at_end_mp4,
                &media.vp9_opus_webm,
            ] {
                if !f.is_file() {
                    return Err(format!("{} is missing", f.display()));
                }
            }
            Ok(media)
        })
        .clone()
        .unwrap_or_else(|e| panic!("test media: {e}"))
}

/// The top-level ISO-BMFF boxes of an MP4: `(type, offset, size)`.
pub fn mp4_top_level_boxes(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let mut boxes = Vec::new();
    let mut off = 0usize;
    while off + 8 <= bytes.len() {
        let mut size = u32::from_be_bytes(bytes[off..off + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&bytes[off + 4..off + 8]).into_owned();
        if size == 1 && off + 16 <= bytes.len() {
            size = u64::from_be_bytes(bytes[off + 8..off + 16].try_into().unwrap());
        } else if size == 0 {
            size = (bytes.len() - off) as u64;
        }
        boxes.push((kind, off as u64, size));
        if size < 8 {
            break;
        }
        off += size as usize;
    }
    boxes
}

/// The offset of the top-level `moov` box of an MP4 file.
pub fn moov_offset(path: &Path) -> u64 {
    let bytes = read(path);
    mp4_top_level_boxes(&bytes)
        .into_iter()
        .find(|(kind, _, _)| kind == "moov")
        .unwrap_or_else(|| panic!("{}: no top-level moov box", path.display()))
        .1
}

/// Reads a whole file or panics with its name.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Asserts two byte strings are equal without printing megabytes when they are not.
#[track_caller]
pub fn assert_same_bytes(what: &str, actual: &[u8], expected: &[u8]) {
    if actual == expected {
        return;
    }
    let first_diff = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    panic!(
        "{what}: got {} bytes, expected {} bytes; first difference at byte {first_diff}",
        actual.len(),
        expected.len()
    );
}

// ---------------------------------------------------------------------------------------
// External programs

/// What a program run by [`run`] left.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Runs `cmd` to its end with no stdin and without any proxy from the environment, killing it
/// and panicking if it takes longer than `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("no_proxy", "127.0.0.1,localhost")
        .env("NO_PROXY", "127.0.0.1,localhost");
    run_raw(cmd, timeout)
}

/// Runs `cmd` to its end with no stdin, killing it and panicking if it takes longer than
/// `timeout`.
pub fn run_raw(cmd: &mut Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; killed. stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// Like [`run`], and panics unless the program exits with status 0.
#[track_caller]
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> Output {
    let out = run(cmd, timeout);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout_text(),
        out.stderr_text()
    );
    out
}

/// Sends `signal` to a process.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Sends `signal` to the process group `pgid` (a child started with `process_group(0)`).
pub fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// A child process killed (and reaped) when dropped.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    pub fn id(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads lines from `reader` on a thread; the first line that `pick` maps to `Some` is
/// returned, waiting at most `timeout`. All lines go to `sink`.
fn first_line_matching<R: Read + Send + 'static, T: Send + 'static>(
    reader: R,
    timeout: Duration,
    sink: Arc<Mutex<Vec<String>>>,
    pick: impl Fn(&str) -> Option<T> + Send + 'static,
) -> (Option<T>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if let Some(found) = pick(&line) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(found);
                }
            }
            sink.lock().unwrap().push(line);
        }
    });
    (rx.recv_timeout(timeout).ok(), thread)
}

// ---------------------------------------------------------------------------------------
// The example server

/// The example server binary, `<target>/<profile>/examples/server`. A whole `cargo test`
/// builds it; `cargo test --test NAME` does not, so it is built here (once per process, with
/// the `cargo` that runs the tests) so that it is present and up to date.
pub fn server_binary() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(build_server_binary)
        .clone()
        .unwrap_or_else(|e| panic!("the example server: {e}"))
}

fn build_server_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // <target>/<profile>/deps/<test-binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the test binary is not in <target>/<profile>/deps")?;
    let server = profile_dir.join("examples").join("server");
    let target_dir = profile_dir
        .parent()
        .ok_or("the test binary is not in <target>/<profile>/deps")?;
    let profile = profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--example", "server"])
        .arg("--manifest-path")
        .arg(manifest_dir().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    if profile == "release" {
        cmd.arg("--release");
    }
    let out = run_raw(&mut cmd, Duration::from_secs(600));
    if !out.status.success() {
        return Err(format!(
            "`cargo build --example server` failed ({}):\n{}",
            out.status,
            out.stderr_text()
        ));
    }
    if !server.is_file() {
        return Err(format!("{} is missing after building it", server.display()));
    }
    Ok(server)
}

/// One access-log line of the example server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub method: String,
    pub path: String,
    pub version: String,
    /// The `Range` header as sent, `None` when there was none.
    pub range: Option<String>,
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// `complete`, `aborted` or `failed`.
    pub outcome: String,
    /// The conditional headers the request carried (`none-match`, `modified-since`, …).
    pub conditions: Vec<String>,
}

impl Access {
    /// Parses `... access: GET /video HTTP/1.1 range=bytes=0- status=206 bytes=N complete in 2ms
    /// if=none-match,range`.
    pub fn parse(line: &str) -> Option<Access> {
        let line = strip_ansi(line);
        let rest = &line[line.find("access: ")? + "access: ".len()..];
        let mut words = rest.splitn(4, ' ');
        let method = words.next()?.to_owned();
        let path = words.next()?.to_owned();
        let version = words.next()?.to_owned();
        let rest = words.next()?.strip_prefix("range=")?;
        // The Range value may hold spaces ("bytes=0-1, 5-6"): it ends at the last " status=".
        let status_at = rest.rfind(" status=")?;
        let range = &rest[..status_at];
        let mut tail = rest[status_at + 1..].split(' ');
        let status = tail.next()?.strip_prefix("status=")?.parse().ok()?;
        let bytes = tail.next()?.strip_prefix("bytes=")?.parse().ok()?;
        let outcome = tail.next()?.to_owned();
        let conditions = tail
            .find_map(|word| word.strip_prefix("if="))
            .filter(|list| *list != "-")
            .map(|list| list.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        Some(Access {
            method,
            path,
            version,
            range: (range != "-").then(|| range.to_owned()),
            status,
            bytes,
            outcome,
            conditions,
        })
    }

    /// The first-byte-pos of a single `bytes=N-[M]` range.
    pub fn range_start(&self) -> Option<u64> {
        let spec = self.range.as_deref()?.strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        spec.split('-').next()?.trim().parse().ok()
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The example server (`examples/server.rs`) running as a child process on 127.0.0.1:0, its
/// stderr read on a thread so that the requests that reached it can be counted.
pub struct Server {
    child: ChildGuard,
    pub addr: SocketAddr,
    pub video: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts the example server serving `video`; waits at most 30 s for it to listen.
    pub fn start(video: &Path) -> Server {
        Self::start_with_args(video, &[])
    }

    /// Starts the example server with extra command-line arguments.
    pub fn start_with_args(video: &Path, args: &[&str]) -> Server {
        let binary = server_binary();
        let mut child = Command::new(&binary)
            .arg(video)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let stderr: ChildStderr = child.stderr.take().unwrap();
        let child = ChildGuard(Some(child));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            })
        };
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let (addr, _stdout_thread) = first_line_matching(
            stdout,
            Duration::from_secs(30),
            stdout_lines,
            |line: &str| {
                let url = line.strip_prefix("serving ")?.rsplit(" at ").next()?;
                let hostport = url.strip_prefix("http://")?.trim_end_matches('/');
                hostport.parse::<SocketAddr>().ok()
            },
        );
        let Some(addr) = addr else {
            drop(child);
            let _ = reader.join();
            panic!(
                "{} did not print `serving ... at http://ADDR/` within 30 s; stderr:\n{}",
                binary.display(),
                lines.lock().unwrap().join("\n")
            );
        };
        Server {
            child,
            addr,
            video: video.to_owned(),
            lines,
            reader: Some(reader),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The access-log entries written so far.
    pub fn accesses(&self) -> Vec<Access> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| Access::parse(l))
            .collect()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (at most `timeout`) until the access log holds `count` entries for `path`, and
    /// returns those entries.
    #[track_caller]
    pub fn wait_for_accesses(&self, path: &str, count: usize, timeout: Duration) -> Vec<Access> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<Access> = self
                .accesses()
                .into_iter()
                .filter(|a| a.path == path)
                .collect();
            if found.len() >= count {
                return found;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {count} access-log entries for {path} within {timeout:?}, got {}:\n{}",
                    found.len(),
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the server with SIGINT (its graceful shutdown, which ends every connection and so
    /// logs every response), waits at most 15 s for it to exit, and returns the whole access log.
    pub fn stop(mut self) -> Vec<Access> {
        let pid = self.child.id();
        signal(pid, libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(15);
        let child = self.child.0.as_mut().unwrap();
        loop {
            if child.try_wait().expect("waiting for the server").is_some() {
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "the example server did not exit within 15 s of SIGINT; stderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.accesses()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // ChildGuard kills the process; the reader thread then sees EOF.
        if let Some(mut child) = self.child.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Throttling TCP proxy

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

// ---------------------------------------------------------------------------------------
// Small HTTP helpers

/// Header fields with lower-case names, in order.
pub type Headers = Vec<(String, String)>;

/// Splits a `multipart/byteranges` body into `(headers, body)` parts, using `boundary`.
pub fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(Headers, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let delim = delimiter.as_bytes();
    let mut parts = Vec::new();
    let find = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut pos = find(body, delim, 0).expect("multipart body without its first delimiter");
    loop {
        let after = pos + delim.len();
        if body[after..].starts_with(b"--") {
            break; // close delimiter
        }
        let headers_start = after
            + if body[after..].starts_with(b"\r\n") {
                2
            } else {
                panic!("delimiter not followed by CRLF at byte {after}")
            };
        let headers_end = find(body, b"\r\n\r\n", headers_start).expect("part without headers end");
        let headers = String::from_utf8_lossy(&body[headers_start..headers_end])
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line without a colon");
                (k.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect::<Vec<_>>();
        let content_start = headers_end + 4;
        let mut close = Vec::with_capacity(delim.len() + 2);
        close.extend_from_slice(b"\r\n");
        close.extend_from_slice(delim);
        let next = find(body, &close, content_start).expect("part without a following delimiter");
        parts.push((headers, body[content_start..next].to_vec()));
        pos = next + 2;
    }
    parts
}

/// Parses a raw header block (as `curl -D` writes it) of the last response in it:
/// `(status, headers with lower-case names)`.
pub fn parse_header_dump(dump: &str) -> (u16, Vec<(String, String)>) {
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

/// The first value of header `name` (lower-case) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Writes `bytes` to `path` or panics with its name.
pub fn write(path: &Path, bytes: &[u8]) {
    let mut f =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    f.write_all(bytes)
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_access_lines() {
        let line = "2026-01-01T00:00:00.000000Z  INFO access: GET /video HTTP/1.1 \
                    range=bytes=0-1, 5-6 status=206 bytes=1097903 complete in 2.2ms \
                    if=none-match,range";
        let a = Access::parse(line).unwrap();
        assert_eq!(a.method, "GET");
        assert_eq!(a.path, "/video");
        assert_eq!(a.version, "HTTP/1.1");
        assert_eq!(a.range.as_deref(), Some("bytes=0-1, 5-6"));
        assert_eq!(a.status, 206);
        assert_eq!(a.bytes, 1097903);
        assert_eq!(a.outcome, "complete");
        assert_eq!(a.conditions, ["none-match", "range"]);
        let b = Access::parse(
            "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2maccess\u{1b}[0m\u{1b}[2m:\u{1b}[0m \
             HEAD / HTTP/2.0 range=- status=200 bytes=0 aborted in 1ms if=-",
        )
        .unwrap();
        assert_eq!(b.range, None);
        assert!(b.conditions.is_empty());
        assert_eq!(b.version, "HTTP/2.0");
        assert_eq!(b.outcome, "aborted");
    }

    #[test]
    fn parses_multipart() {
        let body = b"\r\n--XYZ\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/10\r\n\r\nab\r\n--XYZ\r\nContent-Range: bytes 5-6/10\r\n\r\nfg\r\n--XYZ--\r\n";
        let parts = parse_multipart(body, "XYZ");
        assert_eq!(parts.len(), 2);
        assert_eq!(header(&parts[0].0, "content-range"), Some("bytes 0-1/10"));
        assert_eq!(parts[1].1, b"fg");
    }
}
