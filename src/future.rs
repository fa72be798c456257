//! The response future of [`RangeFileService`](crate::RangeFileService).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

use crate::body::RangeBody;
use crate::metrics::{call_started, response_head_ready, CallStarted};
use crate::read::RegionReader;

/// Resolves to the response once the source is open. Never fails.
pub struct ResponseFuture<R: RegionReader> {
    inner: Pin<Box<dyn Future<Output = Response<RangeBody<R>>> + Send>>,
    /// When `call` made the future, for the time to the response head.
    started: CallStarted,
}

impl<R: RegionReader> ResponseFuture<R> {
    /// The future of a `call` made now.
    pub(crate) fn new(
        opening: impl Future<Output = Response<RangeBody<R>>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(opening),
            started: call_started(),
        }
    }
}

impl<R: RegionReader> Future for ResponseFuture<R> {
    type Output = Result<Response<RangeBody<R>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = std::task::ready!(self.inner.as_mut().poll(cx));
        response_head_ready(self.started);
        Poll::Ready(Ok(response))
    }
}

impl<R: RegionReader> fmt::Debug for ResponseFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
