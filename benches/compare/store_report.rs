//! The object-store section of the results (issue 13): our server serving from s3s-fs against
//! two floors (`store_copy`, the same GETs with `object_store` in one process, no HTTP
//! serving): `store-floor-send`, which writes the bytes it receives to a sink over TCP as the
//! server writes them to its clients, and `store-floor`, which drops them. The issue's
//! targets: CPU per GiB at most 1.2× the sending floor's (the least a process spends to pull
//! the bytes from S3 and hand them to a client; the ratio to the receive-only floor is shown
//! beside it), exactly one store GET per client request, and WS4's peak RSS within the stated
//! bound.
//!
//! The bound, as the library states it (`src/store/mod.rs`, README "Memory"): what one body
//! has pulled from the store and not handed on is at most `read_ahead × frame_size` plus two
//! of the store client's chunks. WS4's bound is the server's idle RSS plus that for each
//! client, the chunk being the largest either floor received from the same store with the
//! same client in this run (512 KiB when neither ran).

use std::fmt::Write as _;

use crate::report::{fmt_num, Report, FLOOR, FLOOR_SEND};

/// The floors, the base (the sending one) first.
const FLOORS: [&str; 2] = [FLOOR_SEND, FLOOR];

/// The workloads' figures, each key's median in the results JSON: `(key, label)`.
pub(crate) const STORE_KEYS: &[(&str, &str)] = &[
    ("ws1_mb_s", "WS1 stream MB/s"),
    ("ws1_cpu_s_per_gib", "WS1 CPU s/GiB"),
    ("ws1_store_gets_per_req", "WS1 store GETs per request"),
    ("ws1_requests", "WS1 requests sent"),
    ("ws1_store_gets", "WS1 store GETs"),
    ("ws1_store_heads", "WS1 store HEADs"),
    (
        "ws1_gets_without_if_match",
        "WS1 store GETs without If-Match",
    ),
    ("ws1_server_cpu_util", "WS1 process CPU (cores)"),
    (
        "ws1_client_cpu_util",
        "WS1 client CPU (cores; the sending floor's: its sink)",
    ),
    ("ws1_store_cpu_util", "WS1 store + proxy CPU (cores)"),
    ("ws1_peak_rss_mib", "WS1 peak RSS MiB"),
    (
        "ws1_largest_chunk_kib",
        "WS1 largest store chunk KiB (floor)",
    ),
    ("ws1_mean_chunk_kib", "WS1 mean store chunk KiB (floor)"),
    ("ws1_sink_mib", "WS1 MiB the sink read (sending floor)"),
    ("ws1_errors", "WS1 errors"),
    ("ws2_req_s", "WS2 1 MiB req/s"),
    ("ws2_mb_s", "WS2 MB/s"),
    ("ws2_cpu_s_per_gib", "WS2 CPU s/GiB"),
    ("ws2_store_gets_per_req", "WS2 store GETs per request"),
    ("ws2_requests", "WS2 requests sent"),
    ("ws2_store_gets", "WS2 store GETs"),
    ("ws2_store_heads", "WS2 store HEADs"),
    (
        "ws2_gets_without_if_match",
        "WS2 store GETs without If-Match",
    ),
    ("ws2_server_cpu_util", "WS2 process CPU (cores)"),
    (
        "ws2_client_cpu_util",
        "WS2 client CPU (cores; the sending floor's: its sink)",
    ),
    ("ws2_store_cpu_util", "WS2 store + proxy CPU (cores)"),
    ("ws2_peak_rss_mib", "WS2 peak RSS MiB"),
    (
        "ws2_largest_chunk_kib",
        "WS2 largest store chunk KiB (floor)",
    ),
    ("ws2_mean_chunk_kib", "WS2 mean store chunk KiB (floor)"),
    ("ws2_sink_mib", "WS2 MiB the sink read (sending floor)"),
    ("ws2_errors", "WS2 errors"),
    ("ws4_peak_rss_mib", "WS4 peak RSS MiB"),
    ("ws4_idle_rss_mib", "WS4 idle RSS MiB"),
    ("ws4_rss_at_end_mib", "WS4 RSS at end of load MiB"),
    (
        "ws4_rss_after_close_mib",
        "WS4 RSS after the clients left MiB",
    ),
    ("ws4_connected", "WS4 connections"),
    ("ws4_heads", "WS4 heads received"),
    ("ws4_store_gets_per_req", "WS4 store GETs per client"),
    ("ws4_store_heads", "WS4 store HEADs"),
    ("ws4_slow_kib_s", "WS4 reader KiB/s each"),
    ("ws4_cpu_s_per_gib", "WS4 CPU s/GiB read"),
    ("ws4_store_cpu_util", "WS4 store + proxy CPU (cores)"),
    ("ws4_errors", "WS4 client errors"),
];

/// The bound on CPU per GiB, as a multiple of the sending floor's.
const CPU_BOUND: f64 = 1.2;
/// The chunk assumed for WS4's bound when neither floor ran.
const ASSUMED_CHUNK_KIB: f64 = 512.0;

impl Report {
    /// Our servers that ran an object-store workload (the floors are not).
    fn store_servers(&self) -> Vec<String> {
        self.servers()
            .into_iter()
            .filter(|s| !FLOORS.contains(&s.as_str()))
            .filter(|s| {
                ["ws1_mb_s", "ws2_mb_s", "ws4_peak_rss_mib"]
                    .iter()
                    .any(|k| self.median(s, k).is_some())
            })
            .collect()
    }

    /// The largest chunk either floor received in any of its samples, in KiB, and whether
    /// it was measured (else [`ASSUMED_CHUNK_KIB`]).
    fn store_chunk_kib(&self) -> (f64, bool) {
        let largest = ["ws1_largest_chunk_kib", "ws2_largest_chunk_kib"]
            .iter()
            .flat_map(|k| FLOORS.iter().flat_map(|floor| self.values(floor, k)))
            .fold(f64::NAN, f64::max);
        if largest.is_finite() {
            (largest, true)
        } else {
            (ASSUMED_CHUNK_KIB, false)
        }
    }

    /// WS4's bound for `server` in MiB: idle RSS + clients × (frames + two chunks).
    fn ws4_bound_mib(&self, server: &str) -> Option<f64> {
        let idle = self.median(server, "ws4_idle_rss_mib")?;
        let conns = self.median(server, "ws4_conns")?;
        let frames = self.median(server, "ws4_frames_kib")?;
        let (chunk, _) = self.store_chunk_kib();
        Some(idle + conns * (frames + 2.0 * chunk) / 1024.0)
    }

    /// The section, when an object-store workload ran.
    pub(crate) fn store_markdown(&self, md: &mut String) {
        let servers = self.store_servers();
        if servers.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## Object store (issue 13)\n");
        let _ = writeln!(md, "- store: {}", self.info_str("store"));
        let (chunk, measured) = self.store_chunk_kib();
        let _ = writeln!(
            md,
            "- the store client's largest chunk: {} KiB ({})",
            fmt_num(chunk),
            if measured {
                "the floors', this run"
            } else {
                "assumed: no floor ran"
            }
        );
        let _ = writeln!(
            md,
            "- floors, one process on CPU 0 making the same GETs, no HTTP serving: {FLOOR_SEND} \
             writes each chunk to a TCP connection per loop (a sink on CPU 1 reads and discards), \
             the issue's base; {FLOOR} drops the bytes (receive only)\n"
        );
        let cell = |server: &str, key: &str| self.median(server, key).map_or("-".into(), fmt_num);
        let to = |server: &str, key: &str, floor: &str| {
            self.ratio(server, key, floor)
                .map_or("-".into(), |r| format!("{r:.2}×"))
        };
        let _ = writeln!(
            md,
            "| server (median) | WS1 MB/s | WS1 CPU s/GiB | ÷ {FLOOR_SEND} | ÷ {FLOOR} (receive only) | WS1 store GETs/req | WS2 req/s | WS2 CPU s/GiB | ÷ {FLOOR_SEND} | ÷ {FLOOR} (receive only) | WS2 store GETs/req | WS4 peak RSS MiB | WS4 bound MiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let ran = self.servers();
        let mut rows = servers.clone();
        rows.extend(
            FLOORS
                .iter()
                .filter(|floor| ran.iter().any(|s| s == *floor))
                .map(|floor| floor.to_string()),
        );
        for server in rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                self.label(&server),
                cell(&server, "ws1_mb_s"),
                cell(&server, "ws1_cpu_s_per_gib"),
                to(&server, "ws1_cpu_s_per_gib", FLOOR_SEND),
                to(&server, "ws1_cpu_s_per_gib", FLOOR),
                cell(&server, "ws1_store_gets_per_req"),
                cell(&server, "ws2_req_s"),
                cell(&server, "ws2_cpu_s_per_gib"),
                to(&server, "ws2_cpu_s_per_gib", FLOOR_SEND),
                to(&server, "ws2_cpu_s_per_gib", FLOOR),
                cell(&server, "ws2_store_gets_per_req"),
                cell(&server, "ws4_peak_rss_mib"),
                self.ws4_bound_mib(&server).map_or("-".into(), fmt_num),
            );
        }
        self.store_targets(md, &servers);
        self.store_details(md);
    }

    /// Issue 13's targets for each of our servers.
    fn store_targets(&self, md: &mut String, servers: &[String]) {
        let _ = writeln!(
            md,
            "\nTargets of issue 13:\n\n| target | server | measured | met |\n|---|---|---:|---|"
        );
        let mark = |met: Option<bool>| match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        for server in servers {
            // Against the sending floor; the receive-only floor's ratio beside it, not judged.
            let shown = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}×"));
            for (workload, key) in [("WS1", "ws1_cpu_s_per_gib"), ("WS2", "ws2_cpu_s_per_gib")] {
                let ratio = self.ratio(server, key, FLOOR_SEND);
                let _ = writeln!(
                    md,
                    "| {workload} CPU s/GiB <= {CPU_BOUND}× {FLOOR_SEND} | {server} | {} (÷ {FLOOR}, receive only: {}) | {} |",
                    shown(ratio),
                    shown(self.ratio(server, key, FLOOR)),
                    mark(ratio.map(|r| r <= CPU_BOUND)),
                );
            }
            // Exactly one GET per client request, in every round of every workload.
            let per_request: Vec<f64> = ["ws1", "ws2", "ws4"]
                .iter()
                .flat_map(|w| self.values(server, &format!("{w}_store_gets_per_req")))
                .collect();
            let exact = per_request.iter().all(|v| (v - 1.0).abs() < 1e-9);
            let shown: Vec<String> = per_request.iter().map(|v| format!("{v:.3}")).collect();
            let _ = writeln!(
                md,
                "| one store GET per client request (each WS run) | {server} | {} | {} |",
                if shown.is_empty() {
                    "-".into()
                } else {
                    shown.join(", ")
                },
                mark((!shown.is_empty()).then_some(exact)),
            );
            let peak = self.median(server, "ws4_peak_rss_mib");
            let bound = self.ws4_bound_mib(server);
            let _ = writeln!(
                md,
                "| WS4 peak RSS <= idle + clients × (read-ahead × frame + 2 chunks) | {server} | {} | {} |",
                match (peak, bound) {
                    (Some(p), Some(b)) => format!("{} MiB (bound {} MiB)", fmt_num(p), fmt_num(b)),
                    _ => "-".into(),
                },
                mark(peak.zip(bound).map(|(p, b)| p <= b)),
            );
        }
    }

    /// Every figure of the workloads, medians, and the headline figures' rounds.
    fn store_details(&self, md: &mut String) {
        let servers: Vec<String> = self
            .servers()
            .into_iter()
            .filter(|s| STORE_KEYS.iter().any(|(k, _)| self.median(s, k).is_some()))
            .collect();
        let _ = write!(md, "\nObject-store details (medians):\n\n");
        self.medians_table(md, &servers, STORE_KEYS);
        let _ = writeln!(
            md,
            "\nObject store, each round:\n\n| figure | server | rounds |\n|---|---|---|"
        );
        for key in [
            "ws1_cpu_s_per_gib",
            "ws2_cpu_s_per_gib",
            "ws1_mb_s",
            "ws2_req_s",
            "ws4_peak_rss_mib",
        ] {
            let label = STORE_KEYS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(key, |(_, l)| l);
            for server in &servers {
                let values = self.values(server, key);
                if values.is_empty() {
                    continue;
                }
                let shown: Vec<String> = values.into_iter().map(fmt_num).collect();
                let _ = writeln!(
                    md,
                    "| {label} | {} | {} |",
                    self.label(server),
                    shown.join(", ")
                );
            }
        }
    }
}
