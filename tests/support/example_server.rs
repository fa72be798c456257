//! The example binaries, built when missing or stale; the example server as a child process,
//! run as users run it, listening on 127.0.0.1:0, its access log kept for the assertions.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{first_line_matching, manifest_dir, run_raw, signal, Access, ChildGuard};

/// The example binary `name`, `<target>/<profile>/examples/NAME`. A whole `cargo test` builds
/// the examples; `cargo test --test NAME` does not, so it is built here (once per process and
/// example, with the `cargo` that runs the tests) so that it is present and up to date.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Result<PathBuf, String>>>> = OnceLock::new();
    let built = BUILT
        .get_or_init(Default::default)
        .lock()
        // A test that panicked while building leaves its result or nothing: both are usable.
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name.to_owned())
        .or_insert_with(|| build_example(name))
        .clone();
    built.unwrap_or_else(|e| panic!("the example {name}: {e}"))
}

fn build_example(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // <target>/<profile>/deps/<test-binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the test binary is not in <target>/<profile>/deps")?;
    let binary = profile_dir.join("examples").join(name);
    let target_dir = profile_dir
        .parent()
        .ok_or("the test binary is not in <target>/<profile>/deps")?;
    let profile = profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--example", name])
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
            "`cargo build --example {name}` failed ({}):\n{}",
            out.status,
            out.stderr_text()
        ));
    }
    if !binary.is_file() {
        return Err(format!("{} is missing after building it", binary.display()));
    }
    Ok(binary)
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
        let binary = example_binary("server");
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
