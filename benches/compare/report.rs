//! The results of `benches/compare.rs`: medians over rounds and ratios, written as Markdown,
//! JSON and an SVG chart (`chart.rs`), with the issues' targets (`targets.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use crate::store_report::STORE_KEYS;

/// One server under one workload in one round.
#[derive(Debug, Clone)]
pub struct Sample {
    pub server: String,
    pub workload: String,
    pub round: usize,
    pub metrics: BTreeMap<String, f64>,
}

impl Sample {
    pub fn set(&mut self, key: &str, value: f64) {
        self.metrics.insert(key.to_string(), value);
    }

    pub fn set_max(&mut self, key: &str, value: f64) {
        let entry = self.metrics.entry(key.to_string()).or_insert(value);
        *entry = entry.max(value);
    }

    pub fn summary(&self) -> String {
        self.metrics
            .iter()
            .map(|(k, v)| format!("{k}={}", fmt_num(*v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A headline figure: key, column title, whether higher is better.
pub(crate) const HEADLINES: &[(&str, &str, bool)] = &[
    ("w1_mb_s", "W1 stream MB/s", true),
    ("w2_req_s", "W2 1 MiB req/s", true),
    ("w3_req_s", "W3 4 KiB req/s", true),
    ("w3_p99_ms", "W3 p99 ms", false),
    ("w4_peak_rss_mib", "W4 peak RSS MiB", false),
    ("w4_rss_after_close_mib", "W4 RSS after MiB", false),
    ("w5_cpu_s_per_gib", "W5 CPU s/GiB", false),
    ("w6s_mb_s", "W6 h2 stream MB/s", true),
    ("w6s_cpu_s_per_gib", "W6 h2 stream CPU s/GiB", false),
    ("w6r_req_s", "W6 h2 4 KiB req/s", true),
    ("w7_req_s", "W7 many files 4 KiB req/s", true),
    ("w7_p99_ms", "W7 p99 ms", false),
    ("w7_cpu_us_per_req", "W7 server CPU µs/req", false),
];

/// Figures that explain the headlines, the server's CPU per request or per GiB of every
/// workload among them.
const DETAILS: &[(&str, &str)] = &[
    ("w1_server_cpu_util", "W1 server CPU (cores)"),
    ("w1_client_cpu_util", "W1 client CPU (cores)"),
    ("w1_peak_rss_mib", "W1 peak RSS MiB"),
    ("w2_server_cpu_util", "W2 server CPU (cores)"),
    ("w2_client_cpu_util", "W2 client CPU (cores)"),
    ("w2_cpu_s_per_gib", "W2 CPU s/GiB"),
    ("w2_cpu_us_per_req", "W2 server CPU µs/req"),
    ("w2_p99_ms", "W2 p99 ms"),
    ("w2_peak_rss_mib", "W2 peak RSS MiB"),
    ("w3_server_cpu_util", "W3 server CPU (cores)"),
    ("w3_client_cpu_util", "W3 client CPU (cores)"),
    ("w3_cpu_us_per_req", "W3 server CPU µs/req"),
    ("w3_p50_ms", "W3 p50 ms"),
    ("w4_idle_rss_mib", "W4 idle RSS MiB"),
    ("w4_rss_at_end_mib", "W4 RSS at end of load MiB"),
    ("w4_connected", "W4 connections"),
    ("w4_heads", "W4 heads received"),
    ("w4_slow_kib_s", "W4 reader KiB/s each"),
    ("w4_server_cpu_util", "W4 server CPU (cores)"),
    ("w4_cpu_s_per_gib", "W4 CPU s/GiB read"),
    ("w6s_req_s", "W6 h2 stream req/s"),
    ("w6s_cpu_us_per_req", "W6 h2 stream server CPU µs/req"),
    ("w6s_server_cpu_util", "W6 h2 stream server CPU (cores)"),
    ("w6s_client_cpu_util", "W6 h2 stream client CPU (cores)"),
    ("w6s_peak_rss_mib", "W6 h2 stream peak RSS MiB"),
    ("w6r_mb_s", "W6 h2 4 KiB MB/s"),
    ("w6r_cpu_us_per_req", "W6 h2 4 KiB server CPU µs/req"),
    ("w6r_server_cpu_util", "W6 h2 4 KiB server CPU (cores)"),
    ("w6r_client_cpu_util", "W6 h2 4 KiB client CPU (cores)"),
    ("w6r_peak_rss_mib", "W6 h2 4 KiB peak RSS MiB"),
    ("w1_errors", "W1 errors"),
    ("w2_errors", "W2 errors"),
    ("w3_errors", "W3 errors"),
    ("w4_errors", "W4 client errors"),
    ("w6s_errors", "W6 h2 stream errors (non-2xx, failed)"),
    ("w6r_errors", "W6 h2 4 KiB errors (non-2xx, failed)"),
    ("w7_server_cpu_util", "W7 server CPU (cores)"),
    ("w7_client_cpu_util", "W7 client CPU (cores)"),
    ("w7_p50_ms", "W7 p50 ms"),
    ("w7_errors", "W7 errors"),
    ("foreign_cpu_pct", "foreign CPU % (max)"),
];

/// Our example server as users run it (access log on); before issue 14, with it off.
pub(crate) const OURS: &str = "tower-range";
/// Our example server with its access log off.
pub(crate) const OURS_LOG_OFF: &str = "tower-range-log-off";
pub(crate) const PEER: &str = "tower-http";
/// The base of the ratios: nginx with sendfile off and a buffered access log; before issue
/// 14, with none.
pub(crate) const NGINX: &str = "nginx-sendfile-off";
/// nginx with sendfile off and `access_log off`.
pub(crate) const NGINX_LOG_OFF: &str = "nginx-sendfile-off-log-off";
/// W7's nginx base: the tree with `alias` and `open_file_cache off`.
pub(crate) const NGINX_FILES: &str = "nginx-files-cache-off";
/// The object-store workloads' floor (`examples/store_copy.rs`), the bytes it receives
/// dropped.
pub(crate) const FLOOR: &str = "store-floor";
/// The object-store workloads' sending floor (`store_copy --send`): the bytes it receives
/// written to a sink over TCP, as a server writes them to a client.
pub(crate) const FLOOR_SEND: &str = "store-floor-send";

pub struct Report {
    pub info: BTreeMap<String, Value>,
    pub samples: Vec<Sample>,
}

impl Report {
    pub fn new(info: BTreeMap<String, Value>) -> Self {
        Self {
            info,
            samples: Vec::new(),
        }
    }

    pub fn from_json(value: &Value) -> Self {
        let info = value["info"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let samples = value["samples"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| Sample {
                        server: s["server"].as_str().unwrap_or("").into(),
                        workload: s["workload"].as_str().unwrap_or("").into(),
                        round: s["round"].as_u64().unwrap_or(0) as usize,
                        metrics: s["metrics"]
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NAN)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { info, samples }
    }

    /// Servers in the order they ran.
    pub(crate) fn servers(&self) -> Vec<String> {
        let mut servers: Vec<String> = Vec::new();
        for s in &self.samples {
            if !servers.contains(&s.server) {
                servers.push(s.server.clone());
            }
        }
        servers
    }

    pub(crate) fn values(&self, server: &str, key: &str) -> Vec<f64> {
        let mut values: Vec<(usize, f64)> = self
            .samples
            .iter()
            .filter(|s| s.server == server)
            .filter_map(|s| s.metrics.get(key).map(|v| (s.round, *v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        values.sort_by_key(|(round, _)| *round);
        values.into_iter().map(|(_, v)| v).collect()
    }

    pub fn median(&self, server: &str, key: &str) -> Option<f64> {
        let mut v = self.values(server, key);
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }

    pub(crate) fn ratio(&self, server: &str, key: &str, base: &str) -> Option<f64> {
        let a = self.median(server, key)?;
        let b = self.median(base, key)?;
        (b > 0.0).then(|| a / b)
    }

    pub(crate) fn info_str(&self, key: &str) -> String {
        match self.info.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "-".into(),
        }
    }

    /// Writes results.md, results.json and chart.svg into `dir` (and copies them into
    /// `publish`), and returns the Markdown.
    pub fn write(&self, dir: &Path, publish: Option<&Path>) -> String {
        let markdown = self.markdown();
        let svg = self.svg();
        let json = self.json();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("results.md"), &markdown).unwrap();
        std::fs::write(dir.join("results.json"), &json).unwrap();
        std::fs::write(dir.join("chart.svg"), &svg).unwrap();
        if let Some(publish) = publish {
            std::fs::create_dir_all(publish).unwrap();
            std::fs::write(publish.join("results.md"), &markdown).unwrap();
            std::fs::write(publish.join("results.json"), &json).unwrap();
            std::fs::write(publish.join("chart.svg"), &svg).unwrap();
        }
        markdown
    }

    fn json(&self) -> String {
        let servers = self.servers();
        let medians: BTreeMap<&String, BTreeMap<&str, f64>> = servers
            .iter()
            .map(|s| {
                let keys: Vec<&str> = HEADLINES
                    .iter()
                    .map(|h| h.0)
                    .chain(DETAILS.iter().map(|d| d.0))
                    .chain(STORE_KEYS.iter().map(|d| d.0))
                    .collect();
                (
                    s,
                    keys.into_iter()
                        .filter_map(|k| Some((k, self.median(s, k)?)))
                        .collect(),
                )
            })
            .collect();
        let samples: Vec<Value> = self
            .samples
            .iter()
            .map(|s| {
                json!({
                    "server": s.server, "workload": s.workload, "round": s.round,
                    "metrics": s.metrics,
                })
            })
            .collect();
        serde_json::to_string_pretty(&json!({
            "info": self.info,
            "medians": medians,
            "samples": samples,
        }))
        .unwrap()
    }

    pub fn markdown(&self) -> String {
        let servers = self.servers();
        let mut md = String::new();
        let _ = writeln!(md, "## Results: {}\n", self.info_str("date"));
        for (key, label) in [
            ("machine", "machine"),
            ("load_before", "load average before"),
            ("load_after", "load average after"),
            ("git", "tower-range commit"),
            ("ours", "tower-range settings"),
            ("access_logs", "access logs on"),
            ("nginx", "nginx"),
            ("wrk", "wrk (W3, W7)"),
            ("h2load", "h2load (W6)"),
            ("rustc", "rustc"),
            ("file", "file"),
            ("many_files", "W7 tree"),
            ("rounds", "rounds (medians shown)"),
            ("secs", "seconds per W1–W3 and W6 run"),
            ("w4", "W4"),
            ("wall_s", "wall time s"),
        ] {
            let _ = writeln!(md, "- {label}: {}", self.info_str(key));
        }
        let foreign = servers
            .iter()
            .flat_map(|s| self.values(s, "foreign_cpu_pct"))
            .fold(0.0f64, f64::max);
        let _ = writeln!(
            md,
            "- CPU used by other processes during the runs: at most {foreign:.1} % of a core\n"
        );
        // A table of the headline figures that were measured (a W7-only run has no W1–W4
        // columns), a row per server, `cell(server, key)` in each.
        let measured: Vec<&(&str, &str, bool)> = HEADLINES
            .iter()
            .filter(|(key, _, _)| servers.iter().any(|s| self.median(s, key).is_some()))
            .collect();
        // `row(server)` labels each row.
        let table = |md: &mut String,
                     first: &str,
                     row: &dyn Fn(&str) -> String,
                     cell: &dyn Fn(&str, &str) -> String| {
            let _ = write!(md, "| {first} |");
            for (_, label, _) in &measured {
                let _ = write!(md, " {label} |");
            }
            let _ = write!(md, "\n|---|");
            for _ in &measured {
                let _ = write!(md, "---:|");
            }
            md.push('\n');
            for server in &servers {
                let _ = write!(md, "| {} |", row(server));
                for (key, _, _) in &measured {
                    let _ = write!(md, " {} |", cell(server, key));
                }
                md.push('\n');
            }
        };
        let label = |server: &str| self.label(server);
        // An object-store run alone has no headline of the file workloads.
        if !measured.is_empty() {
            table(&mut md, "server (median)", &label, &|server, key| {
                self.median(server, key).map_or("-".into(), fmt_num)
            });
        }
        const BETTER: &str = "higher is better for req/s and MB/s, lower for the rest";
        // Like for like: each server against nginx with sendfile off and the same access log.
        if self.nginx_with(true).is_some() || self.nginx_with(false).is_some() {
            let _ = writeln!(
                md,
                "\nRatio to nginx sendfile off with the same access log: log on ÷ {}, log off ÷ {} ({BETTER}):\n",
                self.nginx_with(true).unwrap_or("-".into()),
                self.nginx_with(false).unwrap_or("-".into()),
            );
            let row = |server: &str| {
                let base = self.like_base(server).unwrap_or("-".into());
                format!("{} ÷ {base}", self.label(server))
            };
            table(&mut md, "server ÷ base", &row, &|server, key| {
                self.like_base(server)
                    .and_then(|base| self.ratio(server, key, &base))
                    .map_or("-".into(), |r| format!("{r:.2}"))
            });
        }
        for (base, title) in [
            (PEER, "tower-http"),
            (NGINX_FILES, "nginx on the tree with open_file_cache off"),
        ] {
            if !servers.iter().any(|s| s == base) {
                continue;
            }
            let _ = writeln!(md, "\nRatio to {title} ({BETTER}):\n");
            table(&mut md, "server ÷ base", &label, &|server, key| {
                self.ratio(server, key, base)
                    .map_or("-".into(), |r| format!("{r:.2}"))
            });
        }
        self.targets_markdown(&mut md);
        self.store_markdown(&mut md);
        // Details, when a file workload ran.
        if measured.is_empty() {
            return md;
        }
        let _ = writeln!(md, "\nDetails (medians):\n");
        self.medians_table(&mut md, &servers, DETAILS);
        // Every round, for the spread.
        let _ = writeln!(md, "\nEach round:\n");
        let _ = writeln!(md, "| figure | server | rounds |\n|---|---|---|");
        for (key, label, _) in HEADLINES {
            for server in &servers {
                let values = self.values(server, key);
                if values.is_empty() {
                    continue;
                }
                let shown: Vec<String> = values.into_iter().map(fmt_num).collect();
                let server = self.label(server);
                let _ = writeln!(md, "| {label} | {server} | {} |", shown.join(", "));
            }
        }
        md
    }
}

pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Report {
    /// A table of `keys`' medians, a column per server; figures no server has are left out.
    pub(crate) fn medians_table(&self, md: &mut String, servers: &[String], keys: &[(&str, &str)]) {
        let _ = write!(md, "| figure |");
        for server in servers {
            let _ = write!(md, " {} |", self.label(server));
        }
        let _ = write!(md, "\n|---|");
        for _ in servers {
            let _ = write!(md, "---:|");
        }
        md.push('\n');
        for (key, label) in keys {
            if servers.iter().all(|s| self.median(s, key).is_none()) {
                continue;
            }
            let _ = write!(md, "| {label} |");
            for server in servers {
                let value = self.median(server, key).map_or("-".into(), fmt_num);
                let _ = write!(md, " {value} |");
            }
            md.push('\n');
        }
    }
}
