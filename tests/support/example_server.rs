//! The example binaries as child processes, run as users run them: built when missing or
//! stale, listening on 127.0.0.1:0 (the address read from their `serving … at http://ADDR/`
//! line), their output kept for the assertions, stopped by a signal.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{
    first_line_matching, manifest_dir, read_lines, run_raw, signal, wait_for_exit, Access,
    ChildGuard, LIMIT,
};

/// The example binary `name`, `<target>/<profile>/examples/NAME`, built with the crate's
/// default features. A whole `cargo test` builds the examples; `cargo test --test NAME` does
/// not, so it is built here (once per process and example, with the `cargo` that runs the
/// tests) so that it is present and up to date.
pub fn example_binary(name: &str) -> PathBuf {
    example_binary_with_features(name, &[])
}

/// The example binary `name` built with the crate's `features` on (as `cargo build --example
/// NAME --features ...`), whatever features the test binary itself was built with.
///
/// cargo builds every feature set of the example in the one target directory, but links each
/// build to the same `examples/NAME`, so a later build with other features would replace it:
/// a build with features is copied aside to `examples/NAME--features-F1-F2` and run from there.
pub fn example_binary_with_features(name: &str, features: &[&str]) -> PathBuf {
    type Built = Mutex<HashMap<(String, Vec<String>), Result<PathBuf, String>>>;
    static BUILT: OnceLock<Built> = OnceLock::new();
    let features: Vec<String> = features.iter().map(|f| f.to_string()).collect();
    let built = BUILT
        .get_or_init(Default::default)
        .lock()
        // A test that panicked while building leaves its result or nothing: both are usable.
        .unwrap_or_else(PoisonError::into_inner)
        .entry((name.to_owned(), features.clone()))
        .or_insert_with(|| build_example(name, &features))
        .clone();
    built.unwrap_or_else(|e| panic!("the example {name} (features {features:?}): {e}"))
}

fn build_example(name: &str, features: &[String]) -> Result<PathBuf, String> {
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
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
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
    if features.is_empty() {
        return Ok(binary);
    }
    // Copied under a temporary name, then renamed: a copy is never seen half written.
    let aside = binary.with_file_name(format!("{name}--features-{}", features.join("-")));
    let partial = aside.with_extension(format!("partial-{}", std::process::id()));
    std::fs::copy(&binary, &partial)
        .and_then(|_| std::fs::rename(&partial, &aside))
        .map_err(|e| format!("copying {} to {}: {e}", binary.display(), aside.display()))?;
    Ok(aside)
}

/// An example binary (by default `examples/server.rs`) running as a child process on
/// 127.0.0.1:0, its stdout and stderr read on threads so that what it printed, and the
/// requests that reached it, can be checked.
pub struct Server {
    child: ChildGuard,
    pub addr: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Starts the example server serving `video`; waits at most 30 s for it to listen.
    pub fn start(video: &Path) -> Server {
        Self::start_with_args(video, &[])
    }

    /// Starts the example server serving `video` with extra command-line arguments, its
    /// access log on.
    pub fn start_with_args(video: &Path, args: &[&str]) -> Server {
        let video = video.to_str().expect("a UTF-8 path");
        Self::start_example(
            "server",
            &[&[video], args].concat(),
            &[("RUST_LOG", "info")],
        )
    }

    /// Starts `examples/NAME` with `args`, `--addr 127.0.0.1:0` and the environment `env`;
    /// waits at most 30 s for its `serving … at http://ADDR/` line.
    pub fn start_example(name: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_binary(&example_binary(name), args, env)
    }

    /// As [`Server::start_example`], with the example built with the crate's `features`.
    pub fn start_example_with_features(
        name: &str,
        features: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        Self::start_binary(&example_binary_with_features(name, features), args, env)
    }

    fn start_binary(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(binary)
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let child = ChildGuard(Some(child));
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = read_lines(stderr, stderr_lines.clone(), |_| {});
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let (addr, stdout_reader) = first_line_matching(
            stdout,
            Duration::from_secs(30),
            stdout_lines.clone(),
            |line: &str| {
                let url = line.strip_prefix("serving ")?.rsplit(" at ").next()?;
                let hostport = url.strip_prefix("http://")?.trim_end_matches('/');
                hostport.parse::<SocketAddr>().ok()
            },
        );
        let Some(addr) = addr else {
            drop(child);
            let _ = stderr_reader.join();
            panic!(
                "{} did not print `serving ... at http://ADDR/` within 30 s; stderr:\n{}",
                binary.display(),
                stderr_lines.lock().unwrap().join("\n")
            );
        };
        Server {
            child,
            addr,
            stdout: stdout_lines,
            stderr: stderr_lines,
            readers: vec![stderr_reader, stdout_reader],
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asserts that the first line on stdout is `serving VIDEO at http://127.0.0.1:PORT/`, the
    /// address of this server.
    #[track_caller]
    pub fn assert_serving(&self, video: &Path) {
        assert_eq!(self.addr.ip(), Ipv4Addr::LOCALHOST);
        assert_eq!(
            self.stdout_lines(1, LIMIT)[0],
            format!("serving {} at http://{}/", video.display(), self.addr)
        );
    }

    /// The first `count` lines printed to stdout, waiting at most `timeout` for them.
    #[track_caller]
    pub fn stdout_lines(&self, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.stdout.lock().unwrap();
            if lines.len() >= count {
                return lines[..count].to_vec();
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} lines on stdout within {timeout:?}, got {:?}",
                *lines
            );
            drop(lines);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The access-log entries written so far.
    pub fn accesses(&self) -> Vec<Access> {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| Access::parse(l))
            .collect()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
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
        if self
            .signal_and_wait(libc::SIGINT, Duration::from_secs(15))
            .is_none()
        {
            panic!(
                "the example server did not exit within 15 s of SIGINT; stderr:\n{}",
                self.stderr_text()
            );
        }
        self.accesses()
    }

    /// Sends `signal` and waits at most `timeout` for the program to exit: its exit status, or
    /// `None` if it is still running (it is killed then).
    pub fn stop_with(mut self, signal: i32, timeout: Duration) -> Option<ExitStatus> {
        self.signal_and_wait(signal, timeout)
    }

    /// [`Server::stop_with`], and everything the program wrote to stderr until it exited.
    pub fn stop_with_stderr(
        mut self,
        signal: i32,
        timeout: Duration,
    ) -> (Option<ExitStatus>, String) {
        let status = self.signal_and_wait(signal, timeout);
        (status, self.stderr_text())
    }

    /// [`Server::stop_with`] for async tests: waited for on a blocking thread, so that the
    /// runtime goes on driving this side of the connections while the program shuts them down.
    pub async fn stop_with_async(self, signal: i32, timeout: Duration) -> Option<ExitStatus> {
        tokio::task::spawn_blocking(move || self.stop_with(signal, timeout))
            .await
            .expect("the wait for the program's exit did not panic")
    }

    fn signal_and_wait(&mut self, sig: i32, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.0.as_mut().expect("the server is running");
        signal(child.id(), sig);
        let status = wait_for_exit(child, timeout)?;
        // The pipes are at their end now: join the readers, so that every line is kept.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Some(status)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Killed first, so that the readers see the ends of the pipes.
        if let Some(mut child) = self.child.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}
