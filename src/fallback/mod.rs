//! A fallback service for misses: what a [`RangeService`] cannot find (an answer that would be
//! `404`) goes to another service, which gets the request as it came, body included. tower's
//! convention, as tower-http's `ServeDir::fallback`: an app answers its own 404s, or serves
//! an SPA's `index.html`, or proxies elsewhere.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower_service::Service;

use crate::pipeline::{miss, respond_or_miss, with_answer_headers, Outcome};
use crate::resolve::Resolver;
use crate::service::RangeService;

mod body;

pub use body::FallbackBody;

/// A [`RangeService`] whose `404` misses go to `F`. Made by [`RangeService::fallback`].
///
/// ```
/// use std::convert::Infallible;
/// use tower_range::{MemorySource, RangeFileService, RangeService};
///
/// let not_found = RangeFileService::from_source(MemorySource::new("<h1>nothing here</h1>"));
/// let service = RangeService::new("media/sample.mp4").fallback(not_found);
/// # let _ = service;
/// ```
#[derive(Debug)]
pub struct Fallback<R, F> {
    service: RangeService<R>,
    fallback: F,
}

// By hand: a derive would ask `R: Clone`, which the shared service does not need.
impl<R, F: Clone> Clone for Fallback<R, F> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<R> RangeService<R> {
    /// Sends the requests this service would answer `404` (nothing there, not a regular
    /// file, outside the root) to `fallback` instead. Other answers, `405`, `403` and `400`
    /// included, stay this service's.
    pub fn fallback<F>(self, fallback: F) -> Fallback<R, F> {
        Fallback {
            service: self,
            fallback,
        }
    }
}

impl<R, F> Fallback<R, F> {
    /// The service that answers first.
    pub fn get_ref(&self) -> &RangeService<R> {
        &self.service
    }

    /// The fallback.
    pub fn fallback_ref(&self) -> &F {
        &self.fallback
    }

    /// Both, apart.
    pub fn into_inner(self) -> (RangeService<R>, F) {
        (self.service, self.fallback)
    }
}

impl<R, F, B, FB> Service<Request<B>> for Fallback<R, F>
where
    R: Resolver,
    F: Service<Request<B>, Response = Response<FB>, Error = Infallible> + Clone + Send + 'static,
    F::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<FallbackBody<R::Reader, FB>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The fallback is readied on a clone, only when a request needs it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (head, body) = request.into_parts();
        let (resolver, settings) = self.service.parts();
        let mut fallback = self.fallback.clone();
        let started = crate::metrics::call_started();
        Box::pin(async move {
            let (head, error) = match respond_or_miss(&*resolver, &settings, head).await {
                Outcome::Answer(response) => {
                    crate::metrics::response_head_ready(started);
                    return Ok(response.map(FallbackBody::served));
                }
                Outcome::Miss(head, error) => (head, error),
            };
            if error.kind().status() != StatusCode::NOT_FOUND {
                let answer = with_answer_headers(&*resolver, miss(&head, error));
                crate::metrics::response_head_ready(started);
                return Ok(answer.map(FallbackBody::served));
            }
            tracing::debug!(%error, path = head.uri.path(), "miss: to the fallback");
            let Ok(()) = poll_fn(|cx| fallback.poll_ready(cx)).await;
            let Ok(response) = fallback.call(Request::from_parts(head, body)).await;
            // The resolver's headers for every answer (`nosniff`) go on the fallback's too.
            let response = with_answer_headers(&*resolver, response);
            Ok(response.map(FallbackBody::fallback))
        })
    }
}
