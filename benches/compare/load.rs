//! The load generators as child processes pinned to CPU 1: the bench's own clients (this
//! binary again with `--role`, see `clients.rs`) and `wrk` with `random_range.lua` (W3, and W7
//! with `FILES`), each returning what it measured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::children::{output_tracked, pinned};
use crate::config::Config;
use crate::many_files;
use crate::servers::Running;

fn bench_exe() -> PathBuf {
    std::env::current_exe().expect("the bench's own path")
}

/// This binary again as the `role` client of `clients.rs`, with `conns` connections to the
/// server and the role's own `flags`, pinned to CPU 1.
pub fn client_role(role: &str, running: &Running, conns: usize, flags: &[&str]) -> Command {
    let addr = running.addr.to_string();
    let conns = conns.to_string();
    let args: Vec<String> = ["--role", role, "--addr", &addr, "--conns", &conns]
        .iter()
        .chain(flags)
        .map(|s| s.to_string())
        .collect();
    pinned("1", &bench_exe(), &args)
}

/// Runs the `load` client role and returns its JSON.
pub fn own_load(
    config: &Config,
    running: &Running,
    conns: usize,
    range_len: u64,
) -> serde_json::Value {
    let mut command = client_role(
        "load",
        running,
        conns,
        &[
            "--secs",
            &config.secs.to_string(),
            "--range-len",
            &range_len.to_string(),
            "--file-size",
            &config.file_size.to_string(),
        ],
    );
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let output = output_tracked(&mut command, "running the load client");
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

/// wrk with `random_range.lua`: `range_len` bytes at random offsets of `/video`.
pub fn wrk(config: &Config, running: &Running, conns: usize, range_len: u64) -> WrkResult {
    let env = [
        ("FILE_SIZE", config.file_size.to_string()),
        ("RANGE_LEN", range_len.to_string()),
        ("RANGE_PATH", "/video".to_string()),
    ];
    wrk_script(config, running, conns, "random_range.lua", &env)
}

/// wrk with `random_range.lua` and `FILES`: `range_len` bytes at random offsets of random files of
/// W7's tree.
pub fn wrk_many_files(
    config: &Config,
    running: &Running,
    conns: usize,
    range_len: u64,
) -> WrkResult {
    let env = [
        ("FILES", config.many_files.to_string()),
        ("FILE_SIZE", many_files::FILE_SIZE.to_string()),
        ("RANGE_LEN", range_len.to_string()),
    ];
    wrk_script(config, running, conns, "random_range.lua", &env)
}

/// wrk pinned to CPU 1 with a script of `benches/support/` and its environment.
fn wrk_script(
    config: &Config,
    running: &Running,
    conns: usize,
    script: &str,
    env: &[(&str, String)],
) -> WrkResult {
    let script = config.root.join("benches/support").join(script);
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
    let mut command = pinned("1", Path::new("wrk"), &args);
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = output_tracked(&mut command, "running wrk");
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
