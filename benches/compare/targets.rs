//! The targets the issues set for tower-range, each a ratio to a base server with a bound,
//! and their tables: issue 5's against nginx with sendfile off, issue 12's for W7, issue 14's
//! like for like (tower-range with its access log on against nginx with its buffered one,
//! and with both off).

use std::fmt::Write as _;

use crate::report::{Report, NGINX_FILES, PEER};

/// One target: what it says, what was measured, and whether it was met (`None`: not measured).
type Target = (String, String, Option<bool>);

/// Issue 14's targets: label, key, `>=` or `<=`, bound (a ratio to nginx sendfile off with the
/// same access log).
const ISSUE_14: &[(&str, &str, &str, f64)] = &[
    ("W1 MB/s", "w1_mb_s", ">=", 1.1),
    ("W3 req/s", "w3_req_s", ">=", 1.0),
    ("W5 CPU s/GiB", "w5_cpu_s_per_gib", "<=", 0.8),
    ("W4 peak RSS", "w4_peak_rss_mib", "<=", 0.8),
    ("W6 h2 stream MB/s", "w6s_mb_s", ">=", 1.0),
    ("W6 h2 4 KiB req/s", "w6r_req_s", ">=", 1.0),
    ("W6 h2 stream CPU s/GiB", "w6s_cpu_s_per_gib", "<=", 1.0),
];

/// Whether `ratio` meets `op bound`.
fn meets(ratio: f64, op: &str, bound: f64) -> bool {
    if op == ">=" {
        ratio >= bound
    } else {
        ratio <= bound
    }
}

/// `ratio` as the target tables show it.
fn shown(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{r:.2}×"))
}

/// The table cell of a target's verdict.
fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "-",
    }
}

impl Report {
    /// The targets of issue 5 for tower-range against nginx with sendfile off, as they were
    /// set: both without an access log.
    fn targets(&self) -> Vec<Target> {
        let (Some(ours), Some(nginx)) = (self.ours_with(false), self.nginx_with(false)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (label, key, op, bound) in [
            ("W3 req/s", "w3_req_s", ">=", 1.0),
            ("W5 CPU s/GiB", "w5_cpu_s_per_gib", "<=", 0.8),
            ("W2 req/s", "w2_req_s", ">=", 1.0),
            ("W1 MB/s", "w1_mb_s", ">=", 1.0),
            ("W4 peak RSS", "w4_peak_rss_mib", "<=", 0.5),
        ] {
            let ratio = self.ratio(&ours, key, &nginx);
            out.push((
                format!("{label} {op} {bound}× {nginx}"),
                shown(ratio),
                ratio.map(|r| meets(r, op, bound)),
            ));
        }
        let idle = self.median(&ours, "w4_idle_rss_mib");
        let after = self.median(&ours, "w4_rss_after_close_mib");
        out.push((
            "W4 RSS after the clients leave <= idle + 16 MiB".into(),
            match (idle, after) {
                (Some(i), Some(a)) => format!("{a:.1} MiB (idle {i:.1} MiB)"),
                _ => "-".into(),
            },
            idle.zip(after).map(|(i, a)| a <= i + 16.0),
        ));
        out
    }

    /// The many-files targets of issue 12 for tower-range (W7): against nginx with
    /// `open_file_cache off` and against tower-http's `ServeDir`. Neither writes an access
    /// log, so ours is the one with its log off.
    fn targets_w7(&self) -> Vec<Target> {
        let Some(ours) = self.ours_with(false) else {
            return Vec::new();
        };
        [(NGINX_FILES, 1.0), (PEER, 2.0)]
            .into_iter()
            .map(|(base, bound)| {
                let ratio = self.ratio(&ours, "w7_req_s", base);
                (
                    format!("W7 req/s >= {bound}× {base}"),
                    shown(ratio),
                    ratio.map(|r| r >= bound),
                )
            })
            .collect()
    }

    /// Issue 14's targets, each like for like: a row per target, with tower-range (log on) ÷
    /// nginx sendfile off (log on) and tower-range-log-off ÷ nginx sendfile off (log off).
    fn targets_issue_14(&self) -> Vec<(String, Target, Target)> {
        let pair = |logs: bool| self.ours_with(logs).zip(self.nginx_with(logs));
        ISSUE_14
            .iter()
            .map(|&(label, key, op, bound)| {
                let side = |logs: bool| -> Target {
                    let ratio = pair(logs).and_then(|(ours, nginx)| self.ratio(&ours, key, &nginx));
                    let who = pair(logs).map_or("-".into(), |(o, n)| format!("{o} ÷ {n}"));
                    (who, shown(ratio), ratio.map(|r| meets(r, op, bound)))
                };
                (format!("{label} {op} {bound}×"), side(true), side(false))
            })
            .filter(|(_, on, off)| on.2.is_some() || off.2.is_some())
            .collect()
    }

    /// The targets' tables, for the workloads and servers that ran.
    pub(crate) fn targets_markdown(&self, md: &mut String) {
        let simple = |md: &mut String, title: &str, rows: Vec<Target>| {
            if rows.iter().all(|(_, _, met)| met.is_none()) {
                return;
            }
            let _ = writeln!(md, "\n{title}\n");
            let _ = writeln!(md, "| target | measured | met |\n|---|---:|---|");
            for (label, measured, met) in rows {
                let _ = writeln!(md, "| {label} | {measured} | {} |", mark(met));
            }
        };
        let rows = self.targets_issue_14();
        if !rows.is_empty() {
            let _ = writeln!(
                md,
                "\nTargets of issue 14 (tower-range ÷ nginx sendfile off, like for like):\n"
            );
            let on = self.ours_with(true).zip(self.nginx_with(true));
            let off = self.ours_with(false).zip(self.nginx_with(false));
            let head =
                |p: Option<(String, String)>| p.map_or("-".into(), |(o, n)| format!("{o} ÷ {n}"));
            let _ = writeln!(
                md,
                "| target | log on: {} | met | log off: {} | met |\n|---|---:|---|---:|---|",
                head(on),
                head(off)
            );
            for (label, on, off) in rows {
                let _ = writeln!(
                    md,
                    "| {label} | {} | {} | {} | {} |",
                    on.1,
                    mark(on.2),
                    off.1,
                    mark(off.2)
                );
            }
        }
        simple(
            md,
            "Targets of issue 5 (tower-range, both access logs off):",
            self.targets(),
        );
        simple(
            md,
            "Many-files targets of issue 12 (tower-range with its log off, W7):",
            self.targets_w7(),
        );
    }
}
