//! Live metrics, recorded through the [`metrics`](https://docs.rs/metrics/0.24) facade when
//! the cargo feature `metrics` is on.
//!
//! Nothing is exported unless the application installs a recorder (for example
//! `metrics-exporter-prometheus`); without one each event costs a check of the global
//! recorder, and without the feature the calls compile to nothing. No handle is cached: every
//! event goes through the facade's macros, so a recorder installed at any time sees every
//! later event. Install it before serving, though: the gauges move by increments, so a body
//! or a read-ahead frame that began before the recorder would be subtracted without having
//! been added.
//!
//! Call `describe()` (there with the feature) once after installing the recorder to give each
//! metric its help text and unit. Labels take values from small fixed sets (never a path or a
//! client address), so the number of series stays bounded.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tower_range_requests_total` | counter | `status` | requests answered by a service, by the status it answered: `200`, `206`, `304`, `412`, `416`, the misses (`404`, `403`, `308`, …) and `405`. A miss that a [`Fallback`](crate::fallback::Fallback) hands to its fallback service is not counted (the fallback answers it). |
//! | `tower_range_response_head_seconds` | histogram | none | time from a service's `call` to its response head (resolve, open, plan), for every answer. |
//! | `tower_range_sent_bytes_total` | counter | none | body bytes handed on to the server (counted per frame), of every body. |
//! | `tower_range_bodies_ended_total` | counter | `outcome` | streaming bodies (those that read the representation) by how they ended: `completed` (everything handed on), `cut` (the body yielded an error: the source failed, ended early or changed) or `aborted` (dropped before its end: the client went away). |
//! | `tower_range_bodies_active` | gauge | none | streaming bodies alive now. Bodies of bytes already in memory (`304`, `416`, HEAD, error texts) are counted neither here nor by outcome: they hold nothing and cannot be cut. |
//! | `tower_range_read_ahead_bytes` | gauge | none | bytes of frames read ahead and not yet handed on, held against read-ahead budgets ([`ReadAheadBudget`](crate::ReadAheadBudget)), summed over every budget. |
//! | `tower_range_blocking_operations_running` | gauge | none | blocking file operations (opens, reads) running on the blocking pool under a [`BlockingLimit`](crate::BlockingLimit). |
//! | `tower_range_blocking_operations_waiting` | gauge | none | blocking file operations waiting for a slot of their [`BlockingLimit`](crate::BlockingLimit). |

// Without the feature every function below has an empty body.
#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

use http::StatusCode;

/// How a streaming body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyOutcome {
    /// It handed on every byte it planned.
    Completed,
    /// It yielded an error: the source failed, ended early or changed.
    Cut,
    /// It was dropped before its end: the client went away.
    Aborted,
}

/// Gives every metric its help text and unit. Call it once after installing the recorder;
/// without a recorder it does nothing.
///
/// ```no_run
/// use metrics_exporter_prometheus::PrometheusBuilder;
///
/// // Buckets rather than summaries, so that several replicas can be added up.
/// let prometheus = PrometheusBuilder::new()
///     .set_buckets(&[0.001, 0.01, 0.1, 1.0, 10.0])
///     .unwrap()
///     .install_recorder()
///     .unwrap();
/// tower_range::metrics::describe();
/// // Serve `prometheus.render()` at /metrics; call `prometheus.run_upkeep()` every few
/// // seconds.
/// # let _ = prometheus;
/// ```
#[cfg(feature = "metrics")]
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "tower_range_requests_total",
        Unit::Count,
        "Requests answered, by the status of the answer."
    );
    describe_histogram!(
        "tower_range_response_head_seconds",
        Unit::Seconds,
        "Time from the service's call to the response head."
    );
    describe_counter!(
        "tower_range_sent_bytes_total",
        Unit::Bytes,
        "Body bytes handed on to the server."
    );
    describe_counter!(
        "tower_range_bodies_ended_total",
        Unit::Count,
        "Streaming bodies by how they ended: completed, cut (source error) or aborted (client gone)."
    );
    describe_gauge!(
        "tower_range_bodies_active",
        Unit::Count,
        "Streaming bodies alive now."
    );
    describe_gauge!(
        "tower_range_read_ahead_bytes",
        Unit::Bytes,
        "Bytes read ahead and not yet handed on, held against read-ahead budgets."
    );
    describe_gauge!(
        "tower_range_blocking_operations_running",
        Unit::Count,
        "Blocking file operations running."
    );
    describe_gauge!(
        "tower_range_blocking_operations_waiting",
        Unit::Count,
        "Blocking file operations waiting for a slot of their limit."
    );
}

/// A service answered a request with `status`.
#[inline]
pub(crate) fn request_answered(status: StatusCode) {
    #[cfg(feature = "metrics")]
    {
        // One arm per status the crate answers, each a static key: no allocation per request.
        macro_rules! count_by_status {
            ($($code:literal => $label:literal,)*) => {
                match status.as_u16() {
                    $($code => ::metrics::counter!("tower_range_requests_total", "status" => $label).increment(1),)*
                    // Another status (a resolver's own): still a bounded set, at the cost of
                    // an allocation.
                    _ => ::metrics::counter!(
                        "tower_range_requests_total",
                        "status" => status.as_str().to_owned()
                    )
                    .increment(1),
                }
            };
        }
        count_by_status! {
            200 => "200",
            206 => "206",
            304 => "304",
            308 => "308",
            400 => "400",
            403 => "403",
            404 => "404",
            405 => "405",
            412 => "412",
            414 => "414",
            416 => "416",
            500 => "500",
            502 => "502",
            504 => "504",
        }
    }
}

/// When a service's `call` began; [`response_head_ready`] records the time since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallStarted {
    #[cfg(feature = "metrics")]
    at: std::time::Instant,
}

/// A service's `call` began.
#[inline]
pub(crate) fn call_started() -> CallStarted {
    CallStarted {
        #[cfg(feature = "metrics")]
        at: std::time::Instant::now(),
    }
}

/// The response head of the call begun at `started` is ready.
#[inline]
pub(crate) fn response_head_ready(started: CallStarted) {
    #[cfg(feature = "metrics")]
    ::metrics::histogram!("tower_range_response_head_seconds").record(started.at.elapsed());
}

/// A body handed on a frame of `bytes` bytes.
#[inline]
pub(crate) fn frame_sent(bytes: usize) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!("tower_range_sent_bytes_total").increment(bytes as u64);
}

/// A streaming body began.
#[inline]
pub(crate) fn body_started() {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("tower_range_bodies_active").increment(1.0);
}

/// A streaming body ended (it is being dropped) with `outcome`.
#[inline]
pub(crate) fn body_ended(outcome: BodyOutcome) {
    #[cfg(feature = "metrics")]
    {
        ::metrics::gauge!("tower_range_bodies_active").decrement(1.0);
        match outcome {
            BodyOutcome::Completed => {
                ::metrics::counter!("tower_range_bodies_ended_total", "outcome" => "completed")
                    .increment(1)
            }
            BodyOutcome::Cut => {
                ::metrics::counter!("tower_range_bodies_ended_total", "outcome" => "cut")
                    .increment(1)
            }
            BodyOutcome::Aborted => {
                ::metrics::counter!("tower_range_bodies_ended_total", "outcome" => "aborted")
                    .increment(1)
            }
        }
    }
}

/// `bytes` of a read-ahead budget were taken for a frame.
#[inline]
pub(crate) fn read_ahead_taken(bytes: u64) {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("tower_range_read_ahead_bytes").increment(bytes as f64);
}

/// `bytes` of a read-ahead budget were given back.
#[inline]
pub(crate) fn read_ahead_released(bytes: u64) {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("tower_range_read_ahead_bytes").decrement(bytes as f64);
}

/// A blocking operation waiting for a slot; counted in
/// `tower_range_blocking_operations_waiting` from [`blocking_wait_started`] until it is
/// dropped (it got its slot, or it was cancelled).
#[derive(Debug)]
pub(crate) struct BlockingWaiting(());

/// A blocking operation began to wait for a slot.
#[inline]
pub(crate) fn blocking_wait_started() -> BlockingWaiting {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("tower_range_blocking_operations_waiting").increment(1.0);
    BlockingWaiting(())
}

impl Drop for BlockingWaiting {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        ::metrics::gauge!("tower_range_blocking_operations_waiting").decrement(1.0);
    }
}

/// A blocking operation running; counted in `tower_range_blocking_operations_running` from
/// [`blocking_operation_started`] until it is dropped (the operation returned or panicked).
#[derive(Debug)]
pub(crate) struct BlockingRunning(());

/// A blocking operation began to run.
#[inline]
pub(crate) fn blocking_operation_started() -> BlockingRunning {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("tower_range_blocking_operations_running").increment(1.0);
    BlockingRunning(())
}

impl Drop for BlockingRunning {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        ::metrics::gauge!("tower_range_blocking_operations_running").decrement(1.0);
    }
}

/// What a recorder saw, for the unit tests of the modules that record.
#[cfg(all(test, feature = "metrics"))]
pub(crate) mod recorded {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

    /// A metric's name and its labels, sorted.
    type Series = (String, Vec<(String, String)>);

    /// A recorder for the events of closures run on this thread (a thread-local recorder, so
    /// that tests running in parallel do not see each other's events).
    pub(crate) struct Recorded {
        recorder: DebuggingRecorder,
        snapshotter: Snapshotter,
        /// What the snapshots held so far: a snapshot resets counters and gauges to 0 and
        /// empties histograms, so the values are added up here. Adding up is exact for the
        /// gauges because the crate only ever moves them by increments.
        seen: Mutex<HashMap<Series, Seen>>,
    }

    #[derive(Debug, Clone)]
    enum Seen {
        Counter(u64),
        Gauge(f64),
        Histogram(Vec<f64>),
    }

    impl Default for Recorded {
        fn default() -> Self {
            let recorder = DebuggingRecorder::new();
            let snapshotter = recorder.snapshotter();
            Self {
                recorder,
                snapshotter,
                seen: Mutex::default(),
            }
        }
    }

    impl Recorded {
        /// Runs `f`, recording what it records.
        pub(crate) fn during<T>(&self, f: impl FnOnce() -> T) -> T {
            ::metrics::with_local_recorder(&self.recorder, f)
        }

        fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<Seen> {
            let mut seen = self.seen.lock().unwrap();
            for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
                let key = key.key();
                let mut labels: Vec<(String, String)> = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                let entry = seen.entry((key.name().to_owned(), labels));
                match (entry.or_insert_with(|| empty(&value)), value) {
                    (Seen::Counter(total), DebugValue::Counter(n)) => *total += n,
                    (Seen::Gauge(total), DebugValue::Gauge(delta)) => *total += delta.into_inner(),
                    (Seen::Histogram(all), DebugValue::Histogram(values)) => {
                        all.extend(values.into_iter().map(|v| v.into_inner()))
                    }
                    (kind, value) => panic!("{name} changed kind: {kind:?}, then {value:?}"),
                }
            }
            let mut wanted: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            wanted.sort();
            seen.get(&(name.to_owned(), wanted)).cloned()
        }

        /// The counter `name` with `labels`; 0 if it was never incremented.
        pub(crate) fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
            match self.value(name, labels) {
                Some(Seen::Counter(n)) => n,
                None => 0,
                Some(other) => panic!("{name} is not a counter: {other:?}"),
            }
        }

        /// The gauge `name`; 0 if it never moved.
        pub(crate) fn gauge(&self, name: &str) -> f64 {
            match self.value(name, &[]) {
                Some(Seen::Gauge(value)) => value,
                None => 0.0,
                Some(other) => panic!("{name} is not a gauge: {other:?}"),
            }
        }

        /// The samples of the histogram `name`.
        pub(crate) fn histogram(&self, name: &str) -> Vec<f64> {
            match self.value(name, &[]) {
                Some(Seen::Histogram(values)) => values,
                None => Vec::new(),
                Some(other) => panic!("{name} is not a histogram: {other:?}"),
            }
        }
    }

    fn empty(value: &DebugValue) -> Seen {
        match value {
            DebugValue::Counter(_) => Seen::Counter(0),
            DebugValue::Gauge(_) => Seen::Gauge(0.0),
            DebugValue::Histogram(_) => Seen::Histogram(Vec::new()),
        }
    }
}
