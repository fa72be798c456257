//! The example servers as child processes, the part both benches do alike: building them
//! with cargo, and learning where one listens. Each server binds `127.0.0.1:0` and prints
//! `serving FILE at http://ADDR/` as its first line on stdout, so that benches never race
//! each other, or anything else, for a fixed port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

/// `cargo build --release --example NAME...` in `root`, with the cargo that runs the bench
/// (`$CARGO`), or `fallback_cargo` when the bench was started some other way.
pub fn build_examples(
    root: &Path,
    examples: &[&str],
    fallback_cargo: &str,
) -> std::io::Result<ExitStatus> {
    build_examples_with_features(root, examples, None, fallback_cargo)
}

/// As [`build_examples`], with the crate's `features` (a comma list) on when given.
pub fn build_examples_with_features(
    root: &Path,
    examples: &[&str],
    features: Option<&str>,
    fallback_cargo: &str,
) -> std::io::Result<ExitStatus> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| fallback_cargo.to_string());
    Command::new(cargo)
        .args(["build", "--release"])
        .args(examples.iter().flat_map(|name| ["--example", name]))
        .args(
            features
                .iter()
                .flat_map(|features| ["--features", features]),
        )
        .current_dir(root)
        .status()
}

/// The first line the child prints on its piped stdout, if it comes within `limit`, and the
/// rest of its stdout, which the caller must keep open or drain: a closed pipe would kill
/// the server with SIGPIPE, a full one would block it.
pub fn first_line(child: &mut Child, limit: Duration) -> Option<(String, BufReader<ChildStdout>)> {
    let mut stdout = BufReader::new(child.stdout.take()?);
    let (tx, rx) = mpsc::channel();
    // A thread, because a read from a pipe cannot time out.
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = tx.send((line, stdout));
    });
    rx.recv_timeout(limit).ok()
}

/// The address in a server's first line: what follows its last `http://`, without the
/// trailing slash.
pub fn announced_addr(line: &str) -> Option<SocketAddr> {
    let (_, addr) = line.trim().rsplit_once("http://")?;
    addr.trim_end_matches('/').parse().ok()
}
