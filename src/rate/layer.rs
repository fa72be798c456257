//! A layer that chooses each request's rate limit.

use std::fmt;
use std::task::{Context, Poll};

use http::request::Parts;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use super::RateLimit;

/// Puts a [`RateLimit`] into each request's extensions, as `choose` decides from the request
/// head; the crate's services throttle the response by it (over the file's and the service's
/// limits). `None` leaves the request as it came.
///
/// ```
/// use http::request::Parts;
/// use tower::ServiceBuilder;
/// use tower_range::rate::{RateLimit, SetRateLimitLayer};
/// use tower_range::RangeFileService;
///
/// // Subscribers (marked by an auth layer in front) are not throttled; others get 1 MB/s
/// // after their first 8 MB.
/// fn by_plan(head: &Parts) -> Option<RateLimit> {
///     Some(match head.headers.contains_key("x-subscriber") {
///         true => RateLimit::unlimited(),
///         false => RateLimit::new(1_000_000).after(8_000_000),
///     })
/// }
///
/// let service = ServiceBuilder::new()
///     .layer(SetRateLimitLayer::new(by_plan))
///     .service(RangeFileService::new("media/sample.mp4"));
/// # let _ = service;
/// ```
#[derive(Clone)]
pub struct SetRateLimitLayer<F> {
    choose: F,
}

impl<F> SetRateLimitLayer<F>
where
    F: Fn(&Parts) -> Option<RateLimit>,
{
    /// A layer that asks `choose` for each request's limit.
    pub fn new(choose: F) -> Self {
        Self { choose }
    }
}

impl<F> fmt::Debug for SetRateLimitLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetRateLimitLayer").finish_non_exhaustive()
    }
}

impl<S, F: Clone> Layer<S> for SetRateLimitLayer<F> {
    type Service = SetRateLimit<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        SetRateLimit {
            inner,
            choose: self.choose.clone(),
        }
    }
}

/// The service of [`SetRateLimitLayer`].
#[derive(Clone)]
pub struct SetRateLimit<S, F> {
    inner: S,
    choose: F,
}

impl<S, F> SetRateLimit<S, F> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, F> fmt::Debug for SetRateLimit<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetRateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, F, B> Service<Request<B>> for SetRateLimit<S, F>
where
    S: Service<Request<B>>,
    F: Fn(&Parts) -> Option<RateLimit>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> S::Future {
        let (mut head, body) = request.into_parts();
        if let Some(limit) = (self.choose)(&head) {
            head.extensions.insert(limit);
        }
        self.inner.call(Request::from_parts(head, body))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::{ready, Ready};

    use super::*;

    /// Answers with the limit the request carries.
    struct Echo;

    impl Service<Request<()>> for Echo {
        type Response = Option<RateLimit>;
        type Error = Infallible;
        type Future = Ready<Result<Option<RateLimit>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<()>) -> Self::Future {
            ready(Ok(request.extensions().get::<RateLimit>().copied()))
        }
    }

    #[tokio::test]
    async fn the_chosen_limit_reaches_the_service_and_none_leaves_the_request_alone() {
        let layer = SetRateLimitLayer::new(|head: &Parts| {
            (head.uri.query() == Some("slow")).then_some(RateLimit::new(7))
        });
        let mut service = layer.layer(Echo);
        let slow = Request::get("/v?slow").body(()).unwrap();
        assert_eq!(service.call(slow).await.unwrap(), Some(RateLimit::new(7)));
        let fast = Request::get("/v").body(()).unwrap();
        assert_eq!(service.call(fast).await.unwrap(), None);
    }
}
