//! Issue 5's benchmark: tower-range's example server against tower-http's `ServeFile` (in
//! axum) and nginx, each in its own process pinned to CPU 0, driven from CPU 1.
//!
//! ```text
//! cargo bench --bench compare                 # the full run, about 10 minutes
//! BENCH_QUICK=1 cargo bench --bench compare   # a smoke test: 64 MiB file, short runs
//! ```
//!
//! See BENCHMARKS.md for the workloads, the environment variables and the results. The
//! bench builds the release binaries it needs (`cargo build --release --example server
//! --example peer_tower_http`), writes a deterministic data file under
//! `target/bench-data/`, and its results, a Markdown table, JSON and an SVG chart, under
//! `target/bench-results/`.

#[path = "support/clients.rs"]
mod clients;
#[path = "support/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use report::{Report, Sample};

const MIB: u64 = 1024 * 1024;
const GIB: f64 = (1u64 << 30) as f64;
/// The clock ticks of `/proc/*/stat` (USER_HZ, 100 on every Linux this runs on).
const TICKS: f64 = 100.0;

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
    if let Some(path) = env("BENCH_CHART_ONLY") {
        let json = std::fs::read_to_string(&path).expect("reading the results JSON");
        let value: serde_json::Value = serde_json::from_str(&json).expect("results JSON");
        let report = Report::from_json(&value);
        report.write(&config.out_dir, config.publish.as_deref());
        return;
    }
    stop_children_on_signal();
    run(config);
}

/// Pids of the servers and clients running now, killed if the bench is interrupted.
static CHILDREN: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn track(pid: u32) {
    CHILDREN.lock().unwrap().push(pid);
}

fn untrack(pid: u32) {
    CHILDREN.lock().unwrap().retain(|p| *p != pid);
}

fn kill_children() {
    if let Ok(children) = CHILDREN.try_lock() {
        for pid in children.iter() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// On SIGINT, SIGTERM or a panic, kills the processes the bench started, so none outlives it.
fn stop_children_on_signal() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_children();
        default_hook(info);
    }));
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        kill_children();
        eprintln!("interrupted: stopped the servers and clients");
        std::process::exit(130);
    });
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    env(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

#[derive(Debug, Clone)]
struct Config {
    quick: bool,
    rounds: usize,
    servers: Vec<ServerSpec>,
    workloads: Vec<String>,
    file_size: u64,
    secs: f64,
    w4_secs: f64,
    w4_conns: usize,
    w4_range_end: u64,
    w4_settle_secs: f64,
    w3_client: String,
    build: bool,
    root: PathBuf,
    target_dir: PathBuf,
    out_dir: PathBuf,
    publish: Option<PathBuf>,
    perf: Option<String>,
    wait_quiet: f64,
    max_foreign: f64,
    max_tries: usize,
}

#[derive(Debug, Clone)]
struct ServerSpec {
    name: String,
    kind: Kind,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Another build of the example server (`bin:=PATH` in `BENCH_VARIANTS`).
    binary: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Ours,
    TowerHttp,
    Nginx { sendfile: bool },
}

impl Config {
    fn from_env() -> Self {
        let quick = env("BENCH_QUICK").is_some_and(|v| v != "0");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target_dir = env("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let file_mib: u64 = env_num("BENCH_FILE_MIB", if quick { 64 } else { 1024 });
        let file_size = file_mib * MIB;
        let ours_args: Vec<String> = env("BENCH_OURS_ARGS")
            .map(|a| a.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        // Our server logs an access line per request at `info`; nginx runs with
        // `access_log off`, so ours runs at `warn` unless told otherwise.
        let ours_log = env("BENCH_OURS_LOG").unwrap_or_else(|| "warn".into());
        let mut all = vec![
            ServerSpec {
                name: "tower-range".into(),
                kind: Kind::Ours,
                args: ours_args,
                env: vec![("RUST_LOG".into(), ours_log.clone())],
                binary: None,
            },
            ServerSpec {
                name: "tower-http".into(),
                kind: Kind::TowerHttp,
                args: vec![],
                env: vec![],
                binary: None,
            },
            ServerSpec {
                name: "nginx-sendfile-off".into(),
                kind: Kind::Nginx { sendfile: false },
                args: vec![],
                env: vec![],
                binary: None,
            },
            ServerSpec {
                name: "nginx-sendfile-on".into(),
                kind: Kind::Nginx { sendfile: true },
                args: vec![],
                env: vec![],
                binary: None,
            },
        ];
        // Extra configurations of our server: `name=ARGS;name=ARGS`.
        for variant in env("BENCH_VARIANTS").unwrap_or_default().split(';') {
            let Some((name, args)) = variant.split_once('=') else {
                continue;
            };
            let mut env_vars = vec![("RUST_LOG".to_string(), ours_log.clone())];
            let mut cli = Vec::new();
            let mut binary = None;
            for word in args.split_whitespace() {
                // `KEY:=VALUE` words set environment variables of the server, `bin:=PATH`
                // runs another build of the example server.
                match word.split_once(":=") {
                    Some(("bin", path)) => binary = Some(PathBuf::from(path)),
                    Some((k, v)) => env_vars.push((k.into(), v.into())),
                    None => cli.push(word.to_string()),
                }
            }
            all.push(ServerSpec {
                name: name.trim().to_string(),
                kind: Kind::Ours,
                args: cli,
                env: env_vars,
                binary,
            });
        }
        let nginx = which("nginx");
        let default_servers: Vec<String> = all
            .iter()
            .filter(|s| nginx || !matches!(s.kind, Kind::Nginx { .. }))
            .map(|s| s.name.clone())
            .collect();
        let wanted: Vec<String> = env("BENCH_SERVERS")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or(default_servers);
        let servers = wanted
            .iter()
            .map(|name| {
                all.iter()
                    .find(|s| &s.name == name)
                    .unwrap_or_else(|| panic!("unknown server {name}"))
                    .clone()
            })
            .collect();
        let workloads = env("BENCH_WORKLOADS")
            .unwrap_or_else(|| "w1,w2,w3,w4".into())
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .collect();
        Config {
            quick,
            rounds: env_num("BENCH_ROUNDS", if quick { 1 } else { 2 }),
            servers,
            workloads,
            file_size,
            secs: env_num("BENCH_SECS", if quick { 3.0 } else { 10.0 }),
            w4_secs: env_num("BENCH_W4_SECS", if quick { 5.0 } else { 20.0 }),
            w4_conns: env_num("BENCH_W4_CONNS", if quick { 100 } else { 500 }),
            w4_range_end: (512 * MIB).min(file_size) - 1,
            w4_settle_secs: env_num("BENCH_W4_SETTLE_SECS", if quick { 2.0 } else { 5.0 }),
            w3_client: env("BENCH_W3_CLIENT").unwrap_or_else(|| "wrk".into()),
            build: env("BENCH_NO_BUILD").is_none(),
            out_dir: env("BENCH_OUT")
                .map_or_else(|| target_dir.join("bench-results"), PathBuf::from),
            publish: env("BENCH_PUBLISH")
                .filter(|v| v != "0")
                .map(|_| root.join("benches/support/results")),
            perf: env("BENCH_PERF"),
            wait_quiet: env_num("BENCH_WAIT_QUIET", 0.0),
            max_foreign: env_num("BENCH_MAX_FOREIGN", 15.0),
            max_tries: env_num("BENCH_MAX_TRIES", 3),
            root,
            target_dir,
        }
    }
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(config: Config) {
    std::fs::create_dir_all(&config.out_dir).expect("creating the results directory");
    if !which("taskset") {
        panic!("taskset (util-linux) is needed to pin the processes");
    }
    if config.w3_client == "wrk" && config.workloads.iter().any(|w| w == "w3") && !which("wrk") {
        panic!("wrk is needed for W3 (apt-get install wrk), or set BENCH_W3_CLIENT=own");
    }
    if config.build {
        build(&config);
    }
    snapshot_binaries(&config);
    let file = data_file(&config);
    let load_before = wait_for_quiet(config.wait_quiet);
    eprintln!("warming the page cache with {}", file.display());
    warm(&file);
    let mut report = Report::new(machine_info(&config, &file, load_before));
    let started = Instant::now();
    for round in 1..=config.rounds {
        for workload in &config.workloads {
            // Interleave: every server runs each workload once per round, in turn.
            for server in &config.servers {
                let mut tries = 0;
                let sample = loop {
                    tries += 1;
                    let sample = run_one(&config, server, workload, round, &file, started);
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
                report.samples.push(sample);
            }
        }
    }
    report
        .info
        .insert("load_after".into(), serde_json::Value::String(loadavg()));
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

fn run_one(
    config: &Config,
    server: &ServerSpec,
    workload: &str,
    round: usize,
    file: &Path,
    started: Instant,
) -> Sample {
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
    let running = start_server(config, server, file);
    let perf = start_perf(config, server, workload, round, running.pid());
    match workload {
        "w1" => w1(config, &running, &mut sample),
        "w2" => w2(config, &running, &mut sample),
        "w3" => w3(config, &running, &mut sample),
        "w4" => w4(config, &running, &mut sample),
        other => panic!("unknown workload {other}"),
    }
    if let Some(perf) = perf {
        stop_perf(perf);
    }
    running.stop();
    eprintln!("        {}", sample.summary());
    sample
}

// ----- preparation -------------------------------------------------------------------------

fn build(config: &Config) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "building the servers: cargo build --release --example server --example peer_tower_http"
    );
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--example",
            "server",
            "--example",
            "peer_tower_http",
        ])
        .current_dir(&config.root)
        .status()
        .expect("running cargo");
    assert!(status.success(), "building the example servers failed");
}

/// Copies the example binaries into the results directory, so that a rebuild by someone else
/// during the run (the target directory may be shared) cannot change what is measured.
fn snapshot_binaries(config: &Config) {
    let dir = config.out_dir.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["server", "peer_tower_http"] {
        let from = config.target_dir.join("release/examples").join(name);
        let to = dir.join(name);
        let _ = std::fs::remove_file(&to);
        std::fs::copy(&from, &to).unwrap_or_else(|e| {
            panic!(
                "copying {}: {e} (build it, or drop BENCH_NO_BUILD)",
                from.display()
            )
        });
    }
}

/// Byte `i` of the data file: the little-endian bytes of splitmix64 of `i / 8`.
fn data_block(k: u64) -> [u8; 8] {
    let mut z = k.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).to_le_bytes()
}

fn expected_bytes(offset: u64, len: usize) -> Vec<u8> {
    (offset..offset + len as u64)
        .map(|i| data_block(i / 8)[(i % 8) as usize])
        .collect()
}

fn data_file(config: &Config) -> PathBuf {
    let dir = config.target_dir.join("bench-data");
    std::fs::create_dir_all(&dir).expect("creating target/bench-data");
    let path = dir.join(format!("range-{}MiB.bin", config.file_size / MIB));
    let ok = std::fs::metadata(&path).is_ok_and(|m| m.len() == config.file_size) && {
        let mut file = std::fs::File::open(&path).unwrap();
        let mut head = vec![0u8; 4096];
        file.read_exact(&mut head).is_ok() && head == expected_bytes(0, 4096)
    };
    if ok {
        return path;
    }
    eprintln!(
        "writing {} ({} MiB of deterministic bytes)",
        path.display(),
        config.file_size / MIB
    );
    let tmp = path.with_extension("tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
    let mut chunk = Vec::with_capacity(MIB as usize);
    for k in 0..config.file_size / 8 {
        chunk.extend_from_slice(&data_block(k));
        if chunk.len() == MIB as usize {
            out.write_all(&chunk).unwrap();
            chunk.clear();
        }
    }
    out.write_all(&chunk).unwrap();
    out.into_inner().unwrap().sync_all().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn warm(file: &Path) {
    let mut f = std::fs::File::open(file).unwrap();
    let mut buf = vec![0u8; 4 * MIB as usize];
    while f.read(&mut buf).unwrap() > 0 {}
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits (up to `max_secs`) until the machine is quiet: other processes using under 10 % of
/// a core over 3 s. Returns the load average then.
fn wait_for_quiet(max_secs: f64) -> String {
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

fn machine_info(config: &Config, file: &Path, load: String) -> BTreeMap<String, serde_json::Value> {
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
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
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
    info.insert("rustc".into(), json(command_output("rustc", &["-V"])));
    info.insert(
        "git".into(),
        json(format!(
            "{git}{}",
            if dirty { " (src modified)" } else { "" }
        )),
    );
    info.insert("load_before".into(), json(load));
    info.insert(
        "file".into(),
        json(format!(
            "{} ({} MiB)",
            file.display(),
            config.file_size / MIB
        )),
    );
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
    info
}

fn flag(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

// ----- processes ---------------------------------------------------------------------------

/// `program args` pinned to `cpu`, with a high open-files limit.
fn pinned(cpu: &str, program: &Path, args: &[String]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"ulimit -n 65536 2>/dev/null || ulimit -n 4096; exec taskset -c "$0" "$@""#)
        .arg(cpu)
        .arg(program)
        .args(args);
    command
}

struct Running {
    child: Child,
    addr: SocketAddr,
    _stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        untrack(self.child.id());
    }
}

fn start_server(config: &Config, spec: &ServerSpec, file: &Path) -> Running {
    let dir = config.out_dir.join("run").join(&spec.name);
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let examples = config.out_dir.join("bin");
    let mut running = match spec.kind {
        Kind::Ours | Kind::TowerHttp => {
            let binary = spec.binary.clone().unwrap_or_else(|| {
                examples.join(if spec.kind == Kind::Ours {
                    "server"
                } else {
                    "peer_tower_http"
                })
            });
            let mut args = vec![
                file.display().to_string(),
                "--addr".into(),
                "127.0.0.1:0".into(),
            ];
            args.extend(spec.args.iter().cloned());
            let mut command = pinned("0", &binary, &args);
            command.envs(spec.env.iter().map(|(k, v)| (k, v)));
            let mut child = command
                .stdout(Stdio::piped())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = stdout.read_line(&mut line);
                let _ = tx.send((line, stdout));
            });
            let (line, stdout) = rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("{} did not say where it serves", spec.name));
            let addr = line
                .trim()
                .rsplit_once("http://")
                .and_then(|(_, a)| a.trim_end_matches('/').parse().ok())
                .unwrap_or_else(|| panic!("{}: unexpected first line {line:?}", spec.name));
            Running {
                child,
                addr,
                _stdout: Some(stdout),
            }
        }
        Kind::Nginx { sendfile } => {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let conf = include_str!("support/nginx.conf.template")
                .replace("{{PREFIX}}", dir.to_str().unwrap())
                .replace("{{PORT}}", &port.to_string())
                .replace("{{SENDFILE}}", if sendfile { "on" } else { "off" })
                .replace("{{FILE}}", file.to_str().unwrap());
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let args = vec![
                "-p".to_string(),
                dir.display().to_string(),
                "-c".into(),
                conf_path.display().to_string(),
                "-e".into(),
                dir.join("error.log").display().to_string(),
            ];
            let child = pinned("0", Path::new("nginx"), &args)
                .stdout(Stdio::null())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("starting nginx");
            Running {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                _stdout: None,
            }
        }
    };
    track(running.child.id());
    // Ready when it answers a range with the right bytes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match check_range(running.addr, config.file_size) {
            Ok(()) => break,
            Err(error) if Instant::now() > deadline => {
                let _ = running.child.kill();
                panic!("{} is not serving the file right: {error}", spec.name);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    running
}

/// GETs a few ranges (the last bytes among them) and compares them with the data file.
fn check_range(addr: SocketAddr, file_size: u64) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    for (offset, len) in [(12_345u64, 70_000usize), (file_size - 1000, 1000), (0, 1)] {
        let request = format!(
            "GET /video HTTP/1.1\r\nHost: {addr}\r\nRange: bytes={}-{}\r\n\r\n",
            offset,
            offset + len as u64 - 1
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        let head_end = loop {
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        if !head.starts_with("HTTP/1.1 206") {
            return Err(format!("expected 206, got {:?}", head.lines().next()));
        }
        while buf.len() < head_end + len {
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed in the body".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        if buf[head_end..] != expected_bytes(offset, len)[..] {
            return Err(format!("wrong bytes for {offset}+{len}"));
        }
    }
    Ok(())
}

/// utime + stime of `pid`, in seconds.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat_fields_cpu(&stat, 11)
}

/// The sum of two `/proc/*/stat` tick fields counted from after the command name.
fn stat_fields_cpu(stat: &str, first: usize) -> f64 {
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|v| v.parse().unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default();
    (fields.get(first).unwrap_or(&0.0) + fields.get(first + 1).unwrap_or(&0.0)) / TICKS
}

/// The bench process's own CPU plus that of its waited-for children (the load clients).
fn self_and_children_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat_fields_cpu(&stat, 11) + stat_fields_cpu(&stat, 13)
}

/// Busy CPU seconds of the whole machine (user, nice, system, irq, softirq, steal).
fn machine_busy_s() -> f64 {
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
        / TICKS
}

/// A `/proc/<pid>/status` figure in MiB (`VmRSS`, `VmHWM`).
fn status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// CPU accounting around one load run.
struct Meter {
    pid: u32,
    server0: f64,
    clients0: f64,
    busy0: f64,
    t0: Instant,
}

impl Meter {
    fn start(pid: u32) -> Self {
        Self {
            pid,
            server0: cpu_s(pid),
            clients0: self_and_children_cpu_s(),
            busy0: machine_busy_s(),
            t0: Instant::now(),
        }
    }

    /// Records the server's CPU seconds, and the CPU that neither the server nor the bench
    /// and its clients used ("foreign": other processes disturbing the run), as a
    /// percentage of one core.
    fn finish(self, sample: &mut Sample, prefix: &str) -> f64 {
        let secs = self.t0.elapsed().as_secs_f64();
        let server = cpu_s(self.pid) - self.server0;
        let clients = self_and_children_cpu_s() - self.clients0;
        let busy = machine_busy_s() - self.busy0;
        let foreign = (busy - server - clients).max(0.0);
        sample.set(&format!("{prefix}_server_cpu_util"), server / secs);
        sample.set(&format!("{prefix}_client_cpu_util"), clients / secs);
        sample.set_max("foreign_cpu_pct", 100.0 * foreign / secs);
        server
    }
}

fn bench_exe() -> PathBuf {
    std::env::current_exe().expect("the bench's own path")
}

/// Runs the `load` client role and returns its JSON.
fn own_load(config: &Config, running: &Running, conns: usize, range_len: u64) -> serde_json::Value {
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

struct WrkResult {
    requests: f64,
    bytes: f64,
    duration_s: f64,
    errors: f64,
    p99_ms: f64,
    p50_ms: f64,
}

fn wrk(config: &Config, running: &Running, conns: usize, range_len: u64) -> WrkResult {
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

// ----- workloads ---------------------------------------------------------------------------

/// W1 (and W5): 4 connections streaming `bytes=0-` of the whole file.
fn w1(config: &Config, running: &Running, sample: &mut Sample) {
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
fn w2(config: &Config, running: &Running, sample: &mut Sample) {
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
fn w3(config: &Config, running: &Running, sample: &mut Sample) {
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
fn w4(config: &Config, running: &Running, sample: &mut Sample) {
    let pid = running.pid();
    std::thread::sleep(Duration::from_millis(300));
    sample.set("w4_idle_rss_mib", status_mib(pid, "VmRSS"));
    let meter = Meter::start(pid);
    let args: Vec<String> = [
        "--role",
        "slow",
        "--addr",
        &running.addr.to_string(),
        "--conns",
        &config.w4_conns.to_string(),
        "--range-end",
        &config.w4_range_end.to_string(),
        "--rate",
        "65536",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = pinned("1", &bench_exe(), &args)
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

// ----- profiling ---------------------------------------------------------------------------

struct Perf {
    child: Child,
    data: PathBuf,
    report: PathBuf,
}

/// With `BENCH_PERF=server-name`, records `perf record -g` of that server during each
/// workload into the results directory, and writes `perf report --no-children` beside it.
fn start_perf(
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

fn stop_perf(mut perf: Perf) {
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
