//! Issue 5's benchmark: tower-range's example server against tower-http's `ServeFile` (in
//! axum) and nginx, each in its own process pinned to CPU 0, driven from CPU 1; since issue 14
//! with the access logs on and off on both sides, and over HTTP/2 (W6, h2load).
//!
//! ```text
//! cargo bench --bench compare                 # the full run, about 16 minutes
//! BENCH_QUICK=1 cargo bench --bench compare   # a smoke test: 64 MiB file, short runs
//! BENCH_WORKLOADS=w7 cargo bench --bench compare  # W7 only: 10,000 files of 1 MiB
//! BENCH_WORKLOADS=ws cargo bench --bench compare  # the object store (issue 13): WS1, WS2, WS4
//! ```
//!
//! See BENCHMARKS.md for the workloads, the environment variables and the results. The
//! bench builds the release binaries it needs (`cargo build --release --example server
//! --example peer_tower_http`), writes a deterministic data file under
//! `target/bench-data/`, and its results, a Markdown table, JSON and an SVG chart, under
//! `target/bench-results/`.
//!
//! This file is the sequence of steps; each concern lives in `benches/compare/` under its
//! own name, and what the bench shares with `benches/soak.rs` in `benches/support/`.

#[path = "compare/binaries.rs"]
mod binaries;
#[path = "compare/chart.rs"]
mod chart;
#[path = "compare/children.rs"]
mod children;
#[path = "compare/clients.rs"]
mod clients;
#[path = "compare/config.rs"]
mod config;
#[path = "compare/data_file.rs"]
mod data_file;
#[path = "compare/load.rs"]
mod load;
#[path = "compare/machine.rs"]
mod machine;
#[path = "compare/many_files.rs"]
mod many_files;
#[path = "compare/meter.rs"]
mod meter;
#[path = "compare/pairs.rs"]
mod pairs;
#[path = "compare/perf.rs"]
mod perf;
#[path = "compare/proxy.rs"]
mod proxy;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/rounds.rs"]
mod rounds;
#[path = "compare/servers.rs"]
mod servers;
#[path = "compare/store.rs"]
mod store;
#[path = "compare/store_report.rs"]
mod store_report;
#[path = "compare/store_runs.rs"]
mod store_runs;
#[path = "compare/targets.rs"]
mod targets;
#[path = "compare/workloads.rs"]
mod workloads;

#[path = "support/atomic_file.rs"]
mod atomic_file;
#[path = "support/env.rs"]
mod env;
#[path = "support/example_server.rs"]
mod example_server;
#[path = "support/procfs.rs"]
mod procfs;
#[path = "support/splitmix.rs"]
mod splitmix;

use std::time::Instant;

use config::{which, Config};
use report::Report;

const MIB: u64 = 1024 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--role") {
        clients::role_main(&args[i + 1..]);
        return;
    }
    if args.iter().any(|a| a == "--list" || a == "--help") {
        // `cargo bench -- --list` and friends: nothing to list, we are one benchmark.
        println!("compare: bench");
        return;
    }
    let config = Config::from_env();
    if let Some(path) = env::value("BENCH_CHART_ONLY") {
        redraw(&config, &path);
        return;
    }
    children::stop_children_on_signal();
    run(config);
}

/// `BENCH_CHART_ONLY`: the Markdown and the chart again from a results JSON, nothing run.
fn redraw(config: &Config, path: &str) {
    let json = std::fs::read_to_string(path).expect("reading the results JSON");
    let value: serde_json::Value = serde_json::from_str(&json).expect("results JSON");
    let report = Report::from_json(&value);
    report.write(&config.out_dir, config.publish.as_deref());
}

fn run(config: Config) {
    std::fs::create_dir_all(&config.out_dir).expect("creating the results directory");
    check_tools(&config);
    if config.build {
        binaries::build(&config);
    }
    binaries::snapshot(&config);
    // The 1 GiB data file only when a workload serves it; W7 alone needs only its tree.
    let single = config.workloads.iter().any(|w| w != "w7");
    let file = if single {
        data_file::prepare(&config)
    } else {
        config.target_dir.join("bench-data/many-files")
    };
    let w7 = config.workloads.iter().any(|w| w == "w7");
    let tree = w7.then(|| many_files::prepare(&config));
    // The object store serves the data file, for the whole run.
    let on_store = config.workloads.iter().any(|w| store::is_store_workload(w));
    let store = on_store.then(|| store::Store::start(&config, &file));
    let load_before = machine::wait_for_quiet(config.wait_quiet);
    if single {
        eprintln!("warming the page cache with {}", file.display());
        data_file::warm(&file);
    }
    if let Some(tree) = &tree {
        eprintln!("warming the page cache with {}", tree.display());
        many_files::warm(&config, tree);
    }
    let mut report = Report::new(machine::machine_info(&config, &file, load_before));
    if let Some(store) = &store {
        report.info.insert("store".into(), store.describe().into());
    }
    let started = Instant::now();
    rounds::run_rounds(
        &config,
        &file,
        tree.as_deref(),
        store.as_ref(),
        started,
        &mut report,
    );
    if let Some(store) = store {
        store.stop();
    }
    write_results(&config, report, started);
}

/// Stops early when a tool the runs need is missing.
fn check_tools(config: &Config) {
    if !which("taskset") {
        panic!("taskset (util-linux) is needed to pin the processes");
    }
    if config.w3_client == "wrk" && config.workloads.iter().any(|w| w == "w3") && !which("wrk") {
        panic!("wrk is needed for W3 (apt-get install wrk), or set BENCH_W3_CLIENT=own");
    }
    if config.workloads.iter().any(|w| w.starts_with("w6")) && !which("h2load") {
        panic!("h2load is needed for W6 (apt-get install nghttp2-client)");
    }
}

/// results.md (also printed), results.json and chart.svg, with the load and wall time of
/// the whole run.
fn write_results(config: &Config, mut report: Report, started: Instant) {
    report.info.insert(
        "load_after".into(),
        serde_json::Value::String(machine::loadavg()),
    );
    report.info.insert(
        "wall_s".into(),
        serde_json::json!(started.elapsed().as_secs_f64().round()),
    );
    let markdown = report.write(&config.out_dir, config.publish.as_deref());
    println!("{markdown}");
    eprintln!(
        "results in {}/results.{{md,json}} and chart.svg",
        config.out_dir.display()
    );
}
