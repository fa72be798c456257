//! A planned body streamed in order: byte segments as they are, regions as frame streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::cursor::{Next, PlanCursor};
use crate::metrics::{self, BodyOutcome};
use crate::rate::Throttle;
use crate::read::{ReadConfig, RegionReader};
use crate::response::Segment;
use crate::Error;

/// Walks the plan; asks the reader once per region and hands on that region's frames.
pub(super) struct RegionsBody<R: RegionReader> {
    reader: R,
    config: ReadConfig,
    cursor: PlanCursor,
    /// The region being streamed, and its bytes not yet handed on.
    current: Option<(R::Frames, u64)>,
    /// Holds each next piece back until the rate limit lets it go. It is asked before the
    /// reader, so that a throttled body reads nothing it may not yet send.
    throttle: Option<Throttle>,
    /// Whether the body yielded an error, for the outcome its metrics record when it drops.
    cut: bool,
}

impl<R: RegionReader> RegionsBody<R> {
    pub(super) fn new(
        reader: R,
        segments: Vec<Segment>,
        config: ReadConfig,
        throttle: Option<Throttle>,
    ) -> Self {
        metrics::body_started();
        Self {
            reader,
            config,
            cursor: PlanCursor::new(segments),
            current: None,
            throttle,
            cut: false,
        }
    }

    /// How the body ended, asked when it is dropped: after an error it is cut, else it
    /// completed if nothing is left to hand on (a server may drop a body without polling
    /// past its last frame, once `is_end_stream` says so), else the client went away.
    fn outcome(&self) -> BodyOutcome {
        if self.cut {
            BodyOutcome::Cut
        } else if self.remaining() == 0 {
            BodyOutcome::Completed
        } else {
            BodyOutcome::Aborted
        }
    }

    pub(super) fn remaining(&self) -> u64 {
        self.cursor.untaken() + self.current.as_ref().map_or(0, |(_, left)| *left)
    }

    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        // Nothing left, nothing to wait for: the end is not held back by the rate.
        let left = self.remaining();
        let Some(throttle) = self.throttle.as_mut().filter(|_| left > 0) else {
            return self.poll_unthrottled(cx);
        };
        std::task::ready!(throttle.poll_ready(cx));
        let polled = self.poll_unthrottled(cx);
        if let (Poll::Ready(Some(Ok(piece))), Some(throttle)) = (&polled, &mut self.throttle) {
            throttle.handed_on(piece.len() as u64);
        }
        polled
    }

    fn poll_unthrottled(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        loop {
            if let Some((frames, left)) = &mut self.current {
                let error = match Pin::new(frames).poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(frame))) if frame.len() as u64 <= *left => {
                        *left -= frame.len() as u64;
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    Poll::Ready(Some(Ok(_))) => Error::from(std::io::Error::other(
                        "the reader sent more bytes than the region holds",
                    )),
                    Poll::Ready(Some(Err(error))) => error,
                    Poll::Ready(None) if *left == 0 => {
                        self.current = None;
                        continue;
                    }
                    Poll::Ready(None) => Error::from(std::io::Error::other(
                        "the reader ended before the region did",
                    )),
                };
                tracing::warn!(%error, "response body cut");
                self.cut = true;
                self.current = None;
                self.cursor.clear();
                return Poll::Ready(Some(Err(error)));
            }
            return match self.cursor.next() {
                None => Poll::Ready(None),
                Some(Next::Bytes(bytes)) => Poll::Ready(Some(Ok(bytes))),
                Some(Next::Region(region)) => {
                    let frames = self.reader.read_region(region, &self.config);
                    self.current = Some((frames, region.len()));
                    continue;
                }
            };
        }
    }
}

impl<R: RegionReader> Drop for RegionsBody<R> {
    fn drop(&mut self) {
        metrics::body_ended(self.outcome());
    }
}
