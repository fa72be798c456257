//! Conditional requests (RFC 9110 §13): evaluating `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since` and `If-Range` against a representation's validators,
//! in the order of §13.2.2. Pure functions, no I/O.

use std::time::SystemTime;

use http::header::{
    HeaderMap, HeaderName, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
    IF_UNMODIFIED_SINCE,
};
use http::Method;

use crate::validator::{whole_seconds, Validators};

/// What the preconditions of a request decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on and answer the request. `honor_range` is `false` when an `If-Range` condition
    /// failed, so that any `Range` must be ignored and the full representation sent.
    Proceed {
        /// Whether a `Range` header may be acted on.
        honor_range: bool,
    },
    /// Answer `304 Not Modified`.
    NotModified,
    /// Answer `412 Precondition Failed`.
    PreconditionFailed,
}

/// Evaluates the request's preconditions in the order RFC 9110 §13.2.2 gives:
///
/// 1. `If-Match` (strong comparison; `*` matches the existing representation); false → 412.
/// 2. Without `If-Match`: `If-Unmodified-Since` (ignored unless it is a single valid
///    HTTP-date); modified since → 412.
/// 3. `If-None-Match` (weak comparison); a match → 304 for GET and HEAD, 412 otherwise.
/// 4. Without `If-None-Match`, for GET and HEAD: `If-Modified-Since`; not modified → 304.
/// 5. `If-Range`, for GET with a `Range` only: an entity tag must match strongly (a weak tag
///    never does); a date must equal a strong `Last-Modified` exactly. Otherwise the range is
///    ignored.
///
/// `validators` describe the representation that exists now; this function is only called
/// when there is one.
pub fn evaluate(method: &Method, headers: &HeaderMap, validators: &Validators) -> Decision {
    let is_get_or_head = method == Method::GET || method == Method::HEAD;
    if headers.contains_key(IF_MATCH) {
        if !if_match(headers, validators) {
            return Decision::PreconditionFailed;
        }
    } else if let (Some(since), Some(modified)) = (
        single_date(headers, &IF_UNMODIFIED_SINCE),
        validators.last_modified(),
    ) {
        if modified > since {
            return Decision::PreconditionFailed;
        }
    }
    if headers.contains_key(IF_NONE_MATCH) {
        if if_none_match_matches(headers, validators) {
            return if is_get_or_head {
                Decision::NotModified
            } else {
                Decision::PreconditionFailed
            };
        }
    } else if is_get_or_head {
        if let (Some(since), Some(modified)) = (
            single_date(headers, &IF_MODIFIED_SINCE),
            validators.last_modified(),
        ) {
            if modified <= since {
                return Decision::NotModified;
            }
        }
    }
    let honor_range = if method == Method::GET && headers.contains_key(http::header::RANGE) {
        if_range_allows(headers, validators)
    } else {
        true
    };
    Decision::Proceed { honor_range }
}

/// One member of an `If-Match` / `If-None-Match` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListMember<'a> {
    Any,
    Tag { weak: bool, opaque: &'a [u8] },
}

/// RFC 9110 `etagc`: `%x21 / %x23-7E / obs-text`.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

/// Parses one `entity-tag` at the start of `s`; returns it and the rest.
fn entity_tag(s: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let s = s.strip_prefix(b"\"")?;
    let close = s.iter().position(|&b| b == b'"')?;
    let opaque = &s[..close];
    opaque.iter().all(|&b| is_etagc(b)).then_some(())?;
    Some((weak, opaque, &s[close + 1..]))
}

fn trim_ows_start(s: &[u8]) -> &[u8] {
    let skip = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[skip..]
}

/// Calls `f` for each member of every field line of `name`, in order, until `f` returns
/// `true`. Stops at the first member that does not parse: like Go's net/http, a malformed
/// list matches nothing after the point where it goes wrong. Returns whether `f` returned
/// `true`.
fn any_member(
    headers: &HeaderMap,
    name: &HeaderName,
    mut f: impl FnMut(ListMember) -> bool,
) -> bool {
    for value in headers.get_all(name) {
        let mut rest = value.as_bytes();
        loop {
            rest = trim_ows_start(rest);
            match rest.first() {
                None => break,
                Some(b',') => {
                    rest = &rest[1..];
                    continue;
                }
                Some(b'*') => {
                    if f(ListMember::Any) {
                        return true;
                    }
                    rest = &rest[1..];
                }
                Some(_) => match entity_tag(rest) {
                    Some((weak, opaque, after)) => {
                        if f(ListMember::Tag { weak, opaque }) {
                            return true;
                        }
                        rest = after;
                    }
                    None => return false,
                },
            }
            rest = trim_ows_start(rest);
            match rest.first() {
                None => break,
                Some(b',') => rest = &rest[1..],
                Some(_) => return false,
            }
        }
    }
    false
}

fn if_match(headers: &HeaderMap, validators: &Validators) -> bool {
    any_member(headers, &IF_MATCH, |member| match member {
        ListMember::Any => true,
        // Strong comparison: both tags strong and equal. Ours is always strong.
        ListMember::Tag { weak, opaque } => {
            !weak
                && validators
                    .etag()
                    .is_some_and(|tag| tag.matches_opaque(opaque))
        }
    })
}

fn if_none_match_matches(headers: &HeaderMap, validators: &Validators) -> bool {
    any_member(headers, &IF_NONE_MATCH, |member| match member {
        ListMember::Any => true,
        // Weak comparison: the opaque tags are equal, whatever the W/ prefixes.
        ListMember::Tag { opaque, .. } => validators
            .etag()
            .is_some_and(|tag| tag.matches_opaque(opaque)),
    })
}

/// The date of a header that must be a single valid HTTP-date, truncated to whole seconds;
/// `None` when it is absent, repeated or invalid (RFC 9110 §13.1.3, §13.1.4: then ignored).
fn single_date(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?;
    httpdate::parse_http_date(text.trim())
        .ok()
        .map(whole_seconds)
}

fn if_range_allows(headers: &HeaderMap, validators: &Validators) -> bool {
    let mut values = headers.get_all(IF_RANGE).iter();
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let bytes = value.as_bytes();
    let bytes = trim_ows_start(bytes);
    if bytes.starts_with(b"\"") || bytes.starts_with(b"W/") {
        return match entity_tag(bytes) {
            Some((false, opaque, rest)) if trim_ows_start(rest).is_empty() => validators
                .etag()
                .is_some_and(|tag| tag.matches_opaque(opaque)),
            _ => false,
        };
    }
    let Ok(text) = value.to_str() else {
        return false;
    };
    match httpdate::parse_http_date(text.trim()) {
        Ok(date) => {
            validators.last_modified_is_strong()
                && validators.last_modified() == Some(whole_seconds(date))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use http::header::RANGE;
    use http::HeaderValue;

    use super::*;
    use crate::validator::ETag;

    const MODIFIED: u64 = 1_700_000_000;

    fn validators() -> Validators {
        Validators::new(
            Some(ETag::from_version(b"v1")),
            Some(UNIX_EPOCH + Duration::from_millis(MODIFIED * 1000 + 250)),
            UNIX_EPOCH + Duration::from_secs(MODIFIED + 3600),
        )
    }

    fn tag() -> String {
        ETag::from_version(b"v1").to_string()
    }

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn decide(method: Method, pairs: &[(HeaderName, &str)]) -> Decision {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        evaluate(&method, &headers, &validators())
    }

    fn get(pairs: &[(HeaderName, &str)]) -> Decision {
        decide(Method::GET, pairs)
    }

    const PROCEED: Decision = Decision::Proceed { honor_range: true };
    const IGNORE_RANGE: Decision = Decision::Proceed { honor_range: false };

    #[test]
    fn no_preconditions_proceed() {
        assert_eq!(get(&[]), PROCEED);
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert_eq!(get(&[(IF_MATCH, &tag())]), PROCEED);
        assert_eq!(get(&[(IF_MATCH, "*")]), PROCEED);
        assert_eq!(
            get(&[(IF_MATCH, &format!("\"other\", {}", tag()))]),
            PROCEED
        );
        assert_eq!(
            get(&[(IF_MATCH, &format!("W/{}", tag()))]),
            Decision::PreconditionFailed
        );
        assert_eq!(
            get(&[(IF_MATCH, "\"other\"")]),
            Decision::PreconditionFailed
        );
    }

    #[test]
    fn if_match_reads_every_field_line() {
        assert_eq!(get(&[(IF_MATCH, "\"a\""), (IF_MATCH, &tag())]), PROCEED);
    }

    #[test]
    fn a_malformed_if_match_fails() {
        assert_eq!(get(&[(IF_MATCH, "unquoted")]), Decision::PreconditionFailed);
        assert_eq!(
            get(&[(IF_MATCH, &format!("\"a\" junk, {}", tag()))]),
            Decision::PreconditionFailed
        );
    }

    #[test]
    fn entity_tags_may_contain_commas() {
        assert_eq!(get(&[(IF_MATCH, &format!("\"a,b\", {}", tag()))]), PROCEED);
    }

    #[test]
    fn if_unmodified_since_compares_whole_seconds() {
        assert_eq!(get(&[(IF_UNMODIFIED_SINCE, &date(MODIFIED))]), PROCEED);
        assert_eq!(
            get(&[(IF_UNMODIFIED_SINCE, &date(MODIFIED - 1))]),
            Decision::PreconditionFailed
        );
    }

    #[test]
    fn if_unmodified_since_is_ignored_when_invalid_or_after_if_match() {
        assert_eq!(get(&[(IF_UNMODIFIED_SINCE, "yesterday")]), PROCEED);
        assert_eq!(
            get(&[
                (IF_MATCH, &tag()),
                (IF_UNMODIFIED_SINCE, &date(MODIFIED - 1))
            ]),
            PROCEED
        );
        assert_eq!(
            get(&[
                (IF_UNMODIFIED_SINCE, &date(MODIFIED - 1)),
                (IF_UNMODIFIED_SINCE, &date(MODIFIED - 1))
            ]),
            PROCEED
        );
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert_eq!(get(&[(IF_NONE_MATCH, &tag())]), Decision::NotModified);
        assert_eq!(
            get(&[(IF_NONE_MATCH, &format!("W/{}", tag()))]),
            Decision::NotModified
        );
        assert_eq!(get(&[(IF_NONE_MATCH, "*")]), Decision::NotModified);
        assert_eq!(get(&[(IF_NONE_MATCH, "\"other\"")]), PROCEED);
        assert_eq!(
            decide(Method::HEAD, &[(IF_NONE_MATCH, &tag())]),
            Decision::NotModified
        );
        assert_eq!(
            decide(Method::DELETE, &[(IF_NONE_MATCH, &tag())]),
            Decision::PreconditionFailed
        );
    }

    #[test]
    fn if_modified_since_gives_304_when_not_modified() {
        assert_eq!(
            get(&[(IF_MODIFIED_SINCE, &date(MODIFIED))]),
            Decision::NotModified
        );
        assert_eq!(
            get(&[(IF_MODIFIED_SINCE, &date(MODIFIED + 10))]),
            Decision::NotModified
        );
        assert_eq!(get(&[(IF_MODIFIED_SINCE, &date(MODIFIED - 1))]), PROCEED);
        assert_eq!(get(&[(IF_MODIFIED_SINCE, "not a date")]), PROCEED);
    }

    #[test]
    fn if_modified_since_is_ignored_with_if_none_match() {
        assert_eq!(
            get(&[
                (IF_NONE_MATCH, "\"other\""),
                (IF_MODIFIED_SINCE, &date(MODIFIED))
            ]),
            PROCEED
        );
    }

    #[test]
    fn if_match_failure_wins_over_if_none_match() {
        assert_eq!(
            get(&[(IF_MATCH, "\"other\""), (IF_NONE_MATCH, &tag())]),
            Decision::PreconditionFailed
        );
    }

    #[test]
    fn if_unmodified_since_failure_wins_over_if_modified_since() {
        assert_eq!(
            get(&[
                (IF_UNMODIFIED_SINCE, &date(MODIFIED - 1)),
                (IF_MODIFIED_SINCE, &date(MODIFIED))
            ]),
            Decision::PreconditionFailed
        );
    }

    #[test]
    fn if_range_with_a_strong_matching_tag_keeps_the_range() {
        assert_eq!(get(&[(RANGE, "bytes=0-1"), (IF_RANGE, &tag())]), PROCEED);
        assert_eq!(
            get(&[(RANGE, "bytes=0-1"), (IF_RANGE, "\"other\"")]),
            IGNORE_RANGE
        );
    }

    #[test]
    fn if_range_with_a_weak_tag_never_matches() {
        assert_eq!(
            get(&[(RANGE, "bytes=0-1"), (IF_RANGE, &format!("W/{}", tag()))]),
            IGNORE_RANGE
        );
    }

    #[test]
    fn if_range_with_a_date_needs_an_exact_strong_last_modified() {
        assert_eq!(
            get(&[(RANGE, "bytes=0-1"), (IF_RANGE, &date(MODIFIED))]),
            PROCEED
        );
        assert_eq!(
            get(&[(RANGE, "bytes=0-1"), (IF_RANGE, &date(MODIFIED + 1))]),
            IGNORE_RANGE
        );
        assert_eq!(
            get(&[(RANGE, "bytes=0-1"), (IF_RANGE, "garbage")]),
            IGNORE_RANGE
        );
        // A Last-Modified within the last second is weak: the date form cannot match it.
        let now = UNIX_EPOCH + Duration::from_millis(MODIFIED * 1000 + 800);
        let fresh = Validators::new(
            None,
            Some(UNIX_EPOCH + Duration::from_millis(MODIFIED * 1000 + 250)),
            now,
        );
        let mut headers = HeaderMap::new();
        headers.insert(RANGE, HeaderValue::from_static("bytes=0-1"));
        headers.insert(IF_RANGE, HeaderValue::from_str(&date(MODIFIED)).unwrap());
        assert_eq!(evaluate(&Method::GET, &headers, &fresh), IGNORE_RANGE);
    }

    #[test]
    fn if_range_only_counts_for_get_with_a_range() {
        assert_eq!(get(&[(IF_RANGE, "\"other\"")]), PROCEED);
        assert_eq!(
            decide(
                Method::HEAD,
                &[(RANGE, "bytes=0-1"), (IF_RANGE, "\"other\"")]
            ),
            PROCEED
        );
    }

    #[test]
    fn preconditions_come_before_if_range() {
        assert_eq!(
            get(&[
                (RANGE, "bytes=0-1"),
                (IF_RANGE, "\"other\""),
                (IF_NONE_MATCH, &tag())
            ]),
            Decision::NotModified
        );
    }

    #[test]
    fn without_an_etag_only_star_matches() {
        let v = Validators::new(None, None, UNIX_EPOCH);
        let mut headers = HeaderMap::new();
        headers.insert(IF_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(
            evaluate(&Method::GET, &headers, &v),
            Decision::PreconditionFailed
        );
        headers.insert(IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(evaluate(&Method::GET, &headers, &v), PROCEED);
    }
}
