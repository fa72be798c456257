//! The workloads of issues 5, 12 and 14, one function each: what load runs against the server
//! and which figures each records into the sample, the server's CPU per GiB or per request
//! among them (W5, CPU per GiB streamed, comes from W1's run; W6 is HTTP/2 with h2load, in two
//! parts, W6s and W6r; W7 runs against the many-files tree).

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::children::{track, untrack};
use crate::config::Config;
use crate::load::{client_role, h2load, own_load, wrk, wrk_many_files};
use crate::meter::{status_mib, Meter};
use crate::report::Sample;
use crate::servers::Running;
use crate::MIB;

pub const GIB: f64 = (1u64 << 30) as f64;

/// W1 (and W5): 4 connections streaming `bytes=0-` of the whole file.
pub fn w1(config: &Config, running: &Running, sample: &mut Sample) {
    let meter = Meter::start(running.pid());
    let result = own_load(config, running, 4, 0);
    let server_cpu = meter.finish(sample, "w1");
    let bytes = result["body_bytes"].as_f64().unwrap_or(0.0);
    let secs = result["duration_s"].as_f64().unwrap_or(1.0);
    sample.set("w1_mb_s", bytes / secs / 1e6);
    sample.set("w1_errors", result["errors"].as_f64().unwrap_or(0.0));
    sample.set("w5_cpu_s_per_gib", server_cpu / (bytes / GIB));
    sample.set("w1_peak_rss_mib", status_mib(running.pid(), "VmHWM"));
}

/// W2: 64 connections, 1 MiB ranges at random offsets.
pub fn w2(config: &Config, running: &Running, sample: &mut Sample) {
    let meter = Meter::start(running.pid());
    let result = own_load(config, running, 64, MIB);
    let server_cpu = meter.finish(sample, "w2");
    let requests = result["requests"].as_f64().unwrap_or(0.0);
    let secs = result["duration_s"].as_f64().unwrap_or(1.0);
    sample.set("w2_req_s", requests / secs);
    sample.set("w2_p99_ms", result["p99_us"].as_f64().unwrap_or(0.0) / 1e3);
    sample.set(
        "w2_errors",
        result["errors"].as_f64().unwrap_or(0.0) + result["bad_status"].as_f64().unwrap_or(0.0),
    );
    let bytes = result["body_bytes"].as_f64().unwrap_or(0.0);
    sample.set("w2_cpu_s_per_gib", server_cpu / (bytes / GIB));
    sample.set("w2_cpu_us_per_req", 1e6 * server_cpu / requests.max(1.0));
    sample.set("w2_peak_rss_mib", status_mib(running.pid(), "VmHWM"));
}

/// W3: 64 connections, 4 KiB ranges at random offsets.
pub fn w3(config: &Config, running: &Running, sample: &mut Sample) {
    let meter = Meter::start(running.pid());
    let (requests, secs, p99, p50, errors) = if config.w3_client == "wrk" {
        let r = wrk(config, running, 64, 4096);
        let _ = r.bytes;
        (r.requests, r.duration_s, r.p99_ms, r.p50_ms, r.errors)
    } else {
        let r = own_load(config, running, 64, 4096);
        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
        (
            f("requests"),
            f("duration_s"),
            f("p99_us") / 1e3,
            f("p50_us") / 1e3,
            f("errors") + f("bad_status"),
        )
    };
    let server_cpu = meter.finish(sample, "w3");
    sample.set("w3_req_s", requests / secs);
    sample.set("w3_p99_ms", p99);
    sample.set("w3_p50_ms", p50);
    sample.set("w3_errors", errors);
    sample.set("w3_cpu_us_per_req", 1e6 * server_cpu / requests.max(1.0));
}

/// W4: slow clients; the server's memory.
pub fn w4(config: &Config, running: &Running, sample: &mut Sample) {
    slow_clients(config, running, sample, "w4", config.w4_conns, &[]);
}

/// `conns` slow clients (half reading at 64 KiB/s, half stalled after the head) for
/// `BENCH_W4_SECS`, then gone: the server's memory before, during and after, its figures
/// under `prefix` (W4's, and the object store's WS4 with the store's processes as `helpers`).
pub fn slow_clients(
    config: &Config,
    running: &Running,
    sample: &mut Sample,
    prefix: &str,
    conns: usize,
    helpers: &[u32],
) {
    let key = |name: &str| format!("{prefix}_{name}");
    let pid = running.pid();
    std::thread::sleep(Duration::from_millis(300));
    sample.set(&key("idle_rss_mib"), status_mib(pid, "VmRSS"));
    let meter = Meter::with_helpers(pid, helpers);
    let mut child = client_role(
        "slow",
        running,
        conns,
        &[
            "--range-end",
            &config.w4_range_end.to_string(),
            "--rate",
            "65536",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .expect("starting the slow clients");
    track(child.id());
    // Sample the RSS each second on the way, for the record.
    let start = Instant::now();
    let mut max_rss: f64 = 0.0;
    while start.elapsed().as_secs_f64() < config.w4_secs {
        std::thread::sleep(Duration::from_millis(250).min(Duration::from_secs_f64(
            (config.w4_secs - start.elapsed().as_secs_f64()).max(0.0),
        )));
        max_rss = max_rss.max(status_mib(pid, "VmRSS"));
    }
    sample.set(&key("peak_rss_mib"), status_mib(pid, "VmHWM"));
    sample.set(&key("rss_at_end_mib"), status_mib(pid, "VmRSS"));
    sample.set(&key("sampled_max_rss_mib"), max_rss);
    // Closing their standard input makes the clients report and exit, closing every socket.
    drop(child.stdin.take());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = child.wait();
    untrack(child.id());
    let server_cpu = meter.finish(sample, prefix);
    let result: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or("{}")).unwrap_or_default();
    let f = |k: &str| result[k].as_f64().unwrap_or(0.0);
    sample.set(&key("connected"), f("connected"));
    sample.set(&key("heads"), f("heads"));
    sample.set(&key("errors"), f("errors"));
    sample.set(
        &key("slow_kib_s"),
        f("read_bytes") / 1024.0 / config.w4_secs / (conns as f64 / 2.0),
    );
    // Per GiB the reading clients took: the bytes queued in the stalled clients' socket
    // buffers are not counted, so this is an upper bound, comparable between servers.
    sample.set(&key("cpu_s_per_gib"), server_cpu / (f("read_bytes") / GIB));
    std::thread::sleep(Duration::from_secs_f64(config.w4_settle_secs));
    sample.set(&key("rss_after_close_mib"), status_mib(pid, "VmRSS"));
}

/// W7: 64 connections, 4 KiB ranges at random offsets of random files of the tree, with wrk
/// pinned like W3's: every request opens (or finds cached) one of many files.
pub fn w7(config: &Config, running: &Running, sample: &mut Sample) {
    let meter = Meter::start(running.pid());
    let r = wrk_many_files(config, running, 64, 4096);
    let server_cpu = meter.finish(sample, "w7");
    sample.set("w7_req_s", r.requests / r.duration_s);
    sample.set("w7_p99_ms", r.p99_ms);
    sample.set("w7_p50_ms", r.p50_ms);
    sample.set("w7_errors", r.errors);
    sample.set("w7_cpu_us_per_req", 1e6 * server_cpu / r.requests.max(1.0));
}

/// W6s's range length: 16 MiB, a long stream as a video player asks for.
const W6_STREAM_LEN: u64 = 16 * MIB;

/// W6r's range length, as W3's.
const W6_SMALL_LEN: u64 = 4096;

/// W6's one fixed range of `len` bytes (h2load cannot vary a header per request): in the
/// middle of the file, away from its first pages (which every readiness check reads), with
/// the short range starting off a page boundary as most of W3's random ones do.
fn w6_range(file_size: u64, len: u64) -> String {
    let len = len.min(file_size);
    let middle = (file_size - len) / 2 / 4096 * 4096;
    let first = if len < 65536 {
        (middle + 1000).min(file_size - len)
    } else {
        middle
    };
    format!("bytes={first}-{}", first + len - 1)
}

/// W6s: HTTP/2 streaming, h2load with 4 connections × 8 streams, each request a 16 MiB range.
pub fn w6s(config: &Config, running: &Running, sample: &mut Sample) {
    w6(config, running, sample, "w6s", 8, W6_STREAM_LEN);
}

/// W6r: HTTP/2 small ranges, h2load with 4 connections × 16 streams, each request 4 KiB.
pub fn w6r(config: &Config, running: &Running, sample: &mut Sample) {
    w6(config, running, sample, "w6r", 16, W6_SMALL_LEN);
}

/// One W6 run, its figures under `prefix`: MB/s of body, req/s of complete 2xx answers, the
/// server's CPU per GiB and per request, and the errors (non-2xx answers, failed requests).
fn w6(
    config: &Config,
    running: &Running,
    sample: &mut Sample,
    prefix: &str,
    streams: usize,
    len: u64,
) {
    let range = w6_range(config.file_size, len);
    let meter = Meter::start(running.pid());
    let r = h2load(config, running, 4, streams, &range);
    let server_cpu = meter.finish(sample, prefix);
    let key = |name: &str| format!("{prefix}_{name}");
    sample.set(&key("mb_s"), r.data_bytes / r.duration_s / 1e6);
    sample.set(&key("req_s"), r.succeeded / r.duration_s);
    sample.set(&key("cpu_s_per_gib"), server_cpu / (r.data_bytes / GIB));
    sample.set(
        &key("cpu_us_per_req"),
        1e6 * server_cpu / r.succeeded.max(1.0),
    );
    sample.set(&key("errors"), r.non_2xx + r.errored);
    // No answer at all is an error too, not a run that measured nothing.
    if r.succeeded == 0.0 {
        sample.set(&key("errors"), r.non_2xx + r.errored + 1.0);
    }
    sample.set(&key("peak_rss_mib"), status_mib(running.pid(), "VmHWM"));
}
