//! The order of the runs: rounds that interleave the servers, so that a drift of the machine
//! during the bench spreads over all of them, and each sample run again when other processes
//! disturbed it. W7 runs on the many-files tree, with the servers that can serve one; the
//! object-store workloads (WS1, WS2, WS4) with our servers serving from the store and the
//! floors.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::config::{Config, Kind, ServerSpec};
use crate::machine::{loadavg, wait_for_quiet};
use crate::perf::{start_perf, stop_perf};
use crate::report::{Report, Sample};
use crate::servers::{start_server, Served};
use crate::store::{is_store_workload, Store};
use crate::store_runs::{floor, through_server, ws4};
use crate::workloads::{w1, w2, w3, w4, w6r, w6s, w7};

/// Every server under every workload, once per round; the samples go to `report`. `tree` is
/// W7's tree when W7 runs.
pub fn run_rounds(
    config: &Config,
    file: &Path,
    tree: Option<&Path>,
    store: Option<&Store>,
    started: Instant,
    report: &mut Report,
) {
    let runs = Runs {
        config,
        file,
        tree,
        store,
        started,
    };
    for round in 1..=config.rounds {
        for workload in &config.workloads {
            // Interleave: every server runs each workload once per round, in turn.
            for server in &config.servers {
                // nginx's single-file configurations cannot serve a tree, its tree
                // configurations no `/video`: those pairs are skipped, not failed.
                let fits = if workload == "w7" {
                    server.kind.serves_tree()
                } else if is_store_workload(workload) {
                    server.kind.runs_store(workload)
                } else {
                    server.kind.serves_file()
                };
                if !fits {
                    if round == 1 {
                        eprintln!(
                            "        {workload} {}: skipped (cannot serve it)",
                            server.name
                        );
                    }
                    continue;
                }
                let sample = runs.undisturbed(server, workload, round);
                report.samples.push(sample);
            }
        }
    }
}

/// What every run of the bench shares.
#[derive(Clone, Copy)]
struct Runs<'a> {
    config: &'a Config,
    file: &'a Path,
    tree: Option<&'a Path>,
    /// The object store, when its workloads run.
    store: Option<&'a Store>,
    /// When the first run began, for the progress lines.
    started: Instant,
}

impl Runs<'_> {
    /// One sample, run again (after waiting for a quiet machine) while other processes took
    /// more than `BENCH_MAX_FOREIGN` % of a core during it, at most `BENCH_MAX_TRIES` times.
    fn undisturbed(&self, server: &ServerSpec, workload: &str, round: usize) -> Sample {
        let config = self.config;
        let mut tries = 0;
        let sample = loop {
            tries += 1;
            let sample = self.one(server, workload, round);
            let foreign = sample
                .metrics
                .get("foreign_cpu_pct")
                .copied()
                .unwrap_or(0.0);
            if foreign <= config.max_foreign || tries >= config.max_tries {
                break sample;
            }
            eprintln!(
                "        other processes took {foreign:.0} % of a core: waiting for a quiet machine, then again"
            );
            wait_for_quiet(config.wait_quiet.max(120.0));
        };
        let mut sample = sample;
        sample.set("tries", tries as f64);
        sample
    }

    /// One server under one workload: a fresh server, the load, the figures.
    fn one(&self, server: &ServerSpec, workload: &str, round: usize) -> Sample {
        let Runs {
            config,
            file,
            tree,
            store,
            started,
        } = *self;
        let mut sample = Sample {
            server: server.name.clone(),
            workload: workload.to_string(),
            round,
            metrics: BTreeMap::new(),
        };
        eprintln!(
            "[{:>5.0} s] round {round}/{} {workload} {} (load {})",
            started.elapsed().as_secs_f64(),
            config.rounds,
            server.name,
            loadavg()
        );
        let store_here = || store.expect("the object store is started when its workloads run");
        if let Kind::StoreFloor { send } = server.kind {
            floor(config, store_here(), workload, send, &mut sample);
            eprintln!("        {}", sample.summary());
            return sample;
        }
        let served = match workload {
            "w7" => Served::Tree(tree.expect("W7's tree is prepared when W7 runs")),
            w if is_store_workload(w) => Served::Object(store_here()),
            _ => Served::File(file),
        };
        // W6 is HTTP/2: nginx then listens for it on a port of its own.
        let running = start_server(config, server, served, workload.starts_with("w6"));
        let perf = start_perf(config, server, workload, round, running.pid());
        match workload {
            "w1" => w1(config, &running, &mut sample),
            "w2" => w2(config, &running, &mut sample),
            "w3" => w3(config, &running, &mut sample),
            "w4" => w4(config, &running, &mut sample),
            "w6s" => w6s(config, &running, &mut sample),
            "w6r" => w6r(config, &running, &mut sample),
            "w7" => w7(config, &running, &mut sample),
            "ws1" | "ws2" => through_server(config, &running, store_here(), workload, &mut sample),
            "ws4" => ws4(config, &running, store_here(), server, &mut sample),
            other => panic!("unknown workload {other}"),
        }
        if let Some(perf) = perf {
            stop_perf(perf);
        }
        running.stop();
        eprintln!("        {}", sample.summary());
        sample
    }
}
