//! The object-store workloads of issue 13, against the example server serving the data file
//! from s3s-fs (`server s3://bench/KEY`) and against two floors (`examples/store_copy.rs`,
//! the same GETs with `object_store` in one process, no HTTP serving), all pinned to CPU 0:
//! `store-floor` drops the bytes it receives; `store-floor-send` writes them, each loop to a
//! TCP connection of its own, to a sink (`--role sink`, on CPU 1 like the load clients) that
//! reads and discards them, as the server writes them to its clients.
//!
//! - WS1, W1's shape: 4 connections each streaming the whole object (`bytes=0-`), again and
//!   again; the floors: 4 loops of GETs of the whole object.
//! - WS2, W2's shape: 64 connections of 1 MiB ranges at random offsets; the floors: 64 loops
//!   of 1 MiB ranged GETs.
//! - WS4, W4's clients: `BENCH_WS4_CONNS` (200) connections asking for the first 512 MiB, half
//!   reading at 64 KiB/s, half stalled after the head; the server's memory against the
//!   stated bound (our server only: the floors serve no clients).
//!
//! Each records the process's CPU per GiB (its own, not the store's: s3s-fs and the proxy are
//! on CPU 1 and recorded apart as `<w>_store_cpu_util`), and the store's requests the proxy
//! counted per request the clients sent. Requests in flight at the end are given time to
//! finish (`DRAIN`), so that every request sent has reached the server when the GETs are
//! counted.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Stdio};

use crate::children::{pinned, track, untrack};
use crate::config::{Config, ServerSpec};
use crate::load::own_load_drained;
use crate::meter::{status_mib, Meter};
use crate::report::Sample;
use crate::servers::Running;
use crate::store::{floor_binary, Store};
use crate::workloads::{slow_clients, GIB};
use crate::MIB;

/// A workload's shape: connections (or the floor's loops), the range length (0: the whole
/// object), and how long the requests in flight at the end may finish. A 1 MiB range takes
/// milliseconds; a whole 1 GiB object seconds, so WS1 gives the one in flight a second, long
/// enough for a request just sent to reach the server (its GET is counted then).
fn shape(workload: &str) -> (usize, u64, f64) {
    match workload {
        "ws1" => (4, 0, 1.0),
        "ws2" => (64, MIB, 5.0),
        other => panic!("{other} has no streaming shape"),
    }
}

/// WS1 or WS2 through our server.
pub fn through_server(
    config: &Config,
    running: &Running,
    store: &Store,
    workload: &str,
    sample: &mut Sample,
) {
    let (conns, range_len, drain) = shape(workload);
    let before = store.upstream();
    let meter = Meter::with_helpers(running.pid(), &store.pids());
    let result = own_load_drained(config, running, conns, range_len, drain);
    let server_cpu = meter.finish(sample, workload);
    let upstream = store.upstream().since(before);
    let f = |k: &str| result[k].as_f64().unwrap_or(0.0);
    let key = |name: &str| format!("{workload}_{name}");
    let (bytes, secs, sent) = (f("body_bytes"), f("duration_s").max(1e-9), f("sent"));
    sample.set(&key("mb_s"), bytes / secs / 1e6);
    sample.set(&key("req_s"), f("requests") / secs);
    sample.set(&key("cpu_s_per_gib"), server_cpu / (bytes / GIB));
    sample.set(&key("requests"), sent);
    sample.set(&key("store_gets"), upstream.gets);
    sample.set(&key("store_gets_per_req"), upstream.gets / sent.max(1.0));
    sample.set(&key("store_heads"), upstream.heads);
    // Every GET of the store source carries the object's ETag (`If-Match`) and a `Range`.
    sample.set(
        &key("gets_without_if_match"),
        upstream.gets - upstream.conditional_gets,
    );
    sample.set(
        &key("errors"),
        f("errors") + f("bad_status") + upstream.others + upstream.unframed,
    );
    sample.set(&key("peak_rss_mib"), status_mib(running.pid(), "VmHWM"));
}

/// WS4 through our server: W4's slow clients, and the store's GETs per client (one each).
pub fn ws4(
    config: &Config,
    running: &Running,
    store: &Store,
    server: &ServerSpec,
    sample: &mut Sample,
) {
    let before = store.upstream();
    slow_clients(
        config,
        running,
        sample,
        "ws4",
        config.ws4_conns,
        &store.pids(),
    );
    let upstream = store.upstream().since(before);
    let connected = sample.metrics.get("ws4_connected").copied().unwrap_or(0.0);
    sample.set("ws4_store_gets", upstream.gets);
    sample.set("ws4_store_gets_per_req", upstream.gets / connected.max(1.0));
    sample.set("ws4_store_heads", upstream.heads);
    // The body's own share of the bound: `read_ahead × frame_size` (the store's chunks are
    // added by the report, from the largest the floor received).
    sample.set("ws4_frames_kib", frames_bytes(server) / 1024.0);
    sample.set("ws4_conns", config.ws4_conns as f64);
}

/// WS1 or WS2 by a floor: `store_copy` pinned to CPU 0 with the workload's shape; with
/// `send`, writing what it receives to a sink on CPU 1.
pub fn floor(config: &Config, store: &Store, workload: &str, send: bool, sample: &mut Sample) {
    let (conns, range_len, drain) = shape(workload);
    let mut args: Vec<String> = [
        store.url.clone(),
        "--size".into(),
        store.size.to_string(),
        "--conns".into(),
        conns.to_string(),
        "--secs".into(),
        config.secs.to_string(),
        "--drain".into(),
        drain.to_string(),
        "--range-len".into(),
        range_len.to_string(),
    ]
    .into();
    // The sink lives at most as long as the floor's run and then some.
    let sink = send.then(|| Sink::start(config.secs + drain + 120.0));
    if let Some(sink) = &sink {
        args.extend(["--send".into(), sink.addr.clone()]);
    }
    let mut command = pinned("0", &floor_binary(config), &args);
    store.client_env(&mut command);
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let before = store.upstream();
    let child = command.spawn().expect("starting the floor (store_copy)");
    track(child.id());
    // The floor is gone when the meter finishes, reaped: its CPU then counts among the
    // bench's children (so not as foreign), and the figure the meter takes for the server
    // is replaced below by the floor's own, measured over its copy loops without start-up.
    // The sink, reaped too before the meter finishes, is a client.
    let meter = Meter::with_helpers(child.id(), &store.pids());
    let pid = child.id();
    let output = child
        .wait_with_output()
        .expect("running the floor (store_copy)");
    untrack(pid);
    let sink = sink.map(Sink::finish);
    let _ = meter.finish(sample, workload);
    let upstream = store.upstream().since(before);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("store_copy said {stdout:?}"));
    let f = |k: &str| result[k].as_f64().unwrap_or(0.0);
    let key = |name: &str| format!("{workload}_{name}");
    let (bytes, secs, started) = (f("body_bytes"), f("duration_s").max(1e-9), f("started"));
    assert_eq!(
        result["sent"].as_bool(),
        Some(send),
        "store_copy did not send as asked: {stdout}"
    );
    sample.set(&key("server_cpu_util"), f("cpu_s") / secs);
    // The meter counted the floor itself among the clients: the receive-only floor has none,
    // the sending floor's client is the sink, whose own CPU it reported.
    sample.metrics.remove(&key("client_cpu_util"));
    let mut sink_errors = 0.0;
    if let Some(sink) = &sink {
        let s = |k: &str| sink[k].as_f64().unwrap_or(0.0);
        sample.set(&key("client_cpu_util"), s("client_cpu_s") / secs);
        sample.set(&key("sink_mib"), s("bytes") / MIB as f64);
        // Every byte written reached the sink (a write cut at the end adds a part of a chunk),
        // over one connection per loop, and the sink read each to its end.
        let lost = s("bytes") < f("sent_bytes") || f("sent_bytes") < bytes;
        sink_errors = s("errors")
            + f64::from(u8::from(lost))
            + f64::from(u8::from(s("connections") != conns as f64))
            + f64::from(u8::from(sink["timed_out"].as_bool() != Some(false)));
    }
    sample.set(&key("mb_s"), bytes / secs / 1e6);
    sample.set(&key("req_s"), f("finished") / secs);
    sample.set(&key("cpu_s_per_gib"), f("cpu_s") / (bytes / GIB));
    sample.set(&key("requests"), started);
    sample.set(&key("store_gets"), upstream.gets);
    sample.set(&key("store_gets_per_req"), upstream.gets / started.max(1.0));
    sample.set(&key("store_heads"), upstream.heads);
    sample.set(&key("largest_chunk_kib"), f("largest_chunk") / 1024.0);
    sample.set(
        &key("mean_chunk_kib"),
        bytes / f("chunks").max(1.0) / 1024.0,
    );
    sample.set(
        &key("errors"),
        f("errors") + upstream.others + upstream.unframed + sink_errors,
    );
}

/// The sending floor's sink: the bench's `--role sink` pinned to CPU 1, as the load clients.
struct Sink {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    /// Where it listens, `127.0.0.1:PORT`.
    addr: String,
}

impl Sink {
    /// Starts the sink, to live at most `lifetime` seconds, and waits for its address.
    fn start(lifetime: f64) -> Self {
        let exe = std::env::current_exe().expect("the bench's own path");
        let args = ["--role", "sink", "--secs", &lifetime.to_string()].map(String::from);
        let mut child = pinned("1", &exe, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the sink");
        track(child.id());
        let stdin = child.stdin.take().expect("the sink's input");
        let mut stdout = BufReader::new(child.stdout.take().expect("its output"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the sink's first line");
        let addr = line
            .trim()
            .strip_prefix("sink at ")
            .unwrap_or_else(|| panic!("the sink said {line:?}"))
            .to_string();
        Self {
            child,
            stdin,
            stdout,
            addr,
        }
    }

    /// Stops it (the end of its input) once the floor is gone, and returns what it read;
    /// reaped, so that its CPU counts among the bench's children.
    fn finish(self) -> serde_json::Value {
        let Sink {
            mut child,
            stdin,
            mut stdout,
            ..
        } = self;
        drop(stdin);
        let mut said = String::new();
        let _ = stdout.read_to_string(&mut said);
        let _ = child.wait();
        untrack(child.id());
        serde_json::from_str(said.lines().last().unwrap_or(""))
            .unwrap_or_else(|_| panic!("the sink said {said:?}"))
    }
}

/// What one body of `server` may read ahead: `read_ahead × frame_size`, from its flags or the
/// library's defaults (the example server's).
fn frames_bytes(server: &ServerSpec) -> f64 {
    let flag = |name: &str, default: usize| {
        crate::machine::flag(&server.args, name).map_or(default, |v| v.parse().unwrap_or(default))
    };
    let frame = flag("--frame-size", tower_range::DEFAULT_FRAME_SIZE)
        .clamp(tower_range::MIN_FRAME_SIZE, tower_range::MAX_FRAME_SIZE);
    let read_ahead = flag("--read-ahead", tower_range::DEFAULT_READ_AHEAD).max(1);
    (frame * read_ahead) as f64
}
