//! The results' chart, `chart.svg`: each headline figure of each server as a ratio, bars on a
//! log scale.
//!
//! SVG written by hand rather than with plotters: a few bars on a log scale need about a
//! hundred lines, no extra dependency (plotters would pull in font handling to draw text) and
//! the output is byte-for-byte reproducible from `results.json`.

use std::fmt::Write as _;

use crate::report::{fmt_num, Report, HEADLINES, NGINX_FILES, PEER};

impl Report {
    /// Whether the chart's ratios are to nginx sendfile off (like for like), not to
    /// tower-http (a run without nginx).
    fn chart_to_nginx(&self) -> bool {
        self.nginx_with(true).is_some() || self.nginx_with(false).is_some()
    }

    /// The base of `server`'s bar for `key`: W7's figures against nginx on the tree when it
    /// ran, the rest against nginx sendfile off with the same access log, or tower-http in a
    /// run without nginx.
    fn chart_base(&self, key: &str, server: &str) -> Option<String> {
        if key.starts_with("w7") && self.median(NGINX_FILES, key).is_some() {
            Some(NGINX_FILES.into())
        } else if self.chart_to_nginx() {
            self.like_base(server)
        } else {
            Some(PEER.into())
        }
    }

    /// Each headline figure of each server as a ratio to nginx sendfile off with the same
    /// access log (or to tower-http without nginx), as horizontal bars from 1× on a log scale;
    /// each bar labelled with the server and whether it logged.
    pub fn svg(&self) -> String {
        let servers = self.servers();
        let base = if self.chart_to_nginx() {
            "nginx sendfile off with the same access log"
        } else {
            PEER
        };
        // The left margin holds the bars' labels (`tower-range-log-off (log off): …`).
        let (left, plot_w, bar_h, title_h, gap) = (330.0, 600.0, 15.0, 20.0, 10.0);
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
            let better = if *higher {
                "higher is better"
            } else {
                "lower is better"
            };
            let better = if key.starts_with("w7") && self.median(NGINX_FILES, key).is_some() {
                format!("{better}; ratio to {NGINX_FILES}")
            } else {
                better.to_string()
            };
            let _ = writeln!(
                svg,
                r##"<text x="10" y="{:.1}" font-weight="bold">{} <tspan font-weight="normal" fill="#555">({better})</tspan></text>"##,
                gy + 14.0,
                escape(label)
            );
            for (i, server) in servers.iter().enumerate() {
                let y = gy + title_h + bar_h * i as f64;
                let Some(ratio) = self
                    .chart_base(key, server)
                    .and_then(|base| self.ratio(server, key, &base))
                else {
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
                    r##"<text x="{:.1}" y="{:.1}" fill="#333">{}: {} ({ratio:.2}×)</text>"##,
                    20.0,
                    y + bar_h - 3.5,
                    escape(&self.label(server)),
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
                escape(&self.label(server))
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
