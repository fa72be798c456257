//! The machine the bench runs on: whether it is quiet enough to measure, and what the
//! results record about it (CPU, memory, OS, tool versions, commit, settings).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::config::{AccessLog, Config, Kind};
use crate::meter::machine_busy_s;
use crate::servers::NGINX_ACCESS_LOG;
use crate::{procfs, MIB};

pub fn loadavg() -> String {
    procfs::load_average().unwrap_or_default()
}

/// Waits (up to `max_secs`) until the machine is quiet: other processes using under 10 % of
/// a core over 3 s. Returns the load average then.
pub fn wait_for_quiet(max_secs: f64) -> String {
    let start = Instant::now();
    loop {
        let busy0 = machine_busy_s();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(3));
        let busy = 100.0 * (machine_busy_s() - busy0) / t0.elapsed().as_secs_f64();
        if busy < 10.0 || start.elapsed().as_secs_f64() >= max_secs {
            let load = loadavg();
            if busy >= 10.0 {
                eprintln!("warning: the machine is busy ({busy:.0} % of a core, load {load}); figures may be off");
            }
            return load;
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|_| "-".into())
}

pub fn machine_info(
    config: &Config,
    file: &Path,
    load: String,
) -> BTreeMap<String, serde_json::Value> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("-".into(), |(_, v)| v.trim().to_string());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| (kib / 1024.0 / 1024.0).round());
    let os = std::fs::read_to_string("/etc/debian_version")
        .map(|v| format!("Debian {}", v.trim()))
        .unwrap_or_else(|_| "-".into());
    let kernel = procfs::kernel_release().unwrap_or_default();
    let git = command_output(
        "git",
        &[
            "-C",
            config.root.to_str().unwrap(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--", "src", "examples/server.rs"])
        .current_dir(&config.root)
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let ours: Vec<String> = config
        .servers
        .iter()
        .filter(|s| s.kind == Kind::Ours)
        .map(|s| {
            format!(
                "{}: frame size {}, read-ahead {} (defaults {} B, {} frames, budget {} MiB){}",
                s.name,
                flag(&s.args, "--frame-size")
                    .unwrap_or_else(|| tower_range::DEFAULT_FRAME_SIZE.to_string()),
                flag(&s.args, "--read-ahead")
                    .unwrap_or_else(|| tower_range::DEFAULT_READ_AHEAD.to_string()),
                tower_range::DEFAULT_FRAME_SIZE,
                tower_range::DEFAULT_READ_AHEAD,
                tower_range::DEFAULT_READ_AHEAD_BUDGET / MIB,
                s.env
                    .iter()
                    .map(|(k, v)| format!(", {k}={v}"))
                    .collect::<String>()
            )
        })
        .collect();
    let json = |v: String| serde_json::Value::String(v);
    let mut info = BTreeMap::new();
    info.insert(
        "date".into(),
        json(command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
    );
    info.insert(
        "machine".into(),
        json(format!(
            "{cpu}, {cores} cores, {mem_gib} GiB, {os}, Linux {kernel}"
        )),
    );
    info.insert("nginx".into(), json(command_output("nginx", &["-v"])));
    info.insert("wrk".into(), json(command_output("wrk", &["-v"])));
    info.insert(
        "h2load".into(),
        json(command_output("h2load", &["--version"])),
    );
    info.insert("rustc".into(), json(command_output("rustc", &["-V"])));
    info.insert(
        "git".into(),
        json(format!(
            "{git}{}",
            if dirty { " (src modified)" } else { "" }
        )),
    );
    info.insert("load_before".into(), json(load));
    // A W7-only run serves no data file.
    let single = config.workloads.iter().any(|w| w != "w7");
    info.insert(
        "file".into(),
        json(if single {
            format!("{} ({} MiB)", file.display(), config.file_size / MIB)
        } else {
            "-".into()
        }),
    );
    if config.workloads.iter().any(|w| w == "w7") {
        info.insert(
            "many_files".into(),
            json(format!("{} files of 1 MiB", config.many_files)),
        );
    }
    info.insert("rounds".into(), serde_json::json!(config.rounds));
    info.insert("quick".into(), serde_json::json!(config.quick));
    info.insert("secs".into(), serde_json::json!(config.secs));
    info.insert(
        "w4".into(),
        json(format!(
            "{} connections, bytes=0-{}, {} s, settle {} s",
            config.w4_conns, config.w4_range_end, config.w4_secs, config.w4_settle_secs
        )),
    );
    info.insert("w3_client".into(), json(config.w3_client.clone()));
    info.insert("ours".into(), json(ours.join("; ")));
    // Each server's access log: the report pairs servers by it (`pairs.rs`).
    let logs: serde_json::Map<String, serde_json::Value> = config
        .servers
        .iter()
        .map(|s| (s.name.clone(), json(s.access_log.as_str().into())))
        .collect();
    info.insert("access_log".into(), serde_json::Value::Object(logs));
    let described: Vec<String> = config
        .servers
        .iter()
        .filter(|s| s.access_log == AccessLog::On)
        .map(|s| match s.kind {
            Kind::Ours => format!(
                "{}: to its stderr, written to run/{}/stderr.log",
                s.name, s.name
            ),
            _ => format!(
                "{}: access_log run/{}/access.log {NGINX_ACCESS_LOG}",
                s.name, s.name
            ),
        })
        .collect();
    info.insert(
        "access_logs".into(),
        json(if described.is_empty() {
            "none".into()
        } else {
            described.join("; ")
        }),
    );
    info
}

pub(crate) fn flag(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}
