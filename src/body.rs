//! The response body: the planned segments, streamed as fixed-size frames with a bounded
//! read-ahead.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::budget::{BudgetPermit, ReadAheadBudget};
use crate::response::{segments_len, Segment};
use crate::source::SourceReader;
use crate::Error;

/// The body of every response of a [`RangeFileService`](crate::RangeFileService).
///
/// Regions of the representation are sent as frames of exactly the configured frame size
/// (the last frame of each region may be shorter), each a fresh `Bytes` read by one
/// positional read. While a frame is being sent, the next ones are read, so that reads overlap
/// writes; the body never holds more than `read_ahead` frames read ahead of what the client
/// has taken, so one body holds at most `frame_size × (read_ahead + 1)` bytes, however large
/// the range.
///
/// The depth adapts between zero and `read_ahead` frames: it grows by one each time the client
/// has to wait for a read (the source is slower than the client, so more reads should be in
/// flight), and shrinks by one after every [`READY_STREAK`] frames in a row that were ready
/// when asked for (the source keeps up, so frames read further ahead would only sit in memory,
/// as they do for a client that stops reading). A source that answers at once (memory, or a file in the page cache read
/// without blocking) thus reads nothing ahead, while a disk that makes the client wait gets
/// reads in flight. Frames read ahead also take their size from the service's
/// [`ReadAheadBudget`]; without budget the body reads on demand.
/// A stalled client stops the reads; a dropped body starts no more of them and releases the
/// source once the reads already running end.
///
/// When the source fails, ends early or changes, the body yields an [`Error`] and ends, so
/// the server cuts the connection instead of sending bytes the headers did not describe.
pub struct RangeBody<R: SourceReader> {
    reader: Option<R>,
    /// The plan, consumed from `next_segment` on.
    segments: Vec<Segment>,
    next_segment: usize,
    /// How far into the region at `next_segment` reads have been started.
    region_offset: u64,
    /// Frames to hand on, in order: ready bytes and reads under way.
    queue: VecDeque<Pending<R::Read>>,
    /// How many entries of `queue` are reads.
    reads_queued: usize,
    frame_size: usize,
    /// The most frames that may be read ahead.
    read_ahead: usize,
    /// How many frames are read ahead now, `0..=read_ahead`.
    depth: usize,
    /// Whether the client has had to wait for the read at the head of the queue.
    waited: bool,
    /// Frames in a row that were ready when the client asked for them.
    ready_streak: u32,
    budget: Option<ReadAheadBudget>,
    /// Bytes not yet handed on.
    remaining: u64,
}

/// How many frames in a row must be ready when asked for before the read-ahead depth shrinks
/// by one. Waiting grows it at once: a client kept waiting costs more than a frame held.
pub const READY_STREAK: u32 = 8;

enum Pending<F> {
    Ready(Bytes),
    Reading {
        read: F,
        offset: u64,
        len: usize,
        // Held until the frame is handed on or dropped: the budget counts frames held here.
        _permit: Option<BudgetPermit>,
    },
}

impl<R: SourceReader> RangeBody<R> {
    /// A body that streams `segments`, reading regions through `reader`.
    pub(crate) fn new(
        reader: R,
        segments: Vec<Segment>,
        frame_size: usize,
        read_ahead: usize,
        budget: Option<ReadAheadBudget>,
    ) -> Self {
        let remaining = segments_len(&segments);
        Self {
            reader: Some(reader),
            segments,
            next_segment: 0,
            region_offset: 0,
            queue: VecDeque::new(),
            reads_queued: 0,
            frame_size: frame_size.max(1),
            read_ahead,
            depth: 0,
            waited: false,
            ready_streak: 0,
            budget,
            remaining,
        }
    }

    /// A body with no bytes.
    pub fn empty() -> Self {
        Self::from_chunks(Vec::new())
    }

    /// A body of bytes already in memory, sent as one frame: for answers a router makes
    /// itself, such as a `404`, so that they share the body type of the service's answers.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Self::from_chunks(vec![bytes.into()])
    }

    /// A body of chunks already in memory, each sent as one frame.
    pub(crate) fn from_chunks(chunks: Vec<Bytes>) -> Self {
        let remaining = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        Self {
            reader: None,
            segments: Vec::new(),
            next_segment: 0,
            region_offset: 0,
            queue: chunks.into_iter().map(Pending::Ready).collect(),
            reads_queued: 0,
            frame_size: 1,
            read_ahead: 0,
            depth: 0,
            waited: false,
            ready_streak: 0,
            budget: None,
            remaining,
        }
    }

    /// How many frames have been read ahead of the client and not yet handed on, reads still
    /// under way included.
    pub fn frames_in_flight(&self) -> usize {
        self.reads_queued
    }

    /// Starts reads in plan order until `limit` reads are queued, the budget runs out, or the
    /// plan is exhausted. Bytes segments on the way are queued as they come.
    ///
    /// `demanded` says the client is waiting for a frame: then the first read, if none is
    /// queued, is the one it waits for and needs no budget.
    fn fill(&mut self, limit: usize, demanded: bool) {
        let Some(reader) = &self.reader else {
            return;
        };
        while let Some(segment) = self.segments.get_mut(self.next_segment) {
            match segment {
                Segment::Bytes(bytes) => {
                    self.queue.push_back(Pending::Ready(std::mem::take(bytes)));
                    self.next_segment += 1;
                }
                Segment::Region(region) => {
                    let offset = region.start() + self.region_offset;
                    if offset >= region.end() {
                        self.next_segment += 1;
                        self.region_offset = 0;
                        continue;
                    }
                    if self.reads_queued >= limit {
                        return;
                    }
                    let len = (region.end() - offset).min(self.frame_size as u64) as usize;
                    let permit = if demanded && self.reads_queued == 0 {
                        None
                    } else {
                        match &self.budget {
                            None => None,
                            Some(budget) => match budget.try_take(len as u64) {
                                Some(permit) => Some(permit),
                                None => return,
                            },
                        }
                    };
                    self.queue.push_back(Pending::Reading {
                        read: reader.read_at(offset, len),
                        offset,
                        len,
                        _permit: permit,
                    });
                    self.reads_queued += 1;
                    self.region_offset += len as u64;
                }
            }
        }
    }

    /// Ends the body: no more reads, nothing more to send.
    fn finish(&mut self) {
        self.reader = None;
        self.queue.clear();
        self.reads_queued = 0;
        self.segments.clear();
        self.next_segment = 0;
        self.remaining = 0;
    }
}

/// An empty body, as [`RangeBody::empty`]; lets layers that need a default body (such as
/// tower-http's `TimeoutLayer`) wrap the service directly.
impl<R: SourceReader> Default for RangeBody<R> {
    fn default() -> Self {
        Self::empty()
    }
}

// `RangeBody` never pins its fields: the read futures are `Unpin` and polled through
// `Pin::new`, so moving the body is always fine.
impl<R: SourceReader> Unpin for RangeBody<R> {}

impl<R: SourceReader> Body for RangeBody<R> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        // The client wants a frame: the one it waits for plus `depth` more may be read.
        this.fill(this.depth + 1, true);
        let Some(front) = this.queue.front_mut() else {
            this.finish();
            return Poll::Ready(None);
        };
        let bytes = match front {
            Pending::Ready(bytes) => std::mem::take(bytes),
            Pending::Reading {
                read, offset, len, ..
            } => match Pin::new(read).poll(cx) {
                Poll::Pending => {
                    if !this.waited {
                        // The source is slower than the client: read further ahead.
                        this.waited = true;
                        this.ready_streak = 0;
                        this.depth = (this.depth + 1).min(this.read_ahead);
                        this.fill(this.depth + 1, true);
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Ok(bytes)) if bytes.len() == *len => {
                    this.reads_queued -= 1;
                    if !std::mem::take(&mut this.waited) {
                        // The frame was ready: once the source has kept up for a while, hold
                        // less.
                        this.ready_streak += 1;
                        if this.ready_streak >= READY_STREAK {
                            this.ready_streak = 0;
                            this.depth = this.depth.saturating_sub(1);
                        }
                    }
                    bytes
                }
                Poll::Ready(result) => {
                    let error = match result {
                        Ok(short) => Error::truncated(*offset, *len, short.len()),
                        Err(error) => error,
                    };
                    tracing::warn!(%error, "response body cut");
                    this.finish();
                    return Poll::Ready(Some(Err(error)));
                }
            },
        };
        this.queue.pop_front();
        this.remaining -= bytes.len() as u64;
        // Keep the reads going while this frame is written; the frame handed on no longer
        // counts, so `depth` frames stay queued at most.
        this.fill(this.depth, false);
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

impl<R: SourceReader> fmt::Debug for RangeBody<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeBody")
            .field("remaining", &self.remaining)
            .field("frames_in_flight", &self.reads_queued)
            .field("frame_size", &self.frame_size)
            .field("read_ahead", &self.read_ahead)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::{ready, Ready};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use http_body_util::BodyExt;

    use super::*;
    use crate::range::Region;

    /// Serves `0, 1, 2, …` (mod 251) and counts the reads started.
    #[derive(Clone)]
    struct Counting {
        reads: Arc<AtomicUsize>,
        len: u64,
    }

    impl Counting {
        fn new(len: u64) -> Self {
            Self {
                reads: Arc::new(AtomicUsize::new(0)),
                len,
            }
        }
        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    fn pattern(offset: u64, len: usize) -> Bytes {
        (offset..offset + len as u64)
            .map(|i| (i % 251) as u8)
            .collect()
    }

    impl SourceReader for Counting {
        type Read = Ready<Result<Bytes, Error>>;
        fn read_at(&self, offset: u64, len: usize) -> Self::Read {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let len = len.min(self.len.saturating_sub(offset) as usize);
            ready(Ok(pattern(offset, len)))
        }
    }

    fn region(start: u64, end: u64) -> Segment {
        Segment::Region(Region::new(start, end).unwrap())
    }

    type Polled = Poll<Option<Result<Frame<Bytes>, Error>>>;

    fn poll_once<R: SourceReader>(body: &mut RangeBody<R>) -> Polled {
        let waker = std::task::Waker::noop();
        Pin::new(body).poll_frame(&mut Context::from_waker(waker))
    }

    fn next_data<R: SourceReader>(body: &mut RangeBody<R>) -> Bytes {
        match poll_once(body) {
            Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap(),
            other => panic!(
                "expected a data frame, got {:?}",
                other.map(|o| o.map(|r| r.is_ok()))
            ),
        }
    }

    #[tokio::test]
    async fn frames_have_exactly_the_frame_size_but_the_last() {
        let source = Counting::new(1000);
        let body = RangeBody::new(source, vec![region(100, 350)], 100, 2, None);
        let frames: Vec<Bytes> = body
            .into_data_stream()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>()
            .await;
        let sizes: Vec<usize> = frames.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(frames.concat(), pattern(100, 250));
    }

    use futures_util::StreamExt;

    #[test]
    fn size_hint_is_exact_and_counts_down() {
        let source = Counting::new(1000);
        let mut body = RangeBody::new(
            source,
            vec![
                Segment::Bytes(Bytes::from_static(b"head")),
                region(0, 10),
                Segment::Bytes(Bytes::from_static(b"tail")),
            ],
            4,
            1,
            None,
        );
        assert_eq!(body.size_hint().exact(), Some(18));
        assert_eq!(next_data(&mut body), "head");
        assert_eq!(body.size_hint().exact(), Some(14));
        let mut seen = 4;
        while !body.is_end_stream() {
            seen += next_data(&mut body).len();
        }
        assert_eq!(seen, 18);
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
    }

    #[test]
    fn reads_stay_within_read_ahead_of_frames_handed_on() {
        for read_ahead in [0, 1, 3] {
            let source = Counting::new(10_000);
            let mut body = RangeBody::new(
                source.clone(),
                vec![region(0, 10_000)],
                100,
                read_ahead,
                None,
            );
            assert_eq!(source.reads(), 0, "nothing is read before the client asks");
            for handed in 1..=20 {
                next_data(&mut body);
                assert!(source.reads() - handed <= read_ahead);
                // Reads complete at once here, so nothing needs to be read ahead.
                assert_eq!(body.frames_in_flight(), 0);
            }
            // A stalled client: no polls, no reads.
            let before = source.reads();
            std::thread::sleep(std::time::Duration::from_millis(5));
            assert_eq!(source.reads(), before);
        }
    }

    /// Reads that complete only when the test releases them, in order.
    #[derive(Clone)]
    struct Gated {
        started: Arc<AtomicUsize>,
        released: Arc<AtomicUsize>,
    }

    struct GatedRead {
        seq: usize,
        offset: u64,
        len: usize,
        released: Arc<AtomicUsize>,
    }

    impl Future for GatedRead {
        type Output = Result<Bytes, Error>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            if self.released.load(Ordering::SeqCst) > self.seq {
                Poll::Ready(Ok(pattern(self.offset, self.len)))
            } else {
                Poll::Pending
            }
        }
    }

    impl SourceReader for Gated {
        type Read = GatedRead;
        fn read_at(&self, offset: u64, len: usize) -> GatedRead {
            GatedRead {
                seq: self.started.fetch_add(1, Ordering::SeqCst),
                offset,
                len,
                released: self.released.clone(),
            }
        }
    }

    impl Gated {
        fn new() -> Self {
            Self {
                started: Arc::new(AtomicUsize::new(0)),
                released: Arc::new(AtomicUsize::new(0)),
            }
        }
        fn release(&self, reads: usize) {
            self.released.fetch_add(reads, Ordering::SeqCst);
        }
    }

    #[test]
    fn read_ahead_deepens_while_the_client_waits_and_shrinks_when_frames_wait() {
        let source = Gated::new();
        let mut body = RangeBody::new(source.clone(), vec![region(0, 100_000)], 100, 4, None);
        // A slow source: every frame makes the client wait, so the depth grows to 4.
        for _ in 0..6 {
            assert!(poll_once(&mut body).is_pending());
            source.release(1);
            next_data(&mut body);
        }
        assert_eq!(body.frames_in_flight(), 4);
        assert!(source.started.load(Ordering::SeqCst) - 6 <= 4);
        // A fast source: frames are ready when asked for, so the depth falls back to 0.
        source.release(1_000);
        for _ in 0..4 * READY_STREAK + 1 {
            next_data(&mut body);
        }
        assert_eq!(body.frames_in_flight(), 0);
    }

    #[test]
    fn read_ahead_takes_budget_and_gives_it_back_when_frames_are_handed_on() {
        let budget = ReadAheadBudget::new(250);
        let source = Gated::new();
        let mut body = RangeBody::new(
            source.clone(),
            vec![region(0, 10_000)],
            100,
            4,
            Some(budget.clone()),
        );
        // The client waits: the demanded frame needs no budget; the depth grows to 1 and the
        // frame read ahead takes 100.
        assert!(poll_once(&mut body).is_pending());
        assert_eq!(body.frames_in_flight(), 2);
        assert_eq!(budget.available(), 150);
        source.release(1);
        next_data(&mut body);
        assert_eq!(budget.available(), 150);
        // The client waits again: the depth grows to 2, and one more frame read ahead takes
        // 100; a third would not fit into the 50 left.
        assert!(poll_once(&mut body).is_pending());
        assert_eq!(body.frames_in_flight(), 2);
        assert_eq!(budget.available(), 50);
        assert!(poll_once(&mut body).is_pending());
        assert_eq!(body.frames_in_flight(), 2);
        source.release(1);
        // The frame handed on gives its 100 back, and the next read ahead takes them.
        next_data(&mut body);
        assert_eq!(body.frames_in_flight(), 2);
        assert_eq!(budget.available(), 50);
        drop(body);
        assert_eq!(budget.available(), 250);
    }

    #[test]
    fn without_budget_a_body_still_reads_on_demand() {
        let budget = ReadAheadBudget::new(0);
        let source = Counting::new(1_000);
        let mut body = RangeBody::new(
            source.clone(),
            vec![region(0, 1_000)],
            100,
            4,
            Some(budget.clone()),
        );
        for i in 0..10u64 {
            assert_eq!(next_data(&mut body), pattern(i * 100, 100));
            assert_eq!(body.frames_in_flight(), 0);
        }
        assert!(body.is_end_stream());
        assert_eq!(source.reads(), 10);
    }

    #[test]
    fn budget_is_given_back_when_the_body_fails() {
        let budget = ReadAheadBudget::new(1_000);
        // The source holds 150 bytes but the plan promises 400.
        let source = Counting::new(150);
        let mut body = RangeBody::new(source, vec![region(0, 400)], 100, 3, Some(budget.clone()));
        assert_eq!(next_data(&mut body).len(), 100);
        match poll_once(&mut body) {
            Poll::Ready(Some(Err(error))) => assert_eq!(error.kind(), crate::ErrorKind::Truncated),
            _ => panic!("expected the truncation error"),
        }
        assert!(body.is_end_stream());
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
        assert_eq!(budget.available(), 1_000);
    }

    #[test]
    fn a_failing_read_ends_the_body_with_its_error() {
        struct Failing;
        impl SourceReader for Failing {
            type Read = Ready<Result<Bytes, Error>>;
            fn read_at(&self, _: u64, _: usize) -> Self::Read {
                ready(Err(Error::modified()))
            }
        }
        let mut body = RangeBody::new(Failing, vec![region(0, 10)], 4, 1, None);
        match poll_once(&mut body) {
            Poll::Ready(Some(Err(error))) => assert_eq!(error.kind(), crate::ErrorKind::Modified),
            _ => panic!("expected the error"),
        }
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
    }

    #[test]
    fn an_empty_body_ends_at_once() {
        let mut body = RangeBody::<Counting>::empty();
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
    }
}
