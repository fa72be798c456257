//! The load generators as child processes pinned to CPU 1: the bench's own clients (this
//! binary again with `--role`, see `clients.rs`), `wrk` with `random_range.lua` (W3, and W7
//! with `FILES`) and `h2load` over h2c prior knowledge (W6), each returning what it measured.

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
    own_load_drained(config, running, conns, range_len, 0.0)
}

/// As [`own_load`], the requests in flight at the end given `drain` seconds more to finish.
pub fn own_load_drained(
    config: &Config,
    running: &Running,
    conns: usize,
    range_len: u64,
    drain: f64,
) -> serde_json::Value {
    let mut command = client_role(
        "load",
        running,
        conns,
        &[
            "--secs",
            &config.secs.to_string(),
            "--drain",
            &drain.to_string(),
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

/// What h2load measured in one run (W6).
pub struct H2loadResult {
    /// The run's length as h2load reports it (`finished in …`).
    pub duration_s: f64,
    /// Requests answered completely with a 2xx.
    pub succeeded: f64,
    /// Body bytes received (DATA frames), the part of the responses still in flight at the
    /// end included: the bytes the server delivered during the run.
    pub data_bytes: f64,
    /// Responses with a status other than 2xx.
    pub non_2xx: f64,
    /// Requests that failed: reset, refused, cut by a GOAWAY, or timed out.
    pub errored: f64,
}

/// h2load pinned to CPU 1: `conns` connections with `streams` concurrent streams each, every
/// request `GET /video` with `range` (`bytes=A-B`), for `BENCH_SECS`, HTTP/2 with prior
/// knowledge (h2c) to the server's `h2_addr`. h2load sends the same headers on every request,
/// so the range is fixed; the client's flow-control windows are its defaults (2^30 − 1 bytes
/// per stream and connection), so the client never throttles the server.
pub fn h2load(
    config: &Config,
    running: &Running,
    conns: usize,
    streams: usize,
    range: &str,
) -> H2loadResult {
    let secs = (config.secs.round() as u64).max(1);
    let args: Vec<String> = vec![
        "--no-tls-proto=h2c".into(),
        "-t1".into(),
        format!("-c{conns}"),
        format!("-m{streams}"),
        format!("-D{secs}"),
        "-H".into(),
        format!("range: {range}"),
        format!("http://{}/video", running.h2_addr),
    ];
    let mut command = pinned("1", Path::new("h2load"), &args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let output = output_tracked(&mut command, "running h2load");
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_h2load(&stdout).unwrap_or_else(|| {
        panic!(
            "h2load said {stdout:?} {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The figures of h2load's summary, e.g.
///
/// ```text
/// finished in 2.11s, 38.00 req/s, 656.19MB/s
/// requests: 76 total, 108 started, 76 done, 76 succeeded, 0 failed, 0 errored, 0 timeout
/// status codes: 105 2xx, 0 3xx, 0 4xx, 0 5xx
/// traffic: 1.28GB (1376136706) total, 14.66KB (15015) headers (space savings 37.28%), 1.28GB (1374610350) data
/// ```
///
/// (status codes count the responses in flight at the end too, "done" does not).
fn parse_h2load(out: &str) -> Option<H2loadResult> {
    let line = |prefix: &str| out.lines().find_map(|l| l.strip_prefix(prefix));
    // `N word` pairs of a line, by word: `76 total, 108 started` → total: 76, started: 108.
    let counts = |text: &str| -> BTreeMap<String, f64> {
        let words: Vec<&str> = text.split([',', ' ']).filter(|w| !w.is_empty()).collect();
        words
            .windows(2)
            .filter_map(|w| Some((w[1].to_string(), w[0].parse().ok()?)))
            .collect()
    };
    let finished = line("finished in ")?.split(',').next()?.trim();
    let duration_s = if let Some(ms) = finished.strip_suffix("ms") {
        ms.parse::<f64>().ok()? / 1e3
    } else if let Some(us) = finished.strip_suffix("us") {
        us.parse::<f64>().ok()? / 1e6
    } else {
        finished.strip_suffix('s')?.parse().ok()?
    };
    let requests = counts(line("requests: ")?);
    let status = counts(line("status codes: ")?);
    // The exact byte counts are the numbers in parentheses: total, headers, data.
    let exact: Vec<f64> = line("traffic: ")?
        .split(['(', ')'])
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied();
    Some(H2loadResult {
        duration_s,
        succeeded: get(&requests, "succeeded")?,
        data_bytes: *exact.last()?,
        non_2xx: get(&status, "3xx")? + get(&status, "4xx")? + get(&status, "5xx")?,
        errored: get(&requests, "errored")? + get(&requests, "timeout")?,
    })
}
