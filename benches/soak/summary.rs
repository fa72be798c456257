//! The soak's printed summary: a Markdown table per phase, the machine and version it ran
//! on, and the verdict, with every failed check named and a non-zero exit when there is
//! one.

use std::time::Duration;

use crate::config::Config;
use crate::connections::{ConnReport, Round};
use crate::mixed_requests::SoakReport;
use crate::{procfs, MIB};

fn ms(d: &Result<Duration, String>) -> String {
    match d {
        Ok(d) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
        Err(e) => format!("FAILED ({e})"),
    }
}

/// SOAK's tables; its failed checks go to `failed`.
pub fn print_soak(config: &Config, s: &SoakReport, failed: &mut Vec<String>) {
    println!();
    println!("## soak: {} requests, {} connections ({} HTTP/1.1 keep-alive, {} HTTP/2), {} MiB file, server {}", s.requests, s.h1 + s.h2, s.h1, s.h2, config.file_len / MIB, s.server_args);
    println!();
    println!("| request kind | count | errors |");
    println!("|---|---:|---:|");
    for (kind, count, errors) in &s.per_kind {
        println!("| {} | {count} | {errors} |", kind.name());
    }
    println!();
    println!("| soak | value |");
    println!("|---|---|");
    println!(
        "| requests answered and checked | {} / {} |",
        s.done, s.requests
    );
    println!("| errors | {} |", s.errors);
    println!("| wall time | {:.1} s |", s.secs);
    println!("| requests/s | {:.0} |", s.done as f64 / s.secs);
    println!(
        "| body bytes checked | {:.2} GiB ({:.0} MiB/s) |",
        s.bytes as f64 / (1u64 << 30) as f64,
        s.bytes as f64 / MIB as f64 / s.secs
    );
    println!(
        "| server RSS start / end (VmHWM end) | {} / {} ({}) |",
        s.start.rss(),
        s.end.rss(),
        s.end.hwm()
    );
    println!(
        "| server fds start / peak / end | {} / {} / {} |",
        s.start.fds, s.peak_during.fds, s.end.fds
    );
    println!(
        "| server threads start / peak / end | {} / {} / {} |",
        s.start.threads, s.peak_during.threads, s.end.threads
    );
    if s.errors > 0 {
        failed.push(format!("soak: {} errors", s.errors));
        for m in &s.messages {
            println!("- ERROR {m}");
        }
    }
    if s.end.fds > s.start.fds {
        failed.push(format!(
            "soak: server fds {} at the end, {} at the start",
            s.end.fds, s.start.fds
        ));
    }
}

/// Each (budget, round) of CONNECTIONS, in that order: the columns of its table.
fn columns(conn_reports: &[ConnReport]) -> Vec<(&ConnReport, usize, &Round)> {
    conn_reports
        .iter()
        .flat_map(|r| {
            r.rounds
                .iter()
                .enumerate()
                .map(move |(i, round)| (r, i + 1, round))
        })
        .collect()
}

/// CONNECTIONS' table, a column per budget and round; its failed checks go to `failed`.
pub fn print_connections(config: &Config, conn_reports: &[ConnReport], failed: &mut Vec<String>) {
    println!();
    println!(
        "## connections: {} at once ({} stalled downloads `Range: bytes=0-` reading nothing after the head, {} idle sending nothing; client MSS 1460, SO_RCVBUF 4 KiB)",
        config.connections, config.stalled, config.connections - config.stalled
    );
    println!();
    let columns = columns(conn_reports);
    print!("| |");
    for (r, i, _) in &columns {
        print!(" budget {} MiB, round {i} |", r.budget / MIB);
    }
    println!();
    print!("|---|");
    for _ in &columns {
        print!("---|");
    }
    println!();
    let row = |name: &str, f: &dyn Fn(&ConnReport, &Round) -> String| {
        print!("| {name} |");
        for (r, _, round) in &columns {
            print!(" {} |", f(r, round));
        }
        println!();
    };
    row("server args", &|r, _| r.server_args.clone());
    row("server RSS / fds before (fresh server)", &|r, _| {
        format!("{} / {}", r.base.rss(), r.base.fds)
    });
    row("connections open (stalled + idle)", &|r, x| {
        format!("{} + {} of {}", x.stalled_ok, x.idle_ok, r.wanted)
    });
    row(
        "time to open them (machine's ListenOverflows meanwhile)",
        &|_, x| format!("{:.1} s ({})", x.open_secs, x.listen_overflows),
    );
    row("server RSS with the stalled only", &|_, x| {
        x.after_stalled.rss()
    });
    row("server RSS with all open", &|_, x| x.during.rss());
    row("server VmHWM with all open", &|_, x| x.during.hwm());
    row("RSS per stalled / per idle connection", &|r, x| {
        let stalled = x.after_stalled.rss_kib.saturating_sub(r.base.rss_kib) as f64;
        let idle = x.during.rss_kib.saturating_sub(x.after_stalled.rss_kib) as f64;
        format!(
            "{:.0} KiB / {:.1} KiB",
            stalled / x.stalled_ok.max(1) as f64,
            idle / x.idle_ok.max(1) as f64
        )
    });
    row("server fds with all open (sockets + others)", &|_, x| {
        format!("{} ({} + {})", x.during.fds, x.fd_sockets, x.fd_others)
    });
    row("client sockets established (stalled, idle)", &|_, x| {
        format!(
            "{}, {}",
            x.stalled_states.established, x.idle_states.established
        )
    });
    row("server threads with all open", &|_, x| {
        x.during.threads.to_string()
    });
    row("kernel TCP memory, machine-wide (before)", &|r, x| {
        format!(
            "{:.0} MiB ({:.0} MiB)",
            x.kernel_tcp_mib, r.kernel_tcp_base_mib
        )
    });
    row("age of oldest idle / stalled at measurement", &|_, x| {
        format!(
            "{:.1} s / {:.1} s",
            x.oldest_idle_secs, x.oldest_stalled_secs
        )
    });
    row("fresh request (new conn, bytes=0-1023)", &|_, x| {
        ms(&x.fresh[0])
    });
    row("fresh requests 2nd..5th", &|_, x| {
        x.fresh[1..].iter().map(ms).collect::<Vec<_>>().join(", ")
    });
    row("server RSS after closing all (VmHWM)", &|_, x| {
        format!("{} ({})", x.after.rss(), x.after.hwm())
    });
    row("server fds after closing all", &|_, x| {
        x.after.fds.to_string()
    });
    row("fresh request after closing", &|_, x| ms(&x.fresh_after));
    for (r, i, x) in &columns {
        let label = format!("connections (budget {} MiB, round {i})", r.budget / MIB);
        if x.stalled_ok + x.idle_ok < r.wanted {
            failed.push(format!(
                "{label}: only {} of {} connections opened: {:?}",
                x.stalled_ok + x.idle_ok,
                r.wanted,
                r.failures
            ));
        }
        let accepted = x.fd_sockets.saturating_sub(r.base_sockets);
        if accepted < (x.stalled_ok + x.idle_ok) as u64 {
            failed.push(format!(
                "{label}: the server had accepted {accepted} of the {} open connections at the measurement",
                x.stalled_ok + x.idle_ok
            ));
        }
        for (what, states) in [("stalled", x.stalled_states), ("idle", x.idle_states)] {
            if states.close_wait + states.other > 0 {
                failed.push(format!(
                    "{label}: at the measurement ({:.1} s after the first stalled, {:.1} s after the first idle connection), {} {what} connections were closed by the server and {} in another TCP state",
                    x.oldest_stalled_secs, x.oldest_idle_secs, states.close_wait, states.other
                ));
            }
        }
        for (n, f) in x.fresh.iter().enumerate() {
            if let Err(e) = f {
                failed.push(format!("{label}: fresh request {}: {e}", n + 1));
            }
        }
        if let Err(e) = &x.fresh_after {
            failed.push(format!("{label}: fresh request after closing: {e}"));
        }
        if x.after.fds > r.base.fds {
            failed.push(format!(
                "{label}: server fds {} after closing, {} before",
                x.after.fds, r.base.fds
            ));
        }
    }
}

/// Where and how long it ran, and the notes gathered on the way.
pub fn print_footer(
    version: &str,
    total_secs: f64,
    load_start: &str,
    load_end: &str,
    notes: &[String],
) {
    println!();
    println!(
        "server built from {version}; {}",
        procfs::kernel_release()
            .map(|r| format!("Linux {r}"))
            .unwrap_or_default()
    );
    println!(
        "total {total_secs:.0} s; load average (1/5/15 min) at start {load_start}, at end {load_end}; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for n in notes {
        println!("note: {n}");
    }
}

/// The verdict: exits with 1 when any check failed.
pub fn exit_with_verdict(failed: &[String]) {
    if failed.is_empty() {
        println!("RESULT: all checks passed");
    } else {
        for f in failed {
            println!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}
