//! Cross-origin playback for the example server (`--cors-origin ORIGIN`, repeatable): tower-http's
//! `CorsLayer` in front of the routes, so that pages on other origins can play the media with
//! `<video crossorigin>`, load `<track>` subtitles, and read ranges with `fetch`.
//!
//! The `Vary` handling is chosen, not tower-http's default (which is `Vary: origin,
//! access-control-request-method, access-control-request-headers` on every response, whatever
//! the configuration): with `*` or a single origin the answer is the same for every request,
//! so nothing varies and a cache keeps one copy per object; with several origins the allowed
//! origin is mirrored, the answer depends on `Origin`, and `Vary: Origin` says so.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{header, HeaderName, HeaderValue, Method};
use http_body::{Body, Frame, SizeHint};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer, Vary};

/// The request headers a player sends besides the CORS-safelisted ones: `Range` (a single
/// `bytes=N-` or `bytes=N-M` is safelisted, a suffix or several ranges are not) and the
/// conditional headers of revalidation and resumption, which always need a preflight.
const ALLOWED_REQUEST_HEADERS: [HeaderName; 6] = [
    header::RANGE,
    header::IF_RANGE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
];

/// The response headers a script (an MSE player, a `fetch` of a range) may read. The media
/// element itself needs only `Access-Control-Allow-Origin`; scripts see no more than the
/// safelisted headers unless they are named here. `Content-Length` is safelisted in today's
/// Fetch standard but named for older browsers; `Last-Modified` is safelisted everywhere.
const EXPOSED_RESPONSE_HEADERS: [HeaderName; 5] = [
    header::CONTENT_RANGE,
    header::CONTENT_LENGTH,
    header::ACCEPT_RANGES,
    header::ETAG,
    header::CONTENT_DISPOSITION,
];

/// How long a browser may reuse a preflight's answer: two hours, Chromium's cap (Firefox
/// allows a day). Without it Chromium asks again after 5 s.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);

/// The routes with the CORS layer in front (`Left`) or as they are (`Right`): without
/// `--cors-origin` nothing changes, `OPTIONS` included (`405`).
pub type MaybeCors<S> = tower::util::Either<Cors<S>, S>;

/// `routes` behind `layer` when there is one.
pub fn in_front<S>(layer: Option<&CorsLayer>, routes: S) -> MaybeCors<S> {
    use tower::Layer;
    match layer {
        Some(layer) => tower::util::Either::Left(layer.layer(routes)),
        None => tower::util::Either::Right(routes),
    }
}

/// The layer for the `--cors-origin` values, or `None` without any; an origin that is not
/// `scheme://host[:port]` (a trailing `/` never matches a browser's `Origin`) is an error.
pub fn layer(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let (allow_origin, vary) = if origins.iter().any(|origin| origin == "*") {
        // Any origin: `Access-Control-Allow-Origin: *` on every answer. Fine for media
        // fetched without credentials (`crossorigin="anonymous"`), which is what a CDN serves.
        (AllowOrigin::any(), Vary::list([]))
    } else {
        let origins = origins
            .iter()
            .map(|origin| parse_origin(origin))
            .collect::<Result<Vec<_>, _>>()?;
        match <[HeaderValue; 1]>::try_from(origins) {
            // One origin, named on every answer: a browser on another origin sees a name that
            // is not its own and refuses, so the answer need not depend on `Origin`.
            Ok([origin]) => (AllowOrigin::exact(origin), Vary::list([])),
            // Several: the request's `Origin` is mirrored when it is one of them, so caches
            // must keep one copy per origin.
            Err(origins) => (AllowOrigin::list(origins), Vary::list([header::ORIGIN])),
        }
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::HEAD])
            .allow_headers(ALLOWED_REQUEST_HEADERS)
            .expose_headers(EXPOSED_RESPONSE_HEADERS)
            .max_age(PREFLIGHT_MAX_AGE)
            .vary(vary),
    ))
}

/// An origin as browsers send it, `scheme://host[:port]`: nothing after it, not even a `/`
/// (which would never match).
fn parse_origin(origin: &str) -> Result<HeaderValue, String> {
    let invalid = || {
        format!("--cors-origin {origin:?}: not scheme://host[:port] (an origin has no path, not even a trailing /)")
    };
    match origin.split_once("://") {
        Some((scheme, host))
            if !scheme.is_empty() && !host.is_empty() && !host.contains(['/', '?', '#']) =>
        {
            HeaderValue::from_str(origin).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

pin_project_lite::pin_project! {
    /// A route's body, or none: `Cors` answers preflights itself with the body type's
    /// `Default`, which the routes' own body (an `Either`) does not have.
    pub struct OrEmpty<B> {
        #[pin]
        body: Option<B>,
    }
}

impl<B> OrEmpty<B> {
    pub fn new(body: B) -> Self {
        Self { body: Some(body) }
    }
}

impl<B> Default for OrEmpty<B> {
    fn default() -> Self {
        Self { body: None }
    }
}

impl<B: Body> Body for OrEmpty<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        match self.project().body.as_pin_mut() {
            Some(body) => body.poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(B::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), B::size_hint)
    }
}
