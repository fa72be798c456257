//! The results of `benches/compare.rs`: medians over rounds, ratios, the targets of issue 5,
//! written as Markdown, JSON and an SVG chart.
//!
//! The chart is SVG written by hand rather than with plotters: a few bars on a log scale need
//! about a hundred lines, no extra dependency (plotters would pull in font handling to draw
//! text) and the output is byte-for-byte reproducible from `results.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

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
const HEADLINES: &[(&str, &str, bool)] = &[
    ("w1_mb_s", "W1 stream MB/s", true),
    ("w2_req_s", "W2 1 MiB req/s", true),
    ("w3_req_s", "W3 4 KiB req/s", true),
    ("w3_p99_ms", "W3 p99 ms", false),
    ("w4_peak_rss_mib", "W4 peak RSS MiB", false),
    ("w4_rss_after_close_mib", "W4 RSS after MiB", false),
    ("w5_cpu_s_per_gib", "W5 CPU s/GiB", false),
    ("w7_req_s", "W7 many files 4 KiB req/s", true),
    ("w7_p99_ms", "W7 p99 ms", false),
    ("w7_cpu_us_per_req", "W7 server CPU µs/req", false),
];

/// Figures that explain the headlines.
const DETAILS: &[(&str, &str)] = &[
    ("w1_server_cpu_util", "W1 server CPU (cores)"),
    ("w1_client_cpu_util", "W1 client CPU (cores)"),
    ("w1_peak_rss_mib", "W1 peak RSS MiB"),
    ("w2_server_cpu_util", "W2 server CPU (cores)"),
    ("w2_client_cpu_util", "W2 client CPU (cores)"),
    ("w2_cpu_s_per_gib", "W2 CPU s/GiB"),
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
    ("w1_errors", "W1 errors"),
    ("w2_errors", "W2 errors"),
    ("w3_errors", "W3 errors"),
    ("w4_errors", "W4 client errors"),
    ("w7_server_cpu_util", "W7 server CPU (cores)"),
    ("w7_client_cpu_util", "W7 client CPU (cores)"),
    ("w7_p50_ms", "W7 p50 ms"),
    ("w7_errors", "W7 errors"),
    ("foreign_cpu_pct", "foreign CPU % (max)"),
];

const OURS: &str = "tower-range";
const PEER: &str = "tower-http";
const NGINX: &str = "nginx-sendfile-off";
/// W7's nginx base: the tree with `alias` and `open_file_cache off`.
const NGINX_FILES: &str = "nginx-files-cache-off";

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
    fn servers(&self) -> Vec<String> {
        let mut servers: Vec<String> = Vec::new();
        for s in &self.samples {
            if !servers.contains(&s.server) {
                servers.push(s.server.clone());
            }
        }
        servers
    }

    fn values(&self, server: &str, key: &str) -> Vec<f64> {
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

    fn ratio(&self, server: &str, key: &str, base: &str) -> Option<f64> {
        let a = self.median(server, key)?;
        let b = self.median(base, key)?;
        (b > 0.0).then(|| a / b)
    }

    fn info_str(&self, key: &str) -> String {
        match self.info.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "-".into(),
        }
    }

    /// The targets of issue 5 for tower-range against nginx with sendfile off.
    fn targets(&self) -> Vec<(String, String, Option<bool>)> {
        let mut out = Vec::new();
        let mut ratio_target = |label: &str, key: &str, op: &str, bound: f64| {
            let ratio = self.ratio(OURS, key, NGINX);
            let met = ratio.map(|r| if op == ">=" { r >= bound } else { r <= bound });
            let shown = ratio.map_or("-".into(), |r| format!("{r:.2}×"));
            out.push((
                format!("{label} {op} {bound}× nginx sendfile off"),
                shown,
                met,
            ));
        };
        ratio_target("W3 req/s", "w3_req_s", ">=", 1.0);
        ratio_target("W5 CPU s/GiB", "w5_cpu_s_per_gib", "<=", 0.8);
        ratio_target("W2 req/s", "w2_req_s", ">=", 1.0);
        ratio_target("W1 MB/s", "w1_mb_s", ">=", 1.0);
        ratio_target("W4 peak RSS", "w4_peak_rss_mib", "<=", 0.5);
        let idle = self.median(OURS, "w4_idle_rss_mib");
        let after = self.median(OURS, "w4_rss_after_close_mib");
        let met = idle.zip(after).map(|(i, a)| a <= i + 16.0);
        out.push((
            "W4 RSS after the clients leave <= idle + 16 MiB".into(),
            match (idle, after) {
                (Some(i), Some(a)) => format!("{a:.1} MiB (idle {i:.1} MiB)"),
                _ => "-".into(),
            },
            met,
        ));
        out
    }

    /// The many-files targets of issue 12 for tower-range (W7): against nginx with
    /// `open_file_cache off` and against tower-http's `ServeDir`.
    fn targets_w7(&self) -> Vec<(String, String, Option<bool>)> {
        [(NGINX_FILES, 1.0), (PEER, 2.0)]
            .into_iter()
            .map(|(base, bound)| {
                let ratio = self.ratio(OURS, "w7_req_s", base);
                (
                    format!("W7 req/s >= {bound}× {base}"),
                    ratio.map_or("-".into(), |r| format!("{r:.2}×")),
                    ratio.map(|r| r >= bound),
                )
            })
            .collect()
    }

    /// The base of `key`'s ratios in the chart: W7's figures against nginx on the tree when
    /// it ran, the rest against `base`.
    fn chart_base<'a>(&self, key: &str, base: &'a str) -> &'a str {
        if key.starts_with("w7") && self.median(NGINX_FILES, key).is_some() {
            NGINX_FILES
        } else {
            base
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
            ("nginx", "nginx"),
            ("wrk", "wrk (W3, W7)"),
            ("rustc", "rustc"),
            ("file", "file"),
            ("many_files", "W7 tree"),
            ("rounds", "rounds (medians shown)"),
            ("secs", "seconds per W1–W3 run"),
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
        let table = |md: &mut String, first: &str, cell: &dyn Fn(&str, &str) -> String| {
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
                let _ = write!(md, "| {server} |");
                for (key, _, _) in &measured {
                    let _ = write!(md, " {} |", cell(server, key));
                }
                md.push('\n');
            }
        };
        table(&mut md, "server (median)", &|server, key| {
            self.median(server, key).map_or("-".into(), fmt_num)
        });
        for (base, title) in [
            (PEER, "tower-http"),
            (NGINX, "nginx sendfile off"),
            (NGINX_FILES, "nginx on the tree with open_file_cache off"),
        ] {
            if !servers.iter().any(|s| s == base) {
                continue;
            }
            let _ = writeln!(md, "\nRatio to {title} (higher is better for W1–W3 req/s and MB/s, lower for the rest):\n");
            table(&mut md, "server ÷ base", &|server, key| {
                self.ratio(server, key, base)
                    .map_or("-".into(), |r| format!("{r:.2}"))
            });
        }
        if servers.iter().any(|s| s == OURS) && servers.iter().any(|s| s == NGINX) {
            let _ = writeln!(md, "\nTargets of issue 5 (tower-range):\n");
            let _ = writeln!(md, "| target | measured | met |\n|---|---:|---|");
            for (label, shown, met) in self.targets() {
                let mark = match met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "-",
                };
                let _ = writeln!(md, "| {label} | {shown} | {mark} |");
            }
        }
        if servers.iter().any(|s| s == OURS) && self.median(OURS, "w7_req_s").is_some() {
            let _ = writeln!(md, "\nMany-files targets of issue 12 (tower-range, W7):\n");
            let _ = writeln!(md, "| target | measured | met |\n|---|---:|---|");
            for (label, shown, met) in self.targets_w7() {
                let mark = match met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "-",
                };
                let _ = writeln!(md, "| {label} | {shown} | {mark} |");
            }
        }
        // Details.
        let _ = writeln!(md, "\nDetails (medians):\n");
        let _ = write!(md, "| figure |");
        for server in &servers {
            let _ = write!(md, " {server} |");
        }
        let _ = write!(md, "\n|---|");
        for _ in &servers {
            let _ = write!(md, "---:|");
        }
        md.push('\n');
        for (key, label) in DETAILS {
            if servers.iter().all(|s| self.median(s, key).is_none()) {
                continue;
            }
            let _ = write!(md, "| {label} |");
            for server in &servers {
                let _ = write!(
                    md,
                    " {} |",
                    self.median(server, key).map_or("-".into(), fmt_num)
                );
            }
            md.push('\n');
        }
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
                let _ = writeln!(md, "| {label} | {server} | {} |", shown.join(", "));
            }
        }
        md
    }

    /// Each headline figure of each server as a ratio to nginx sendfile off (or to
    /// tower-http without nginx), as horizontal bars from 1× on a log scale.
    pub fn svg(&self) -> String {
        let servers = self.servers();
        let base = if servers.iter().any(|s| s == NGINX) {
            NGINX
        } else {
            PEER
        };
        let (left, plot_w, bar_h, title_h, gap) = (250.0, 600.0, 15.0, 20.0, 10.0);
        let (lo, hi) = (-3.0f64, 3.0f64); // log2 range: 1/8× … 8×
        let x = |ratio: f64| left + (ratio.log2().clamp(lo, hi) - lo) / (hi - lo) * plot_w;
        let groups: Vec<&(&str, &str, bool)> = HEADLINES
            .iter()
            .filter(|(key, _, _)| servers.iter().any(|s| self.median(s, key).is_some()))
            .collect();
        let group_h = title_h + bar_h * servers.len() as f64 + gap;
        let top = 70.0;
        let legend_h = 20.0 * servers.len() as f64 + 10.0;
        let height = top + group_h * groups.len() as f64 + 30.0 + legend_h;
        let width = left + plot_w + 60.0;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"##
        );
        let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="white"/>"##);
        let _ = writeln!(
            svg,
            r##"<text x="10" y="20" font-size="15" font-weight="bold">tower-range vs tower-http vs nginx: ratio to {} (log scale)</text>"##,
            escape(base)
        );
        let _ = writeln!(
            svg,
            r##"<text x="10" y="38" fill="#555">{} · {}</text>"##,
            escape(&self.info_str("date")),
            escape(&self.info_str("machine"))
        );
        // Grid.
        let grid_bottom = top + group_h * groups.len() as f64;
        for k in (lo as i32)..=(hi as i32) {
            let r = 2f64.powi(k);
            let gx = x(r);
            let stroke = if k == 0 { "#333" } else { "#ddd" };
            let _ = writeln!(
                svg,
                r##"<line x1="{gx:.1}" y1="{:.1}" x2="{gx:.1}" y2="{grid_bottom:.1}" stroke="{stroke}"/>"##,
                top - 8.0
            );
            let label = if k >= 0 {
                format!("{}×", 1u64 << k)
            } else {
                format!("1/{}×", 1u64 << -k)
            };
            let _ = writeln!(
                svg,
                r##"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{label}</text>"##,
                top - 12.0
            );
        }
        for (g, (key, label, higher)) in groups.iter().enumerate() {
            let gy = top + group_h * g as f64;
            let group_base = self.chart_base(key, base);
            let better = match (*higher, group_base == base) {
                (true, true) => "higher is better".to_string(),
                (false, true) => "lower is better".to_string(),
                (true, false) => format!("higher is better; ratio to {group_base}"),
                (false, false) => format!("lower is better; ratio to {group_base}"),
            };
            let _ = writeln!(
                svg,
                r##"<text x="10" y="{:.1}" font-weight="bold">{} <tspan font-weight="normal" fill="#555">({better})</tspan></text>"##,
                gy + 14.0,
                escape(label)
            );
            for (i, server) in servers.iter().enumerate() {
                let y = gy + title_h + bar_h * i as f64;
                let Some(ratio) = self.ratio(server, key, group_base) else {
                    continue;
                };
                let (x1, x2) = (x(1.0), x(ratio));
                let (bx, bw) = (x1.min(x2), (x2 - x1).abs().max(1.0));
                let _ = writeln!(
                    svg,
                    r##"<rect x="{bx:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{}"/>"##,
                    y + 1.0,
                    bar_h - 3.0,
                    color(i)
                );
                let value = self.median(server, key).unwrap_or(f64::NAN);
                let _ = writeln!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" fill="#333">{server}: {} ({ratio:.2}×)</text>"##,
                    20.0,
                    y + bar_h - 3.5,
                    fmt_num(value)
                );
            }
        }
        let ly = grid_bottom + 30.0;
        for (i, server) in servers.iter().enumerate() {
            let y = ly + 20.0 * i as f64;
            let _ = writeln!(
                svg,
                r##"<rect x="10" y="{:.1}" width="14" height="12" fill="{}"/><text x="30" y="{:.1}">{}</text>"##,
                y - 10.0,
                color(i),
                y,
                escape(server)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

fn color(i: usize) -> &'static str {
    const COLORS: &[&str] = &[
        "#d9480f", "#1971c2", "#2f9e44", "#868e96", "#9c36b5", "#f08c00", "#0c8599", "#e64980",
    ];
    COLORS[i % COLORS.len()]
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
