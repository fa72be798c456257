//! The load generators as child processes pinned to CPU 1: the bench's own clients (this
//! binary again with `--role`, see `clients.rs`) and `wrk` with `random_range.lua`, each
//! returning what it measured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::children::{pinned, track, untrack};
use crate::config::Config;
use crate::servers::Running;

pub fn bench_exe() -> PathBuf {
    std::env::current_exe().expect("the bench's own path")
}

/// Runs the `load` client role and returns its JSON.
pub fn own_load(
    config: &Config,
    running: &Running,
    conns: usize,
    range_len: u64,
) -> serde_json::Value {
    let args: Vec<String> = [
        "--role",
        "load",
        "--addr",
        &running.addr.to_string(),
        "--conns",
        &conns.to_string(),
        "--secs",
        &config.secs.to_string(),
        "--range-len",
        &range_len.to_string(),
        "--file-size",
        &config.file_size.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let child = pinned("1", &bench_exe(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running the load client");
    let pid = child.id();
    track(pid);
    let output = child.wait_with_output().expect("running the load client");
    untrack(pid);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("{}");
    serde_json::from_str(line).unwrap_or_else(|_| panic!("load client said {stdout:?}"))
}

pub struct WrkResult {
    pub requests: f64,
    pub bytes: f64,
    pub duration_s: f64,
    pub errors: f64,
    pub p99_ms: f64,
    pub p50_ms: f64,
}

pub fn wrk(config: &Config, running: &Running, conns: usize, range_len: u64) -> WrkResult {
    let script = config.root.join("benches/support/random_range.lua");
    let secs = (config.secs.round() as u64).max(1);
    let args: Vec<String> = [
        "-t1".to_string(),
        format!("-c{conns}"),
        format!("-d{secs}s"),
        "--timeout".into(),
        "10s".into(),
        "--latency".into(),
        "-s".into(),
        script.display().to_string(),
        format!("http://{}/video", running.addr),
    ]
    .into();
    let child = pinned("1", Path::new("wrk"), &args)
        .env("FILE_SIZE", config.file_size.to_string())
        .env("RANGE_LEN", range_len.to_string())
        .env("RANGE_PATH", "/video")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running wrk");
    let pid = child.id();
    track(pid);
    let output = child.wait_with_output().expect("running wrk");
    untrack(pid);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "wrk said {stdout:?} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let fields: BTreeMap<&str, f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k, v.parse().ok()?))
        })
        .collect();
    let get = |k: &str| fields.get(k).copied().unwrap_or(0.0);
    WrkResult {
        requests: get("requests"),
        bytes: get("bytes"),
        duration_s: get("duration_us") / 1e6,
        errors: get("connect") + get("read") + get("write") + get("status") + get("timeout"),
        p99_ms: get("p99_us") / 1e3,
        p50_ms: get("p50_us") / 1e3,
    }
}
