//! Planning a response: status, headers and the byte regions of the body, from the request
//! head and the representation's metadata. Pure functions with no I/O; the service carries
//! out the plan.

use std::time::SystemTime;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    HeaderMap, HeaderValue, ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, LAST_MODIFIED, RANGE,
};
use http::{Method, StatusCode};

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
            extra_headers: HeaderMap::new(),
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
            let mut headers = HeaderMap::new();
            validator_headers(&mut headers, &validators);
            extend(&mut headers, &options.extra_headers);
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
                headers: HeaderMap::new(),
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
                    headers: HeaderMap::new(),
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
    let mut headers = HeaderMap::new();
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
        let date = httpdate::fmt_http_date(modified);
        headers.insert(
            LAST_MODIFIED,
            HeaderValue::from_str(&date).expect("an HTTP-date is a valid header value"),
        );
    }
}

fn extend(headers: &mut HeaderMap, extra: &HeaderMap) {
    for (name, value) in extra {
        headers.append(name.clone(), value.clone());
    }
}

fn content_range(region: Region, len: u64) -> HeaderValue {
    let text = format!("bytes {}-{}/{}", region.start(), region.last(), len);
    HeaderValue::from_str(&text).expect("digits are a valid header value")
}

fn content_range_unsatisfied(len: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("bytes */{len}")).expect("digits are a valid header value")
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

/// The `multipart/byteranges` body (RFC 9110 §14.6): each part's framing as bytes, followed
/// by its region, then the closing delimiter.
fn multipart_body(
    regions: &[Region],
    len: u64,
    content_type: &HeaderValue,
    boundary: &str,
) -> Vec<Segment> {
    let mut body = Vec::with_capacity(regions.len() * 2 + 1);
    for (i, region) in regions.iter().enumerate() {
        let mut head = BytesMut::with_capacity(96 + boundary.len());
        if i > 0 {
            head.put_slice(b"\r\n");
        }
        head.put_slice(b"--");
        head.put_slice(boundary.as_bytes());
        head.put_slice(b"\r\nContent-Type: ");
        head.put_slice(content_type.as_bytes());
        head.put_slice(b"\r\nContent-Range: ");
        head.put_slice(content_range(*region, len).as_bytes());
        head.put_slice(b"\r\n\r\n");
        body.push(Segment::Bytes(head.freeze()));
        body.push(Segment::Region(*region));
    }
    body.push(Segment::Bytes(Bytes::from(format!(
        "\r\n--{boundary}--\r\n"
    ))));
    body
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use http::header::{CACHE_CONTROL, IF_NONE_MATCH, IF_RANGE};

    use super::*;
    use crate::validator::ETag;

    const LEN: u64 = 10_000;

    fn metadata(len: u64) -> Metadata {
        Metadata::new(len)
            .with_version(b"v1")
            .with_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .with_content_type(HeaderValue::from_static("video/mp4"))
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn plan_for(method: Method, pairs: &[(&str, &str)], len: u64) -> ResponsePlan {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let mut options = PlanOptions::default();
        options
            .extra_headers
            .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
        plan(&method, &headers, &metadata(len), &options, now(), || {
            "BOUNDARY".to_owned()
        })
    }

    fn get(pairs: &[(&str, &str)]) -> ResponsePlan {
        plan_for(Method::GET, pairs, LEN)
    }

    fn header<'a>(plan: &'a ResponsePlan, name: &str) -> Option<&'a str> {
        plan.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn regions(plan: &ResponsePlan) -> Vec<(u64, u64)> {
        plan.body
            .iter()
            .filter_map(|s| match s {
                Segment::Region(r) => Some((r.start(), r.last())),
                Segment::Bytes(_) => None,
            })
            .collect()
    }

    fn body_text(plan: &ResponsePlan) -> String {
        let mut out = String::new();
        for segment in &plan.body {
            match segment {
                Segment::Bytes(b) => out.push_str(std::str::from_utf8(b).unwrap()),
                Segment::Region(r) => out.push_str(&format!("<{}-{}>", r.start(), r.last())),
            }
        }
        out
    }

    #[test]
    fn no_range_is_a_full_200_with_validators() {
        let plan = get(&[]);
        assert_eq!(plan.status, StatusCode::OK);
        assert_eq!(header(&plan, "content-length"), Some("10000"));
        assert_eq!(header(&plan, "accept-ranges"), Some("bytes"));
        assert_eq!(header(&plan, "content-type"), Some("video/mp4"));
        assert_eq!(
            header(&plan, "etag"),
            Some(ETag::from_version(b"v1").to_string().as_str())
        );
        assert_eq!(
            header(&plan, "last-modified"),
            Some("Tue, 14 Nov 2023 22:13:20 GMT")
        );
        assert_eq!(header(&plan, "cache-control"), Some("max-age=60"));
        assert_eq!(regions(&plan), [(0, LEN - 1)]);
        assert_eq!(plan.body_len(), LEN);
    }

    #[test]
    fn one_range_is_a_206_with_content_range() {
        let plan = get(&[("range", "bytes=0-1")]);
        assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(header(&plan, "content-range"), Some("bytes 0-1/10000"));
        assert_eq!(header(&plan, "content-length"), Some("2"));
        assert_eq!(header(&plan, "content-type"), Some("video/mp4"));
        assert_eq!(header(&plan, "cache-control"), Some("max-age=60"));
        assert!(header(&plan, "etag").is_some());
        assert_eq!(regions(&plan), [(0, 1)]);
    }

    #[test]
    fn an_open_range_from_zero_is_still_a_206() {
        let plan = get(&[("range", "bytes=0-")]);
        assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(header(&plan, "content-range"), Some("bytes 0-9999/10000"));
    }

    #[test]
    fn suffix_and_clamped_ranges_report_their_real_bounds() {
        let plan = get(&[("range", "bytes=-100")]);
        assert_eq!(
            header(&plan, "content-range"),
            Some("bytes 9900-9999/10000")
        );
        let plan = get(&[("range", "bytes=9990-20000")]);
        assert_eq!(
            header(&plan, "content-range"),
            Some("bytes 9990-9999/10000")
        );
        assert_eq!(header(&plan, "content-length"), Some("10"));
        let plan = get(&[("range", "bytes=-20000")]);
        assert_eq!(header(&plan, "content-range"), Some("bytes 0-9999/10000"));
    }

    #[test]
    fn an_unsatisfiable_range_is_a_416_with_the_length() {
        let plan = get(&[("range", "bytes=10000-")]);
        assert_eq!(plan.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(header(&plan, "content-range"), Some("bytes */10000"));
        assert_eq!(header(&plan, "cache-control"), None);
        assert_eq!(
            plan.body_len().to_string(),
            header(&plan, "content-length").unwrap()
        );
    }

    #[test]
    fn an_empty_file_is_200_without_range_and_416_with_one() {
        let plan = plan_for(Method::GET, &[], 0);
        assert_eq!(plan.status, StatusCode::OK);
        assert_eq!(header(&plan, "content-length"), Some("0"));
        assert!(plan.body.is_empty());
        let plan = plan_for(Method::GET, &[("range", "bytes=0-")], 0);
        assert_eq!(plan.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(header(&plan, "content-range"), Some("bytes */0"));
        let plan = plan_for(Method::GET, &[("range", "bytes=-5")], 0);
        assert_eq!(plan.status, StatusCode::RANGE_NOT_SATISFIABLE);
    }

    #[test]
    fn unknown_units_and_invalid_ranges_get_the_whole_file() {
        for value in ["items=0-5", "bytes=5-1", "bytes=x", "bytes="] {
            let plan = get(&[("range", value)]);
            assert_eq!(plan.status, StatusCode::OK, "{value}");
            assert_eq!(regions(&plan), [(0, LEN - 1)]);
        }
    }

    #[test]
    fn repeated_range_fields_are_ignored() {
        let plan = get(&[("range", "bytes=0-1"), ("range", "bytes=2-3")]);
        assert_eq!(plan.status, StatusCode::OK);
    }

    #[test]
    fn several_ranges_are_multipart_with_an_exact_length() {
        let plan = get(&[("range", "bytes=0-1,5-9")]);
        assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            header(&plan, "content-type"),
            Some("multipart/byteranges; boundary=BOUNDARY")
        );
        assert_eq!(header(&plan, "content-range"), None);
        assert_eq!(
            body_text(&plan),
            "--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/10000\r\n\r\n<0-1>\
             \r\n--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 5-9/10000\r\n\r\n<5-9>\
             \r\n--BOUNDARY--\r\n"
        );
        assert_eq!(
            header(&plan, "content-length").unwrap(),
            plan.body_len().to_string()
        );
    }

    #[test]
    fn ranges_that_coalesce_to_one_are_a_single_part_206() {
        let plan = get(&[("range", "bytes=0-4,5-9,3-7")]);
        assert_eq!(header(&plan, "content-range"), Some("bytes 0-9/10000"));
        assert_eq!(header(&plan, "content-type"), Some("video/mp4"));
    }

    #[test]
    fn repeated_whole_file_ranges_never_amplify() {
        let header_value = format!("bytes={}", vec!["0-"; 60].join(","));
        let plan = get(&[("range", &header_value)]);
        assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(plan.body_len(), LEN);
    }

    #[test]
    fn parts_that_framed_outweigh_the_file_become_a_200() {
        // Thirty one-byte parts of a 1000-byte file: ~3 KB of framing for 30 bytes.
        let ranges: Vec<String> = (0..30).map(|i| format!("{0}-{0}", i * 10)).collect();
        let plan = plan_for(
            Method::GET,
            &[("range", &format!("bytes={}", ranges.join(",")))],
            1000,
        );
        assert_eq!(plan.status, StatusCode::OK);
        assert_eq!(plan.body_len(), 1000);
    }

    #[test]
    fn more_ranges_than_the_cap_get_the_whole_file() {
        let ranges: Vec<String> = (0..65).map(|i| format!("{0}-{0}", i * 100)).collect();
        let plan = get(&[("range", &format!("bytes={}", ranges.join(",")))]);
        assert_eq!(plan.status, StatusCode::OK);
    }

    #[test]
    fn max_ranges_zero_turns_ranges_off_and_says_so() {
        let options = PlanOptions {
            max_ranges: 0,
            ..PlanOptions::default()
        };
        for method in [Method::GET, Method::HEAD] {
            let mut headers = HeaderMap::new();
            headers.insert(RANGE, HeaderValue::from_static("bytes=0-1"));
            let plan = plan(
                &method,
                &headers,
                &metadata(LEN),
                &options,
                now(),
                String::new,
            );
            assert_eq!(plan.status, StatusCode::OK);
            assert_eq!(header(&plan, "accept-ranges"), Some("none"));
            assert_eq!(header(&plan, "content-length"), Some("10000"));
        }
    }

    #[test]
    fn head_answers_the_headers_of_a_plain_get_without_a_body() {
        let plan = plan_for(Method::HEAD, &[("range", "bytes=0-1")], LEN);
        assert_eq!(plan.status, StatusCode::OK);
        assert_eq!(header(&plan, "content-length"), Some("10000"));
        assert_eq!(header(&plan, "content-type"), Some("video/mp4"));
        assert!(header(&plan, "etag").is_some());
        assert!(plan.body.is_empty());
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let plan = plan_for(method, &[], LEN);
            assert_eq!(plan.status, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(header(&plan, "allow"), Some("GET, HEAD"));
        }
    }

    #[test]
    fn not_modified_carries_validators_and_extra_headers_only() {
        let etag = ETag::from_version(b"v1").to_string();
        let plan = get(&[("if-none-match", &etag), ("range", "bytes=0-1")]);
        assert_eq!(plan.status, StatusCode::NOT_MODIFIED);
        assert_eq!(header(&plan, "etag"), Some(etag.as_str()));
        assert!(header(&plan, "last-modified").is_some());
        assert_eq!(header(&plan, "cache-control"), Some("max-age=60"));
        assert_eq!(header(&plan, "content-length"), None);
        assert_eq!(header(&plan, "content-range"), None);
        assert!(plan.body.is_empty());
    }

    #[test]
    fn failed_preconditions_are_412() {
        let plan = get(&[("if-match", "\"nope\"")]);
        assert_eq!(plan.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(header(&plan, "etag"), None);
    }

    #[test]
    fn a_stale_if_range_sends_the_whole_file() {
        let plan = get(&[(IF_RANGE.as_str(), "\"old\""), ("range", "bytes=0-1")]);
        assert_eq!(plan.status, StatusCode::OK);
        assert_eq!(plan.body_len(), LEN);
        let etag = ETag::from_version(b"v1").to_string();
        let plan = get(&[(IF_RANGE.as_str(), &etag), ("range", "bytes=0-1")]);
        assert_eq!(plan.status, StatusCode::PARTIAL_CONTENT);
    }

    #[test]
    fn the_content_type_option_overrides_the_source() {
        let options = PlanOptions {
            content_type: Some(HeaderValue::from_static("video/webm")),
            ..PlanOptions::default()
        };
        let plan = plan(
            &Method::GET,
            &HeaderMap::new(),
            &metadata(5),
            &options,
            now(),
            String::new,
        );
        assert_eq!(header(&plan, "content-type"), Some("video/webm"));
    }

    #[test]
    fn open_errors_map_to_404_403_and_500() {
        let plan = ResponsePlan::from(open_failed(OpenErrorKind::NotFound));
        assert_eq!(plan.status, StatusCode::NOT_FOUND);
        let plan = ResponsePlan::from(open_failed(OpenErrorKind::Forbidden));
        assert_eq!(plan.status, StatusCode::FORBIDDEN);
        let plan = ResponsePlan::from(open_failed(OpenErrorKind::Other));
        assert_eq!(plan.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            header(&plan, "content-length").unwrap(),
            plan.body_len().to_string()
        );
    }

    #[test]
    fn if_none_match_is_checked_before_range() {
        let plan = get(&[(IF_NONE_MATCH.as_str(), "*"), ("range", "bytes=99999-")]);
        assert_eq!(plan.status, StatusCode::NOT_MODIFIED);
    }
}
