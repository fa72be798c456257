//! The request pipeline every service of the crate runs: method → resolve → preconditions and
//! plan → body. One function, so that a file, a tree or a store gets the same semantics.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use http::request::Parts;
use http::{Method, Response};

use crate::body::RangeBody;
use crate::open_error::{OpenError, OpenErrorKind};
use crate::rate::{RateLimit, Throttle};
use crate::read::{ReadConfig, RegionReader, Regions};
use crate::resolve::{Opened, Resolver};
use crate::resources::Resources;
use crate::response::{method_not_allowed, open_failed, plan, PlanOptions, Segment, TextPlan};

/// What a service configures of the pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) plan: PlanOptions,
    pub(crate) frame_size: usize,
    pub(crate) read_ahead: usize,
    pub(crate) resources: Resources,
    pub(crate) rate_limit: Option<RateLimit>,
}

/// Answers one request: `405` for methods other than GET and HEAD (nothing is opened), the
/// miss's status when `resolver` finds nothing, else the planned response with its body.
pub(crate) async fn respond<R: Resolver>(
    resolver: &R,
    settings: &Settings,
    head: Parts,
) -> Response<RangeBody<R::Reader>> {
    match respond_or_miss(resolver, settings, head).await {
        Outcome::Answer(response) => response,
        Outcome::Miss(head, error) => with_answer_headers(resolver, miss(&head, error)),
    }
}

/// `response` with the headers `resolver` adds to every answer.
pub(crate) fn with_answer_headers<R: Resolver, B>(
    resolver: &R,
    mut response: Response<B>,
) -> Response<B> {
    resolver.answer_headers(response.headers_mut());
    response
}

/// What the pipeline made of a request: an answer, or a miss with the request head given
/// back (for a fallback service).
pub(crate) enum Outcome<R: RegionReader> {
    Answer(Response<RangeBody<R>>),
    Miss(Parts, OpenError),
}

/// As [`respond`], but a miss is handed back instead of answered.
pub(crate) async fn respond_or_miss<R: Resolver>(
    resolver: &R,
    settings: &Settings,
    head: Parts,
) -> Outcome<R::Reader> {
    if head.method != Method::GET && head.method != Method::HEAD {
        crate::metrics::request_answered(http::StatusCode::METHOD_NOT_ALLOWED);
        return Outcome::Answer(with_answer_headers(
            resolver,
            in_memory(method_not_allowed()),
        ));
    }
    // A reader may find, at its first read, that the version described is gone (an object
    // replaced after its metadata was cached): the request is resolved again, once.
    let mut resolved_again = false;
    let response = loop {
        let Opened {
            metadata,
            reader,
            rate_limit,
            ..
        } = match resolver.resolve(&head, &settings.resources).await {
            Ok(opened) => opened,
            Err(error) => return Outcome::Miss(head, error),
        };
        let plan = plan(
            &head.method,
            &head.headers,
            &metadata,
            &settings.plan,
            SystemTime::now(),
            new_boundary,
        );
        let reads = plan.body.iter().any(|s| matches!(s, Segment::Region(_)));
        if !reads {
            // HEAD, 304, 412, 416, an empty file: nothing to read, so the reader (and the
            // file it holds open) goes now rather than with the body.
            crate::metrics::request_answered(plan.status);
            let chunks = plan.body.into_iter().filter_map(|segment| match segment {
                Segment::Bytes(bytes) => Some(bytes),
                Segment::Region(_) => None,
            });
            let mut response = Response::new(RangeBody::from_chunks(chunks.collect()));
            *response.status_mut() = plan.status;
            *response.headers_mut() = plan.headers;
            break response;
        }
        // The most specific limit: the request's, the representation's, the service's.
        let throttle = head
            .extensions
            .get::<RateLimit>()
            .copied()
            .or(rate_limit)
            .or(settings.rate_limit)
            .and_then(Throttle::new);
        let frame_size = match &throttle {
            Some(throttle) => throttle.limit().frame_size(settings.frame_size),
            None => settings.frame_size,
        };
        let config = ReadConfig::new(
            frame_size,
            settings.read_ahead,
            Some(settings.resources.budget().clone()),
        );
        match reader.prepare(Regions::new(&plan.body), &config).await {
            Ok(()) => {}
            Err(error) if error.kind() == OpenErrorKind::Changed && !resolved_again => {
                resolved_again = true;
                continue;
            }
            Err(error) => return Outcome::Miss(head, error),
        }
        crate::metrics::request_answered(plan.status);
        let mut response = Response::new(RangeBody::regions(reader, plan.body, config, throttle));
        *response.status_mut() = plan.status;
        *response.headers_mut() = plan.headers;
        break response;
    };
    Outcome::Answer(with_answer_headers(resolver, response))
}

/// The answer to a miss: its status, a fixed text, `Location` for a redirect; logged.
pub(crate) fn miss<R: RegionReader>(head: &Parts, error: OpenError) -> Response<RangeBody<R>> {
    if error.kind().is_miss() {
        tracing::debug!(%error, path = head.uri.path(), "nothing to serve");
    } else {
        // The path only: a query may carry a signature or a token.
        tracing::warn!(%error, path = head.uri.path(), "opening the representation failed");
    }
    let mut answer = open_failed(error.kind());
    crate::metrics::request_answered(answer.status);
    if let Some(location) = error.location() {
        answer
            .headers
            .insert(http::header::LOCATION, location.clone());
    }
    in_memory(answer)
}

/// A response whose body is a fixed text: no representation involved.
pub(crate) fn in_memory<R: RegionReader>(text: TextPlan) -> Response<RangeBody<R>> {
    let mut response = Response::new(RangeBody::from_bytes(text.body));
    *response.status_mut() = text.status;
    *response.headers_mut() = text.headers;
    response
}

/// A multipart boundary: 32 hex digits from the standard library's randomly keyed hasher, so
/// that a client cannot predict it and plant it in a file.
fn new_boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let keys = RandomState::new();
    format!("{:016x}{:016x}", keys.hash_one(n), keys.hash_one(!n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_long_and_distinct() {
        let a = new_boundary();
        let b = new_boundary();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn every_answer_is_counted_by_its_status_and_timed_to_its_head() {
        use tower_service::Service;

        use crate::metrics::recorded::Recorded;
        use crate::{MemorySource, RangeFileService};

        let recorded = Recorded::default();
        recorded.during(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut memory = RangeFileService::from_source(MemorySource::new("0123456789"));
                let mut missing = RangeFileService::new("/nonexistent/tower-range/file");
                let get = |headers: &[(http::HeaderName, &str)]| {
                    let mut request = http::Request::get("/");
                    for (name, value) in headers {
                        request = request.header(name, *value);
                    }
                    request.body(()).unwrap()
                };
                let Ok(whole) = memory.call(get(&[])).await;
                let etag = whole.headers()[http::header::ETAG]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let asked = [
                    (get(&[(http::header::RANGE, "bytes=0-3")]), 206),
                    (get(&[(http::header::IF_NONE_MATCH, &etag)]), 304),
                    (get(&[(http::header::RANGE, "bytes=50-60")]), 416),
                    (get(&[(http::header::RANGE, "bytes=2-3")]), 206),
                ];
                for (request, status) in asked {
                    let Ok(response) = memory.call(request).await;
                    assert_eq!(response.status(), status);
                }
                let post = http::Request::post("/").body(()).unwrap();
                let Ok(response) = memory.call(post).await;
                assert_eq!(response.status(), 405);
                let Ok(response) = missing.call(get(&[])).await;
                assert_eq!(response.status(), 404);
            });
        });
        let by_status =
            |status| recorded.counter("tower_range_requests_total", &[("status", status)]);
        let counts = ["200", "206", "304", "404", "405", "416"].map(by_status);
        assert_eq!(counts, [1, 2, 1, 1, 1, 1]);
        let heads = recorded.histogram("tower_range_response_head_seconds");
        assert_eq!(heads.len(), 7);
        assert!(heads.iter().all(|seconds| *seconds >= 0.0));
    }
}
