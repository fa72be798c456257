//! The comparison's settings: the `BENCH_*` environment variables with their defaults, and
//! the servers it can run (ours with its access log on and off, its variants, tower-http,
//! nginx with sendfile off with a buffered access log and with none, nginx with sendfile on,
//! nginx serving W7's tree with `open_file_cache` off and on, and the object store's two
//! floors).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{env, MIB};

/// Our server built with the `metrics` feature and exporting them (`--metrics-addr`).
pub const METRICS_SERVER: &str = "tower-range-metrics";

#[derive(Debug, Clone)]
pub struct Config {
    pub quick: bool,
    pub rounds: usize,
    pub servers: Vec<ServerSpec>,
    pub workloads: Vec<String>,
    pub file_size: u64,
    pub secs: f64,
    pub w4_secs: f64,
    pub w4_conns: usize,
    pub w4_range_end: u64,
    pub w4_settle_secs: f64,
    pub w3_client: String,
    pub build: bool,
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub out_dir: PathBuf,
    pub publish: Option<PathBuf>,
    pub perf: Option<String>,
    pub wait_quiet: f64,
    pub max_foreign: f64,
    pub max_tries: usize,
    /// W7's tree: how many files of 1 MiB (`BENCH_MANY_FILES`, a multiple of 100).
    pub many_files: u64,
    /// WS4's slow clients (`BENCH_WS4_CONNS`).
    pub ws4_conns: usize,
}

#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub name: String,
    pub kind: Kind,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Another build of the example server (`bin:=PATH` in `BENCH_VARIANTS`).
    pub binary: Option<PathBuf>,
    /// Whether it writes a line per request, so that the report compares servers that log
    /// with servers that log, and the quiet ones with the quiet ones.
    pub access_log: AccessLog,
    /// The example server built with these cargo features (a comma list; `features:=LIST`
    /// in `BENCH_VARIANTS`), which the bench builds and copies aside.
    pub features: Option<String>,
}

/// A server's access log in a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AccessLog {
    /// A line per response: ours at `RUST_LOG=info` (to its stderr, which the harness writes
    /// to a file), nginx's buffered `access_log` to a file.
    On,
    /// Turned off: ours at `RUST_LOG=warn`, nginx's `access_log off`.
    Off,
    /// The server has none to turn on (tower-http's peer installs no tracing subscriber and
    /// no `TraceLayer`): it is compared with the servers whose log is off.
    Absent,
}

impl AccessLog {
    /// The name the results JSON records (`info.access_log`).
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLog::On => "on",
            AccessLog::Off => "off",
            AccessLog::Absent => "none",
        }
    }

    /// Whether the example server logs its access lines under this `RUST_LOG`: a directive
    /// for the `access` target decides, else the bare (global) level; `info`, `debug` and
    /// `trace` enable them.
    pub fn of_rust_log(filter: &str) -> Self {
        let mut global = None;
        let mut access = None;
        for directive in filter.split(',').map(str::trim) {
            match directive.split_once('=') {
                Some(("access", level)) => access = Some(level),
                Some(_) => {}
                None if !directive.is_empty() => global = Some(directive),
                None => {}
            }
        }
        let level = access.or(global).unwrap_or("error").to_ascii_lowercase();
        if matches!(level.as_str(), "info" | "debug" | "trace") {
            AccessLog::On
        } else {
            AccessLog::Off
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Ours,
    TowerHttp,
    /// nginx serving the data file at `/video`; its access log is the spec's `access_log`.
    Nginx {
        sendfile: bool,
    },
    /// nginx with `alias` on W7's tree (it serves no single file at `/video`).
    NginxFiles {
        open_file_cache: bool,
    },
    /// The object-store workloads' floors (`examples/store_copy.rs`): no server, the same GETs
    /// as ours, their bytes dropped or (`send`) written to a sink over TCP.
    StoreFloor {
        send: bool,
    },
}

impl Kind {
    /// Whether the server can serve W7's tree at `/media/…`.
    pub fn serves_tree(self) -> bool {
        matches!(self, Kind::Ours | Kind::TowerHttp | Kind::NginxFiles { .. })
    }

    /// Whether the server can serve the one file of W1–W4 at `/video`.
    pub fn serves_file(self) -> bool {
        matches!(self, Kind::Ours | Kind::TowerHttp | Kind::Nginx { .. })
    }

    /// Whether it runs the object-store workload `workload`: our server all of them (built
    /// with `aws`), the floors those with a streaming shape (they serve no slow clients).
    pub fn runs_store(self, workload: &str) -> bool {
        match self {
            Kind::Ours => true,
            Kind::StoreFloor { .. } => workload != "ws4",
            _ => false,
        }
    }
}

impl Config {
    pub fn from_env() -> Self {
        let quick = env::value("BENCH_QUICK").is_some_and(|v| v != "0");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target_dir =
            env::value("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let file_mib: u64 = env::number("BENCH_FILE_MIB", if quick { 64 } else { 1024 });
        let file_size = file_mib * MIB;
        let ours_args: Vec<String> = env::value("BENCH_OURS_ARGS")
            .map(|a| a.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        // `RUST_LOG=info` is the example server's own default, set here so that a `RUST_LOG`
        // in the bench's environment cannot change what "as users run it" means.
        let ours = |name: &str, rust_log: &str| ServerSpec {
            name: name.into(),
            kind: Kind::Ours,
            args: ours_args.clone(),
            env: vec![("RUST_LOG".into(), rust_log.into())],
            binary: None,
            access_log: AccessLog::of_rust_log(rust_log),
            features: None,
        };
        let other = |name: &str, kind: Kind, access_log: AccessLog| ServerSpec {
            name: name.into(),
            kind,
            args: vec![],
            env: vec![],
            binary: None,
            access_log,
            features: None,
        };
        let mut all = vec![
            ours("tower-range", "info"),
            ours("tower-range-log-off", "warn"),
            // `tower-range-log-off` with the library's metrics recorded and exported (not
            // scraped): the cost of metrics against it in one interleaved run. Not run by default.
            ServerSpec {
                args: [
                    &ours_args[..],
                    &["--metrics-addr".into(), "127.0.0.1:0".into()],
                ]
                .concat(),
                features: Some("metrics".into()),
                ..ours(METRICS_SERVER, "warn")
            },
            other("tower-http", Kind::TowerHttp, AccessLog::Absent),
            other(
                "nginx-sendfile-off",
                Kind::Nginx { sendfile: false },
                AccessLog::On,
            ),
            other(
                "nginx-sendfile-off-log-off",
                Kind::Nginx { sendfile: false },
                AccessLog::Off,
            ),
            // Sendfile's ceiling, as it has always been measured: without an access log.
            other(
                "nginx-sendfile-on",
                Kind::Nginx { sendfile: true },
                AccessLog::Off,
            ),
            other(
                "nginx-files-cache-off",
                Kind::NginxFiles {
                    open_file_cache: false,
                },
                AccessLog::Off,
            ),
            other(
                "nginx-files-cache-on",
                Kind::NginxFiles {
                    open_file_cache: true,
                },
                AccessLog::Off,
            ),
            other(
                crate::report::FLOOR,
                Kind::StoreFloor { send: false },
                AccessLog::Absent,
            ),
            other(
                crate::report::FLOOR_SEND,
                Kind::StoreFloor { send: true },
                AccessLog::Absent,
            ),
        ];
        // Extra configurations of our server: `name=ARGS;name=ARGS`.
        for variant in env::value("BENCH_VARIANTS").unwrap_or_default().split(';') {
            let Some((name, args)) = variant.split_once('=') else {
                continue;
            };
            // Variants measure a change of the code or its flags: quiet by default, like
            // `tower-range-log-off`, unless the variant says `RUST_LOG:=info`.
            let mut env_vars = vec![("RUST_LOG".to_string(), "warn".to_string())];
            let mut cli = Vec::new();
            let mut binary = None;
            let mut features = None;
            for word in args.split_whitespace() {
                // `KEY:=VALUE` words set environment variables of the server, `bin:=PATH`
                // runs another build of the example server, `features:=LIST` a build with
                // these cargo features.
                match word.split_once(":=") {
                    Some(("bin", path)) => binary = Some(PathBuf::from(path)),
                    Some(("features", list)) => features = Some(list.to_string()),
                    Some((k, v)) => env_vars.push((k.into(), v.into())),
                    None => cli.push(word.to_string()),
                }
            }
            // The last `RUST_LOG` wins, as it does in `Command::envs`.
            let rust_log = env_vars
                .iter()
                .rev()
                .find(|(k, _)| k == "RUST_LOG")
                .map_or("warn", |(_, v)| v.as_str());
            let access_log = AccessLog::of_rust_log(rust_log);
            all.push(ServerSpec {
                name: name.trim().to_string(),
                kind: Kind::Ours,
                args: cli,
                env: env_vars,
                binary,
                access_log,
                features,
            });
        }
        // `w6` is W6's two runs, streaming (`w6s`) and 4 KiB ranges (`w6r`), each of which
        // can also be named alone.
        let workloads: Vec<String> = env::value("BENCH_WORKLOADS")
            .unwrap_or_else(|| "w1,w2,w3,w4,w6".into())
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .flat_map(|w| match w.as_str() {
                "w6" => vec!["w6s".to_string(), "w6r".to_string()],
                // The object store's three: W1's and W2's shapes and W4's slow clients.
                "ws" => crate::store::WORKLOADS.map(String::from).to_vec(),
                _ => vec![w],
            })
            .collect();
        let nginx = which("nginx");
        // The tree-only nginx servers join the default list only when W7 runs: the default
        // run (W1–W4, W6) serves one file, which they cannot.
        let w7 = workloads.iter().any(|w| w == "w7");
        // The floors join the default list only when an object-store workload runs.
        let store = workloads.iter().any(|w| crate::store::is_store_workload(w));
        let default_servers: Vec<String> = all
            .iter()
            .filter(|s| match s.kind {
                _ if s.name == METRICS_SERVER => false,
                Kind::Nginx { .. } => nginx,
                Kind::NginxFiles { .. } => nginx && w7,
                Kind::StoreFloor { .. } => store,
                _ => true,
            })
            .map(|s| s.name.clone())
            .collect();
        let wanted: Vec<String> = env::value("BENCH_SERVERS")
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
        Config {
            quick,
            rounds: env::number("BENCH_ROUNDS", if quick { 1 } else { 2 }),
            servers,
            workloads,
            file_size,
            secs: env::number("BENCH_SECS", if quick { 3.0 } else { 10.0 }),
            w4_secs: env::number("BENCH_W4_SECS", if quick { 5.0 } else { 20.0 }),
            w4_conns: env::number("BENCH_W4_CONNS", if quick { 100 } else { 500 }),
            w4_range_end: (512 * MIB).min(file_size) - 1,
            w4_settle_secs: env::number("BENCH_W4_SETTLE_SECS", if quick { 2.0 } else { 5.0 }),
            w3_client: env::value("BENCH_W3_CLIENT").unwrap_or_else(|| "wrk".into()),
            build: env::value("BENCH_NO_BUILD").is_none(),
            out_dir: env::value("BENCH_OUT")
                .map_or_else(|| target_dir.join("bench-results"), PathBuf::from),
            publish: env::value("BENCH_PUBLISH")
                .filter(|v| v != "0")
                .map(|_| root.join("benches/support/results")),
            perf: env::value("BENCH_PERF"),
            wait_quiet: env::number("BENCH_WAIT_QUIET", 0.0),
            max_foreign: env::number("BENCH_MAX_FOREIGN", 15.0),
            max_tries: env::number("BENCH_MAX_TRIES", 3),
            many_files: env::number("BENCH_MANY_FILES", 10_000),
            ws4_conns: env::number("BENCH_WS4_CONNS", 200),
            root,
            target_dir,
        }
    }
}

pub fn which(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
