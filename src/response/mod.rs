//! Planning a response: status, headers and the byte regions of the body, from the request
//! head and the representation's metadata. Pure functions with no I/O; the service carries
//! out the plan.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, LAST_MODIFIED, RANGE, TRANSFER_ENCODING,
};
use http::{Method, StatusCode};

use self::header_values::{content_range, content_range_unsatisfied, http_date};
use self::multipart::multipart_body;
use crate::metadata::Metadata;
use crate::open_error::OpenErrorKind;
use crate::preconditions::{evaluate, Decision};
use crate::range::{coalesce, parse_range, RangeHeader, Region};
use crate::validator::Validators;

/// The part of the configuration that shapes headers.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The most ranges one request may ask for; a `Range` with more is ignored (200). `0`
    /// turns ranges off: every `Range` is ignored and answers say `Accept-Ranges: none`.
    pub max_ranges: usize,
    /// Overrides the source's `Content-Type`.
    pub content_type: Option<HeaderValue>,
    /// Sent with every `200`, `206` and `304`, e.g. `Cache-Control`.
    pub extra_headers: HeaderMap,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            max_ranges: DEFAULT_MAX_RANGES,
            content_type: None,
            extra_headers: HeaderMap::with_capacity(HEADERS),
        }
    }
}

/// The default of [`PlanOptions::max_ranges`]. Real clients ask for one range, rarely a
/// few; 64 leaves room for download managers while keeping multipart bookkeeping small.
pub const DEFAULT_MAX_RANGES: usize = 64;

/// One piece of a planned body, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes made by the planner: multipart framing or a short text body.
    Bytes(Bytes),
    /// Bytes of the representation.
    Region(Region),
}

/// A response, planned: what to send and which bytes to read.
#[derive(Debug, Clone)]
pub struct ResponsePlan {
    /// The status.
    pub status: StatusCode,
    /// The headers, `Content-Length` included whenever there is a body to describe.
    pub headers: HeaderMap,
    /// The body in order; empty for `HEAD`, `304` and when the representation is empty.
    pub body: Vec<Segment>,
}

impl ResponsePlan {
    /// The number of body bytes the plan sends.
    pub fn body_len(&self) -> u64 {
        segments_len(&self.body)
    }

    fn text(status: StatusCode, message: &'static str) -> Self {
        TextPlan::new(status, message).into()
    }
}

/// A response whose body is a short fixed text: no representation involved.
#[derive(Debug, Clone)]
pub struct TextPlan {
    /// The status.
    pub status: StatusCode,
    /// The headers: `Content-Type` and `Content-Length`, and any the answer needs (`Allow`).
    pub headers: HeaderMap,
    /// The text.
    pub body: Bytes,
}

impl TextPlan {
    fn new(status: StatusCode, message: &'static str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from(message.len()));
        Self {
            status,
            headers,
            body: Bytes::from_static(message.as_bytes()),
        }
    }
}

impl From<TextPlan> for ResponsePlan {
    fn from(text: TextPlan) -> Self {
        Self {
            status: text.status,
            headers: text.headers,
            body: vec![Segment::Bytes(text.body)],
        }
    }
}

/// `405 Method Not Allowed` for anything but GET and HEAD.
pub fn method_not_allowed() -> TextPlan {
    let mut plan = TextPlan::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    plan.headers
        .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    plan
}

/// The answer when there is nothing to serve: the status of `kind` (see
/// [`OpenErrorKind::status`]) with a body that says no more than the status, so that no path
/// or system detail leaks.
pub fn open_failed(kind: OpenErrorKind) -> TextPlan {
    TextPlan::new(kind.status(), kind.message())
}

/// Plans the answer to a GET or HEAD (any other method gets [`method_not_allowed`]) for the
/// representation `metadata` describes, at time `now`.
///
/// `boundary` is called only for a multipart answer; it must return a string that does not
/// occur in the representation (a long random token).
pub fn plan(
    method: &Method,
    headers: &HeaderMap,
    metadata: &Metadata,
    options: &PlanOptions,
    now: SystemTime,
    boundary: impl FnOnce() -> String,
) -> ResponsePlan {
    let is_head = method == Method::HEAD;
    if method != Method::GET && !is_head {
        return method_not_allowed().into();
    }
    let validators = Validators::new(metadata.etag(), metadata.modified(), now);
    let honor_range = match evaluate(method, headers, &validators) {
        Decision::Proceed { honor_range } => honor_range,
        Decision::NotModified => {
            let mut headers = HeaderMap::with_capacity(HEADERS);
            validator_headers(&mut headers, &validators);
            extend(&mut headers, &options.extra_headers);
            extend(&mut headers, metadata.headers());
            return ResponsePlan {
                status: StatusCode::NOT_MODIFIED,
                headers,
                body: Vec::new(),
            };
        }
        Decision::PreconditionFailed => {
            return ResponsePlan::text(StatusCode::PRECONDITION_FAILED, "precondition failed\n")
        }
    };
    let len = metadata.len();
    let content_type = options
        .content_type
        .clone()
        .or_else(|| metadata.content_type().cloned())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));

    // Range applies to GET only (RFC 9110 §14.2); HEAD answers what a plain GET would.
    let regions = match (
        is_head || !honor_range,
        range_header(headers, options.max_ranges),
    ) {
        (false, Some(RangeHeader::Bytes(ranges))) => Some(coalesce(&ranges, len)),
        _ => None,
    };

    let mut plan = match regions.as_deref() {
        None => full(len, content_type),
        Some([]) => {
            let mut plan =
                ResponsePlan::text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            plan.headers
                .insert(CONTENT_RANGE, content_range_unsatisfied(len));
            plan.headers
                .insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return plan;
        }
        Some([region]) => {
            let mut plan = ResponsePlan {
                status: StatusCode::PARTIAL_CONTENT,
                headers: HeaderMap::with_capacity(HEADERS),
                body: vec![Segment::Region(*region)],
            };
            plan.headers.insert(CONTENT_TYPE, content_type);
            plan.headers
                .insert(CONTENT_RANGE, content_range(*region, len));
            plan.headers
                .insert(CONTENT_LENGTH, HeaderValue::from(region.len()));
            plan
        }
        Some(regions) => {
            let boundary = boundary();
            let body = multipart_body(regions, len, &content_type, &boundary);
            let body_len: u64 = segments_len(&body);
            // Framing costs about a hundred bytes a part: when the parts, framed, weigh more
            // than the whole representation, sending it whole is cheaper for everyone and
            // keeps a response from ever outgrowing the representation.
            if body_len >= len {
                full(len, content_type)
            } else {
                let mut plan = ResponsePlan {
                    status: StatusCode::PARTIAL_CONTENT,
                    headers: HeaderMap::with_capacity(HEADERS),
                    body,
                };
                let multipart = format!("multipart/byteranges; boundary={boundary}");
                plan.headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_str(&multipart).expect("the boundary is a token"),
                );
                plan.headers
                    .insert(CONTENT_LENGTH, HeaderValue::from(body_len));
                plan
            }
        }
    };
    let accept_ranges = match options.max_ranges {
        0 => HeaderValue::from_static("none"),
        _ => HeaderValue::from_static("bytes"),
    };
    plan.headers.insert(ACCEPT_RANGES, accept_ranges);
    validator_headers(&mut plan.headers, &validators);
    extend(&mut plan.headers, &options.extra_headers);
    extend(&mut plan.headers, metadata.headers());
    if is_head {
        plan.body.clear();
    }
    plan
}

/// The single `Range` field line, parsed; `None` without one. Several field lines are
/// ignored: `Range` is not a list.
fn range_header(headers: &HeaderMap, max_ranges: usize) -> Option<RangeHeader> {
    let mut values = headers.get_all(RANGE).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return Some(RangeHeader::Ignored(crate::range::IgnoredBecause::Repeated));
    }
    Some(parse_range(value.as_bytes(), max_ranges))
}

fn full(len: u64, content_type: HeaderValue) -> ResponsePlan {
    let mut headers = HeaderMap::with_capacity(HEADERS);
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    ResponsePlan {
        status: StatusCode::OK,
        headers,
        body: Region::new(0, len)
            .map(Segment::Region)
            .into_iter()
            .collect(),
    }
}

fn validator_headers(headers: &mut HeaderMap, validators: &Validators) {
    if let Some(etag) = validators.etag() {
        headers.insert(ETAG, etag.to_header_value());
    }
    if let Some(modified) = validators.last_modified() {
        headers.insert(LAST_MODIFIED, http_date(modified));
    }
}

/// Room for the headers of an answer (the planner's six and a few extra) without the map
/// growing: a grow rehashes every header already in it.
const HEADERS: usize = 12;

/// The headers the planner sets itself: an extra value of one would contradict the answer.
pub const OWNED_HEADERS: [HeaderName; 7] = [
    CONTENT_LENGTH,
    CONTENT_RANGE,
    CONTENT_TYPE,
    ETAG,
    LAST_MODIFIED,
    ACCEPT_RANGES,
    TRANSFER_ENCODING,
];

/// Adds the extra headers, except those the planner owns.
fn extend(headers: &mut HeaderMap, extra: &HeaderMap) {
    for (name, value) in extra {
        if !OWNED_HEADERS.contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// The number of bytes `segments` send.
pub(crate) fn segments_len(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .map(|segment| match segment {
            Segment::Bytes(bytes) => bytes.len() as u64,
            Segment::Region(region) => region.len(),
        })
        .sum()
}

mod header_values;
mod multipart;
#[cfg(test)]
mod tests;
