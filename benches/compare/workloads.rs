//! The workloads of issue 5, one function each: what load runs against the server and which
//! figures each records into the sample (W5, CPU per GiB streamed, comes from W1's run; W7
//! runs against the many-files tree).

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::children::{track, untrack};
use crate::config::Config;
use crate::load::{client_role, own_load, wrk, wrk_many_files};
use crate::meter::{status_mib, Meter};
use crate::report::Sample;
use crate::servers::Running;
use crate::MIB;

const GIB: f64 = (1u64 << 30) as f64;

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
    let pid = running.pid();
    std::thread::sleep(Duration::from_millis(300));
    sample.set("w4_idle_rss_mib", status_mib(pid, "VmRSS"));
    let meter = Meter::start(pid);
    let mut child = client_role(
        "slow",
        running,
        config.w4_conns,
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
    sample.set("w4_peak_rss_mib", status_mib(pid, "VmHWM"));
    sample.set("w4_rss_at_end_mib", status_mib(pid, "VmRSS"));
    sample.set("w4_sampled_max_rss_mib", max_rss);
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
    meter.finish(sample, "w4");
    let result: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or("{}")).unwrap_or_default();
    let f = |k: &str| result[k].as_f64().unwrap_or(0.0);
    sample.set("w4_connected", f("connected"));
    sample.set("w4_heads", f("heads"));
    sample.set("w4_errors", f("errors"));
    sample.set(
        "w4_slow_kib_s",
        f("read_bytes") / 1024.0 / config.w4_secs / (config.w4_conns as f64 / 2.0),
    );
    std::thread::sleep(Duration::from_secs_f64(config.w4_settle_secs));
    sample.set("w4_rss_after_close_mib", status_mib(pid, "VmRSS"));
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
