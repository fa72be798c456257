//! Keeping compression layers off media and partial responses.

use http::header::{CONTENT_RANGE, CONTENT_TYPE};
use http::{Extensions, HeaderMap, StatusCode, Version};

/// Whether a compression layer may compress a response: `false` for `video/*` and `audio/*`
/// (already compressed, and a compressed full answer loses `Content-Length` and
/// `Accept-Ranges`, so players can no longer seek), for `206` (single and multipart), `416`,
/// and anything with a `Content-Range` (compressing a range breaks its offsets), and for
/// answers without content (`304`, `204`, `1xx`: a `Content-Encoding` there would contradict
/// the cached `200`); `true` otherwise.
///
/// Its signature is the one tower-http's `compression::Predicate` accepts for closures, so it
/// plugs into a `CompressionLayer` without this crate depending on tower-http. Combine it with
/// tower-http's defaults, since `compress_when` replaces them:
///
/// ```
/// use tower_http::compression::predicate::{DefaultPredicate, Predicate};
/// use tower_http::compression::CompressionLayer;
///
/// let layer = CompressionLayer::new()
///     .compress_when(DefaultPredicate::new().and(tower_range::compressible));
/// # let _ = layer;
/// ```
pub fn compressible(
    status: StatusCode,
    _version: Version,
    headers: &HeaderMap,
    _extensions: &Extensions,
) -> bool {
    if matches!(
        status,
        StatusCode::PARTIAL_CONTENT
            | StatusCode::NOT_MODIFIED
            | StatusCode::RANGE_NOT_SATISFIABLE
            | StatusCode::NO_CONTENT
    ) || status.is_informational()
        || headers.contains_key(CONTENT_RANGE)
    {
        return false;
    }
    let media = headers.get(CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        let starts = |prefix: &[u8]| {
            value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix)
        };
        starts(b"video/") || starts(b"audio/")
    });
    !media
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn check(status: u16, headers: &[(&'static str, &'static str)]) -> bool {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        compressible(
            StatusCode::from_u16(status).unwrap(),
            Version::HTTP_11,
            &map,
            &Extensions::new(),
        )
    }

    #[test]
    fn media_is_never_compressed() {
        assert!(!check(200, &[("content-type", "video/mp4")]));
        assert!(!check(200, &[("content-type", "Audio/MPEG")]));
    }

    #[test]
    fn partial_and_bodiless_answers_are_never_compressed() {
        let html = ("content-type", "text/html");
        assert!(!check(206, &[html]));
        assert!(!check(304, &[html]));
        assert!(!check(416, &[html]));
        assert!(!check(204, &[html]));
        assert!(!check(200, &[html, ("content-range", "bytes 0-1/2")]));
    }

    #[test]
    fn pages_and_text_may_be_compressed() {
        assert!(check(200, &[("content-type", "text/html; charset=utf-8")]));
        assert!(check(200, &[("content-type", "application/dash+xml")]));
        assert!(check(404, &[]));
    }
}
