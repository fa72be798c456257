//! The body of a [`Fallback`](super::Fallback): the service's or the fallback's.

use std::error::Error as StdError;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::body::RangeBody;
use crate::read::RegionReader;

pin_project! {
    /// The body of an answer of the service, or of its fallback.
    pub struct FallbackBody<R: RegionReader, B> {
        #[pin]
        inner: Inner<R, B>,
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner<R: RegionReader, B> {
        Served { #[pin] body: RangeBody<R> },
        Fallback { #[pin] body: B },
    }
}

impl<R: RegionReader, B> FallbackBody<R, B> {
    /// The service's body.
    pub(super) fn served(body: RangeBody<R>) -> Self {
        Self {
            inner: Inner::Served { body },
        }
    }

    /// The fallback's body.
    pub(super) fn fallback(body: B) -> Self {
        Self {
            inner: Inner::Fallback { body },
        }
    }

    /// Whether the fallback answered.
    pub fn is_fallback(&self) -> bool {
        matches!(self.inner, Inner::Fallback { .. })
    }
}

impl<R, B> Body for FallbackBody<R, B>
where
    R: RegionReader,
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().inner.project() {
            InnerProj::Served { body } => body.poll_frame(cx).map_err(Into::into),
            InnerProj::Fallback { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Served { body } => body.is_end_stream(),
            Inner::Fallback { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Served { body } => body.size_hint(),
            Inner::Fallback { body } => body.size_hint(),
        }
    }
}
