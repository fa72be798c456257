//! A storage emulator as a child process of one test: found where `.ci/install-emulators` puts
//! it, started on a free port of 127.0.0.1, waited for with a deadline, and killed with its
//! whole process group when the test lets go of it (a failing test leaves nothing behind).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::support::{self, http1_client, url_request};

/// How long an emulator may take to answer its first request. Azurite starts in about 0.7 s
/// and fake-gcs-server in less; a loaded CI machine gets a generous margin.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The command that installs the emulators, for the messages of a missing one.
pub const INSTALL: &str = ".ci/install-emulators";

/// The emulator program `name`: the path in the environment variable `env_var`, else
/// `target/emulators/bin/NAME` of the repository (where `.ci/install-emulators` links it).
///
/// Missing: on CI (`CI` set) the test fails with the command that installs it, since a CI run
/// that skipped these tests would claim what it never showed; elsewhere the test is skipped
/// with the reason on stderr, so that `cargo test` works on a machine without Node or Python.
pub fn program(env_var: &str, name: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            support::manifest_dir()
                .join("target/emulators/bin")
                .join(name)
        });
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "{name} not found at {} (or set {env_var}): install the emulators with `{INSTALL}`",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// A running emulator: its port, and its output for the messages of a failing test.
pub struct Emulator {
    name: &'static str,
    child: Option<Child>,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
}

impl Emulator {
    /// Starts the command `command(port)` makes, for a free port, and waits until a GET of
    /// `ready_path` answers with a status that `ready` accepts. The port is found by binding
    /// port 0 and letting go of it, so another process may take it before the emulator does:
    /// an emulator that exits before it is ready is started again on another port (3 tries).
    pub async fn start(
        name: &'static str,
        command: impl Fn(u16) -> Command,
        ready_path: &str,
        ready: impl Fn(StatusCode) -> bool,
    ) -> Emulator {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let mut command = command(port);
            // Its own process group, so that Drop kills whatever the program starts too.
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
            let output = Arc::new(Mutex::new(Vec::new()));
            support::read_lines(child.stdout.take().unwrap(), output.clone(), |_| {});
            support::read_lines(child.stderr.take().unwrap(), output.clone(), |_| {});
            let mut emulator = Emulator {
                name,
                child: Some(child),
                port,
                output,
            };
            match emulator.wait_ready(ready_path, &ready).await {
                Ok(()) => return emulator,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("{name} did not start: {failures:#?}");
    }

    /// Polls `ready_path` until the emulator answers, or returns why not: it exited, or the
    /// deadline passed.
    async fn wait_ready(
        &mut self,
        ready_path: &str,
        ready: &impl Fn(StatusCode) -> bool,
    ) -> Result<(), String> {
        let client = http1_client();
        let started = Instant::now();
        let mut last = String::from("no answer");
        while started.elapsed() < READY_WITHIN {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "{} exited with {status} on port {}:\n{}",
                    self.name,
                    self.port,
                    self.output()
                ));
            }
            let request = url_request(Method::GET, self.addr(), ready_path, &[]);
            let attempt = tokio::time::timeout(Duration::from_secs(1), client.request(request));
            match attempt.await {
                Ok(Ok(response)) if ready(response.status()) => return Ok(()),
                Ok(Ok(response)) => last = format!("status {}", response.status()),
                Ok(Err(error)) => last = error.to_string(),
                Err(_) => last = String::from("a request timed out"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "{} not ready on port {} within {READY_WITHIN:?} ({last}):\n{}",
            self.name,
            self.port,
            self.output()
        ))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// What the emulator has written so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The group was made by `process_group(0)`, so its id is the child's.
            support::signal_group(child.id(), libc::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port of 127.0.0.1 free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}
