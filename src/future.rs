//! The response future of [`RangeFileService`](crate::RangeFileService).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

use crate::body::RangeBody;
use crate::read::RegionReader;

/// Resolves to the response once the source is open. Never fails.
pub struct ResponseFuture<R: RegionReader> {
    inner: Pin<Box<dyn Future<Output = Response<RangeBody<R>>> + Send>>,
}

impl<R: RegionReader> ResponseFuture<R> {
    pub(crate) fn new(
        opening: impl Future<Output = Response<RangeBody<R>>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(opening),
        }
    }
}

impl<R: RegionReader> Future for ResponseFuture<R> {
    type Output = Result<Response<RangeBody<R>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx).map(Ok)
    }
}

impl<R: RegionReader> fmt::Debug for ResponseFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
