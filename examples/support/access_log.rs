//! The example server's access log: one line per response, written when its body ends, fails
//! or is dropped.

use std::fmt::Write as _;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::MakeWriter;

use crate::watchdog::Activity;

/// Where access lines go: the log's writer thread ([`install`]).
static WRITER: OnceLock<NonBlocking> = OnceLock::new();

/// Sends access lines to `writer` (the one the tracing subscriber writes to) instead of
/// through the subscriber, in batches ([`PENDING`]): an access line may reach the log up to a
/// second after the lines the subscriber wrote meanwhile.
///
/// Formatting a line through `tracing-subscriber`'s `fmt` layer (its field visitor, its
/// escaping writer that copies the message a character at a time, the fmt machinery) cost
/// 19,500 instructions a request on W3 (callgrind), more than the rest of the request; the
/// line is built here with plain appends instead, in the same format. Whether it is written
/// is still `RUST_LOG`'s to say: the request's log is only made when the `access` target is
/// enabled at `INFO`.
pub fn install(writer: NonBlocking) {
    let _ = WRITER.set(writer);
}

/// What the log line says of the request, taken when it arrives.
pub struct RequestLog {
    /// The conditional headers the request carried, e.g. `none-match,range`, or `-`.
    conditions: String,
    method: Method,
    path: String,
    range: Option<String>,
    version: http::Version,
    started: Instant,
}

impl RequestLog {
    /// What `request` asks for.
    pub fn of<B>(request: &Request<B>) -> Self {
        let conditions: Vec<&str> = [
            (http::header::IF_MATCH, "match"),
            (http::header::IF_NONE_MATCH, "none-match"),
            (http::header::IF_MODIFIED_SINCE, "modified-since"),
            (http::header::IF_UNMODIFIED_SINCE, "unmodified-since"),
            (http::header::IF_RANGE, "range"),
        ]
        .into_iter()
        .filter(|(name, _)| request.headers().contains_key(name))
        .map(|(_, short)| short)
        .collect();
        Self {
            conditions: if conditions.is_empty() {
                "-".to_owned()
            } else {
                conditions.join(",")
            },
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            range: request
                .headers()
                .get(http::header::RANGE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            version: request.version(),
            started: Instant::now(),
        }
    }

    /// Appends the access line of this request's response to `line`.
    fn append_to(&self, line: &mut String, status: StatusCode, sent: u64, outcome: &str) {
        push_timestamp(line);
        line.push_str("  INFO access: ");
        line.push_str(self.method.as_str());
        line.push(' ');
        push_printable(line, &self.path);
        line.push(' ');
        line.push_str(version_name(self.version));
        line.push_str(" range=");
        push_printable(line, self.range.as_deref().unwrap_or("-"));
        let _ = write!(
            line,
            " status={} bytes={sent} {outcome} in ",
            status.as_str()
        );
        push_duration(line, self.started.elapsed());
        line.push_str(" if=");
        line.push_str(&self.conditions);
        line.push('\n');
    }
}

pin_project_lite::pin_project! {
    /// Wraps a response body to write one log line when it ends, fails or is dropped.
    pub struct Logged<B: Body> {
        #[pin]
        body: B,
        log: Option<Arc<RequestLog>>,
        status: StatusCode,
        sent: u64,
        outcome: Option<&'static str>,
        activity: Option<Arc<Activity>>,
    }

    impl<B: Body> PinnedDrop for Logged<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(activity) = this.activity {
                activity.request_ended();
            }
            let Some(log) = this.log.as_ref() else {
                return;
            };
            // hyper stops polling a body that says it has ended, so its end may not be seen.
            let ended = this.body.as_ref().get_ref().is_end_stream();
            let outcome = this
                .outcome
                .unwrap_or(if ended { "complete" } else { "aborted" });
            queue(|pending| log.append_to(pending, *this.status, *this.sent, outcome));
        }
    }
}

/// Access lines not yet handed to the writer thread. A line handed on alone costs a wake-up
/// of that thread and a write: more than formatting it. So lines gather here and go in
/// batches of [`BATCH`] bytes, and at least every [`FLUSH_EVERY`] ([`flush_every_second`]),
/// and at shutdown ([`flush`]): nginx's `access_log … buffer=… flush=…`.
static PENDING: Mutex<String> = Mutex::new(String::new());
/// The size of a batch of access lines.
const BATCH: usize = 32 * 1024;
/// The longest an access line waits in [`PENDING`].
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Appends a line to the pending ones (under the lock: formatting it in place costs no
/// allocation of its own), and hands them on once they make a batch.
fn queue(append: impl FnOnce(&mut String)) {
    let batch = {
        let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
        append(&mut pending);
        (pending.len() >= BATCH).then(|| std::mem::replace(&mut *pending, new_batch()))
    };
    if let Some(batch) = batch {
        hand_on(&batch);
    }
}

/// An empty batch with room for a whole one, so that it does not grow line by line.
fn new_batch() -> String {
    String::with_capacity(BATCH + BATCH / 8)
}

/// Hands every pending access line to the writer thread.
pub fn flush() {
    let batch = {
        let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.is_empty() {
            return;
        }
        std::mem::replace(&mut *pending, new_batch())
    };
    hand_on(&batch);
}

/// Flushes the pending access lines every [`FLUSH_EVERY`], on the runtime it is called on.
pub fn flush_every_second() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            flush();
        }
    });
}

fn hand_on(batch: &str) {
    match WRITER.get() {
        Some(writer) => {
            let _ = writer.make_writer().write_all(batch.as_bytes());
        }
        None => eprint!("{batch}"),
    }
}

/// `HTTP/1.1`, as `http::Version`'s `Debug` writes it.
fn version_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

/// The time as the tracing subscriber writes it (`2026-12-03T15:20:00.614179Z`). The date
/// and time to the second are formatted once a second per thread, by the subscriber's own
/// timer, and reused; only the microseconds are written per line.
fn push_timestamp(line: &mut String) {
    thread_local! {
        static SECOND: std::cell::RefCell<(u64, String)> = const {
            std::cell::RefCell::new((u64::MAX, String::new()))
        };
    }
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with_borrow_mut(|(second, prefix)| {
        if *second != since.as_secs() {
            let mut full = String::new();
            let _ = SystemTime.format_time(&mut Writer::new(&mut full));
            // Cut at the fraction; should the format ever lack one, keep it whole.
            full.truncate(full.find('.').unwrap_or(full.len()));
            *prefix = full;
            *second = since.as_secs();
        }
        line.push_str(prefix);
    });
    let _ = write!(line, ".{:06}Z", since.subsec_micros());
}

/// A duration in the units `Debug` picks, with one decimal (`66.4µs`, `2.1ms`, `4.0s`;
/// halves round up).
fn push_duration(line: &mut String, duration: std::time::Duration) {
    let nanos = duration.as_nanos();
    let (tenths, unit) = match nanos {
        0..1_000 => {
            let _ = write!(line, "{nanos}.0ns");
            return;
        }
        1_000..1_000_000 => ((nanos + 50) / 100, "µs"),
        1_000_000..1_000_000_000 => ((nanos + 50_000) / 100_000, "ms"),
        _ => ((nanos + 50_000_000) / 100_000_000, "s"),
    };
    let _ = write!(line, "{}.{}{unit}", tenths / 10, tenths % 10);
}

/// Appends `text` with control characters (none reach here through hyper's parser, but a log
/// line must never carry a terminal escape or a line break) replaced by `?`.
fn push_printable(line: &mut String, text: &str) {
    match text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        false => line.push_str(text),
        true => line.extend(text.chars().map(|c| if c.is_control() { '?' } else { c })),
    }
}

impl<B: Body> Logged<B> {
    pub fn new(
        body: B,
        log: Option<Arc<RequestLog>>,
        status: StatusCode,
        activity: Option<Arc<Activity>>,
    ) -> Self {
        Self {
            body,
            log,
            status,
            sent: 0,
            outcome: None,
            activity,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Logged<B>
where
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        // Being polled is progress: the connection has room for the body's bytes (hyper polls
        // a body only then), so a response waiting on its rate limit or on the disk is not a
        // stalled client. A throttled body is polled at least once a second.
        if let Some(activity) = this.activity {
            activity.touch();
        }
        let polled = this.body.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.sent += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => *this.outcome = Some("failed"),
            Poll::Ready(None) => {
                this.outcome.get_or_insert("complete");
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations_are_written_in_debug_units_with_one_decimal() {
        for (nanos, text) in [
            (0, "0.0ns"),
            (7, "7.0ns"),
            (1_000, "1.0µs"),
            (66_449, "66.4µs"),
            (999_949, "999.9µs"),
            (2_149_999, "2.1ms"),
            (4_049_999_999, "4.0s"),
            (3_600_000_000_000, "3600.0s"),
        ] {
            let mut line = String::new();
            push_duration(&mut line, Duration::from_nanos(nanos));
            assert_eq!(line, text, "{nanos} ns");
        }
    }

    #[test]
    fn versions_are_named_as_debug_names_them() {
        for version in [
            http::Version::HTTP_10,
            http::Version::HTTP_11,
            http::Version::HTTP_2,
        ] {
            assert_eq!(version_name(version), format!("{version:?}"));
        }
    }
}
