//! CPU and memory accounting from `/proc`: the server's CPU seconds and memory, the bench's
//! and its clients', the whole machine's, and a `Meter` that turns them into one run's
//! figures, separating out what other processes took.

use std::time::Instant;

use crate::procfs;
use crate::report::Sample;

/// utime + stime of `pid`, in seconds.
fn cpu_s(pid: u32) -> f64 {
    procfs::cpu_s(&pid.to_string())
}

/// The bench process's own CPU plus that of its waited-for children (the load clients).
fn self_and_children_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    procfs::stat_fields_cpu(&stat, 11) + procfs::stat_fields_cpu(&stat, 13)
}

/// Busy CPU seconds of the whole machine (user, nice, system, irq, softirq, steal).
pub fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    [0usize, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| v.get(i).copied().unwrap_or(0.0))
        .sum::<f64>()
        / procfs::TICKS
}

/// A `/proc/<pid>/status` figure in MiB (`VmRSS`, `VmHWM`); NaN when unknown, so that it
/// cannot pass for a measurement.
pub fn status_mib(pid: u32, field: &str) -> f64 {
    procfs::status_field(&procfs::status(pid).unwrap_or_default(), field)
        .map_or(f64::NAN, |kib| kib as f64 / 1024.0)
}

/// CPU accounting around one load run.
pub struct Meter {
    pid: u32,
    server0: f64,
    clients0: f64,
    busy0: f64,
    /// Processes that serve the run without being measured (the object store and its
    /// proxy), with their CPU seconds at the start.
    helpers: Vec<(u32, f64)>,
    t0: Instant,
}

impl Meter {
    pub fn start(pid: u32) -> Self {
        Self::with_helpers(pid, &[])
    }

    /// As [`Meter::start`], with `helpers` whose CPU is the run's own (not foreign) but not
    /// the server's: recorded apart as `<prefix>_store_cpu_util`.
    pub fn with_helpers(pid: u32, helpers: &[u32]) -> Self {
        Self {
            pid,
            server0: cpu_s(pid),
            clients0: self_and_children_cpu_s(),
            busy0: machine_busy_s(),
            helpers: helpers.iter().map(|&p| (p, cpu_s(p))).collect(),
            t0: Instant::now(),
        }
    }

    /// Records the server's CPU seconds, and the CPU that neither the server nor the bench
    /// and its clients (nor the helpers) used ("foreign": other processes disturbing the
    /// run), as a percentage of one core.
    pub fn finish(self, sample: &mut Sample, prefix: &str) -> f64 {
        let secs = self.t0.elapsed().as_secs_f64();
        let server = cpu_s(self.pid) - self.server0;
        let clients = self_and_children_cpu_s() - self.clients0;
        let busy = machine_busy_s() - self.busy0;
        let helpers: f64 = self.helpers.iter().map(|&(p, c0)| cpu_s(p) - c0).sum();
        let foreign = (busy - server - clients - helpers).max(0.0);
        sample.set(&format!("{prefix}_server_cpu_util"), server / secs);
        sample.set(&format!("{prefix}_client_cpu_util"), clients / secs);
        if !self.helpers.is_empty() {
            sample.set(&format!("{prefix}_store_cpu_util"), helpers / secs);
        }
        sample.set_max("foreign_cpu_pct", 100.0 * foreign / secs);
        server
    }
}
