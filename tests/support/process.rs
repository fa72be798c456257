//! Other programs run by the tests: found in `PATH` or the test fails naming the package to
//! install (never a silent skip), run to their end with a deadline, killed when a test lets go
//! of them, and signalled.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The packages that the real-client tests need on Debian.
pub const APT_PACKAGES: &str = "chromium chromium-driver ffmpeg curl wget aria2";

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
    // Both pipes are drained as the program writes, or a chatty one blocks on a full pipe.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let Some(status) = wait_for_exit(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        let err = stderr.join().unwrap_or_default();
        panic!(
            "{cmd:?} did not finish within {timeout:?}; killed. stderr:\n{}",
            String::from_utf8_lossy(&err)
        );
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

/// Waits at most `timeout` for `child` to exit; `None` if it is still running.
pub fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` to a process, which must exist.
#[track_caller]
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let sent = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(
        sent,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// Sends `signal` to the process group `pgid` (a child started with `process_group(0)`).
pub fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// A child process killed (and reaped) when dropped, so that a failing test leaves no server
/// or browser behind.
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

/// Reads lines from `reader` on a thread to its end, so that the child never blocks on a full
/// pipe, and keeps them all in `sink`; `each` sees every line first.
pub fn read_lines<R: Read + Send + 'static>(
    reader: R,
    sink: Arc<Mutex<Vec<String>>>,
    mut each: impl FnMut(&str) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            each(&line);
            sink.lock().unwrap().push(line);
        }
    })
}

/// [`read_lines`], and the first line that `pick` maps to `Some`, waiting at most `timeout`.
pub fn first_line_matching<R: Read + Send + 'static, T: Send + 'static>(
    reader: R,
    timeout: Duration,
    sink: Arc<Mutex<Vec<String>>>,
    pick: impl Fn(&str) -> Option<T> + Send + 'static,
) -> (Option<T>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let mut tx = Some(tx);
    let thread = read_lines(reader, sink, move |line| {
        if let Some(found) = pick(line) {
            if let Some(tx) = tx.take() {
                let _ = tx.send(found);
            }
        }
    });
    (rx.recv_timeout(timeout).ok(), thread)
}
