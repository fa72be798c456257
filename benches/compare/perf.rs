//! `BENCH_PERF=<server>`: a `perf record -g` profile of that server during each workload,
//! with its `perf report --no-children` beside it in the results directory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::config::{Config, ServerSpec};

pub struct Perf {
    child: Child,
    data: PathBuf,
    report: PathBuf,
}

/// With `BENCH_PERF=server-name`, records `perf record -g` of that server during each
/// workload into the results directory, and writes `perf report --no-children` beside it.
pub fn start_perf(
    config: &Config,
    server: &ServerSpec,
    workload: &str,
    round: usize,
    pid: u32,
) -> Option<Perf> {
    if config.perf.as_deref() != Some(server.name.as_str()) {
        return None;
    }
    let data = config
        .out_dir
        .join(format!("perf-{}-{workload}-r{round}.data", server.name));
    let child = Command::new("perf")
        .args(["record", "-g", "-F", "999", "-o"])
        .arg(&data)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(500));
    Some(Perf {
        child,
        report: data.with_extension("txt"),
        data,
    })
}

pub fn stop_perf(mut perf: Perf) {
    let _ = Command::new("kill")
        .args(["-INT", &perf.child.id().to_string()])
        .status();
    let _ = perf.child.wait();
    if let Ok(output) = Command::new("perf")
        .args([
            "report",
            "--no-children",
            "--stdio",
            "--percent-limit",
            "0.5",
            "-i",
        ])
        .arg(&perf.data)
        .output()
    {
        let _ = std::fs::write(&perf.report, &output.stdout);
    }
    eprintln!("        perf: {}", perf.report.display());
}
