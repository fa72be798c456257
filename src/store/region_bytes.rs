//! One region's bytes out of a GET's stream, and the frames cut from them.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_core::Stream;

use super::errors::body_error;
use super::reader::{ObjectReader, OpenGet, PendingGet};
use super::stats::StoreStats;
use crate::range::Region;
use crate::read::StreamFrames;
use crate::Error;

/// The bytes of one region, in the store's chunks: read on from the GET the region before
/// left open when its span covers this region, else from a new GET of the region's span.
/// The bytes of the span before the region are dropped; when the region is done, the GET
/// is left open for the next one. A GET that fails or ends early is resumed from the next
/// byte, with `If-Match` on the same ETag, while resumptions are left.
pub(crate) struct RegionBytes {
    reader: ObjectReader,
    region: Region,
    /// The next offset of the region to hand on.
    next: u64,
    state: State,
}

enum State {
    /// Not started: find or start a GET.
    Idle,
    /// A GET of `at..end` whose head has not come yet.
    Opening {
        get: PendingGet,
        at: u64,
        end: u64,
    },
    Streaming(OpenGet),
    /// The region is handed on, or the stream failed.
    Done,
}

impl RegionBytes {
    pub(crate) fn new(reader: ObjectReader, region: Region) -> Self {
        Self {
            reader,
            region,
            next: region.start(),
            state: State::Idle,
        }
    }

    /// After a failure at `at` of a GET ending at `end`: resumes from there, or ends with
    /// `error`.
    fn resume_or(&mut self, at: u64, end: u64, error: Error) -> Option<Error> {
        if !self.reader.take_resume() {
            self.state = State::Done;
            return Some(error);
        }
        tracing::debug!(%error, at, "resuming a GET that failed mid-stream");
        self.state = State::Opening {
            get: self.reader.get(at, end, true),
            at,
            end,
        };
        None
    }
}

impl Stream for RegionBytes {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Idle => {
                    this.state = match this.reader.take_open(this.region) {
                        Some(open) => State::Streaming(open),
                        None => {
                            let span = this.reader.span_of(this.region);
                            let at = this.region.start();
                            State::Opening {
                                get: this.reader.get(at, span.end(), false),
                                at,
                                end: span.end(),
                            }
                        }
                    };
                }
                State::Opening { get, at, end } => {
                    let (at, end) = (*at, *end);
                    match ready!(get.as_mut().poll(cx)) {
                        Ok(result) => {
                            this.state = State::Streaming(OpenGet {
                                stream: result.into_stream(),
                                at,
                                leftover: Bytes::new(),
                                end,
                            });
                        }
                        // Another version (a resumption's If-Match failed), or the store
                        // failed: the response is cut.
                        Err(error) => {
                            this.state = State::Done;
                            return Poll::Ready(Some(Err(body_error(error))));
                        }
                    }
                }
                State::Streaming(open) => {
                    if !open.leftover.is_empty() {
                        // Drop what lies before the region (a gap between grouped parts).
                        if open.at < this.next {
                            let skip = (this.next - open.at).min(open.leftover.len() as u64);
                            open.leftover.advance(skip as usize);
                            open.at += skip;
                            continue;
                        }
                        let want = (this.region.end() - this.next).min(open.leftover.len() as u64);
                        let out = open.leftover.split_to(want as usize);
                        open.at += want;
                        this.next += want;
                        if this.next == this.region.end() {
                            // Done: the GET goes on to the next region, if its span holds one.
                            let State::Streaming(open) =
                                std::mem::replace(&mut this.state, State::Done)
                            else {
                                unreachable!()
                            };
                            this.reader.put_open(open);
                        }
                        return Poll::Ready(Some(Ok(out)));
                    }
                    if this.next == this.region.end() {
                        this.state = State::Done;
                        continue;
                    }
                    match ready!(open.stream.as_mut().poll_next(cx)) {
                        Some(Ok(chunk)) => {
                            this.reader.shared().stats.chunk_pulled(chunk.len());
                            if chunk.len() as u64 > open.end - open.at {
                                this.state = State::Done;
                                let error = std::io::Error::other("the store sent more than asked");
                                return Poll::Ready(Some(Err(error.into())));
                            }
                            open.leftover = chunk;
                        }
                        Some(Err(error)) => {
                            let (at, end) = (open.at, open.end);
                            if let Some(error) = this.resume_or(at, end, body_error(error)) {
                                return Poll::Ready(Some(Err(error)));
                            }
                        }
                        None => {
                            let (at, end) = (open.at, open.end);
                            let error = Error::truncated(at, (end - at) as usize, 0);
                            if let Some(error) = this.resume_or(at, end, error) {
                                return Poll::Ready(Some(Err(error)));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The frames of one region of an object: [`StreamFrames`] over its bytes, each frame
/// counted as handed on.
pub struct ObjectFrames {
    frames: StreamFrames<RegionBytes>,
    stats: Arc<StoreStats>,
}

impl ObjectFrames {
    pub(crate) fn new(frames: StreamFrames<RegionBytes>, stats: Arc<StoreStats>) -> Self {
        Self { frames, stats }
    }
}

impl std::fmt::Debug for ObjectFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectFrames")
            .field("frames", &self.frames)
            .finish()
    }
}

impl Stream for ObjectFrames {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.frames).poll_next(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            self.stats.frame_handed_on(frame.len());
        }
        polled
    }
}
