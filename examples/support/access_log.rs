//! The example server's access log: one line per response, written when its body ends, fails
//! or is dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body::{Body, Frame, SizeHint};

use crate::watchdog::Activity;

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
            tracing::info!(
                target: "access",
                "{} {} {:?} range={} status={} bytes={} {} in {:.1?} if={}",
                log.method,
                log.path,
                log.version,
                log.range.as_deref().unwrap_or("-"),
                this.status.as_u16(),
                this.sent,
                outcome,
                log.started.elapsed(),
                log.conditions,
            );
        }
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
