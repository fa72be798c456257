//! The comparison's settings: the `BENCH_*` environment variables with their defaults, and
//! the servers it can run (ours, its variants, tower-http, nginx with sendfile off and on, and
//! nginx serving W7's tree with `open_file_cache` off and on).

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
}

#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub name: String,
    pub kind: Kind,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Another build of the example server (`bin:=PATH` in `BENCH_VARIANTS`).
    pub binary: Option<PathBuf>,
    /// The example server built with these cargo features (a comma list; `features:=LIST`
    /// in `BENCH_VARIANTS`), which the bench builds and copies aside.
    pub features: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Ours,
    TowerHttp,
    Nginx {
        sendfile: bool,
    },
    /// nginx with `alias` on W7's tree (it serves no single file at `/video`).
    NginxFiles {
        open_file_cache: bool,
    },
}

impl Kind {
    /// Whether the server can serve W7's tree at `/media/…`.
    pub fn serves_tree(self) -> bool {
        !matches!(self, Kind::Nginx { .. })
    }

    /// Whether the server can serve the one file of W1–W4 at `/video`.
    pub fn serves_file(self) -> bool {
        !matches!(self, Kind::NginxFiles { .. })
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
        // Our server logs an access line per request at `info`; nginx runs with
        // `access_log off`, so ours runs at `warn` unless told otherwise.
        let ours_log = env::value("BENCH_OURS_LOG").unwrap_or_else(|| "warn".into());
        let mut all = vec![
            ServerSpec {
                name: "tower-range".into(),
                kind: Kind::Ours,
                args: ours_args.clone(),
                env: vec![("RUST_LOG".into(), ours_log.clone())],
                binary: None,
                features: None,
            },
            // The same with the library's metrics recorded and exported (not scraped), for the
            // cost of metrics against `tower-range` in one interleaved run. Not run by default.
            ServerSpec {
                name: METRICS_SERVER.into(),
                kind: Kind::Ours,
                args: [
                    &ours_args[..],
                    &["--metrics-addr".into(), "127.0.0.1:0".into()],
                ]
                .concat(),
                env: vec![("RUST_LOG".into(), ours_log.clone())],
                binary: None,
                features: Some("metrics".into()),
            },
            ServerSpec {
                name: "tower-http".into(),
                kind: Kind::TowerHttp,
                args: vec![],
                env: vec![],
                binary: None,
                features: None,
            },
            ServerSpec {
                name: "nginx-sendfile-off".into(),
                kind: Kind::Nginx { sendfile: false },
                args: vec![],
                env: vec![],
                binary: None,
                features: None,
            },
            ServerSpec {
                name: "nginx-sendfile-on".into(),
                kind: Kind::Nginx { sendfile: true },
                args: vec![],
                env: vec![],
                binary: None,
                features: None,
            },
            ServerSpec {
                name: "nginx-files-cache-off".into(),
                kind: Kind::NginxFiles {
                    open_file_cache: false,
                },
                args: vec![],
                env: vec![],
                binary: None,
                features: None,
            },
            ServerSpec {
                name: "nginx-files-cache-on".into(),
                kind: Kind::NginxFiles {
                    open_file_cache: true,
                },
                args: vec![],
                env: vec![],
                binary: None,
                features: None,
            },
        ];
        // Extra configurations of our server: `name=ARGS;name=ARGS`.
        for variant in env::value("BENCH_VARIANTS").unwrap_or_default().split(';') {
            let Some((name, args)) = variant.split_once('=') else {
                continue;
            };
            let mut env_vars = vec![("RUST_LOG".to_string(), ours_log.clone())];
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
            all.push(ServerSpec {
                name: name.trim().to_string(),
                kind: Kind::Ours,
                args: cli,
                env: env_vars,
                binary,
                features,
            });
        }
        let workloads: Vec<String> = env::value("BENCH_WORKLOADS")
            .unwrap_or_else(|| "w1,w2,w3,w4".into())
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .collect();
        let nginx = which("nginx");
        // The tree-only nginx servers join the default list only when W7 runs, so that the
        // default run (W1–W4) is what it was.
        let w7 = workloads.iter().any(|w| w == "w7");
        let default_servers: Vec<String> = all
            .iter()
            .filter(|s| match s.kind {
                _ if s.name == METRICS_SERVER => false,
                Kind::Nginx { .. } => nginx,
                Kind::NginxFiles { .. } => nginx && w7,
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
