//! The positional adapter: a region read one frame at a time by `(offset, len)` reads, with an
//! adaptive, budgeted read-ahead.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::{Pacing, ReadConfig, RegionReader};
use crate::budget::{BudgetPermit, ReadAheadBudget};
use crate::range::Region;
use crate::Error;

/// Reads byte regions of one version of a representation by position.
///
/// Every `SourceReader + Clone` is a [`RegionReader`] through [`PositionalFrames`].
pub trait SourceReader: Send + 'static {
    /// The future of one read.
    ///
    /// For read-ahead to overlap with sending, the future should make progress without being
    /// polled (a spawned task, as [`FileReader`](crate::source::FileReader) uses; wrap its
    /// `JoinHandle` in [`SpawnedRead`](crate::source::SpawnedRead)), because a body polls only
    /// the read it must hand on next. A read that is ready at once can be
    /// [`std::future::Ready`]. It must be `Unpin`; box it if needed.
    type Read: Future<Output = Result<Bytes, Error>> + Send + Unpin + 'static;

    /// Reads `len` bytes at `offset`.
    ///
    /// Fewer bytes mean the representation ended early; the body then fails with
    /// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated). When the reader can tell that the
    /// representation is no longer the version that was opened, it fails with
    /// [`Error::modified`] rather than return bytes of another version.
    fn read_at(&self, offset: u64, len: usize) -> Self::Read;

    /// The memory a read of `len` bytes holds until its frame is dropped: `len`, unless the
    /// reader reads into larger buffers (a pool's size classes). The read-ahead budget is
    /// charged this much per frame read ahead, so that its bound holds for any frame size.
    fn held_by_read(&self, len: usize) -> usize {
        len
    }
}

impl<R: SourceReader + Clone> RegionReader for R {
    type Frames = PositionalFrames<R>;

    fn read_region(&self, region: Region, config: &ReadConfig) -> PositionalFrames<R> {
        PositionalFrames::new(self.clone(), region, config)
    }
}

/// The frames of one region, each read by one positional read.
///
/// While a frame is being sent, the next ones are read, up to the depth its [`Pacing`] allows
/// (between zero and `read_ahead` frames), so that reads overlap writes; each frame read ahead
/// takes its [`SourceReader::held_by_read`] bytes from the budget, and without budget the
/// region is read on demand. Nothing is read before the client asks, a stalled client stops
/// the reads, and dropping the stream starts no more of them.
pub struct PositionalFrames<R: SourceReader> {
    reader: R,
    /// Where the next read starts, and where the region ends.
    next: u64,
    end: u64,
    /// Reads under way or done, in order, not yet handed on.
    queue: VecDeque<Pending<R::Read>>,
    pacing: Pacing,
    frame_size: usize,
    budget: Option<ReadAheadBudget>,
}

struct Pending<F> {
    read: F,
    offset: u64,
    len: usize,
    // Held until the frame is handed on or dropped: the budget counts frames held here.
    _permit: Option<BudgetPermit>,
}

impl<R: SourceReader> PositionalFrames<R> {
    /// The frames of `region`, read through `reader` as `config` says.
    pub fn new(reader: R, region: Region, config: &ReadConfig) -> Self {
        Self {
            reader,
            next: region.start(),
            end: region.end(),
            queue: VecDeque::new(),
            pacing: Pacing::new(config.read_ahead()),
            frame_size: config.frame_size(),
            budget: config.budget().cloned(),
        }
    }

    /// How many frames are read, or being read, and not yet handed on.
    pub fn frames_in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Starts reads until `limit` are queued, the budget runs out, or the region is all
    /// asked for. `demanded`: the client waits, so a first read needs no budget.
    fn fill(&mut self, limit: usize, demanded: bool) {
        while self.next < self.end && self.queue.len() < limit {
            let len = (self.end - self.next).min(self.frame_size as u64) as usize;
            let permit = match (&self.budget, demanded && self.queue.is_empty()) {
                (Some(budget), false) => {
                    match budget.try_take(self.reader.held_by_read(len) as u64) {
                        Some(permit) => Some(permit),
                        None => return,
                    }
                }
                _ => None,
            };
            self.queue.push_back(Pending {
                read: self.reader.read_at(self.next, len),
                offset: self.next,
                len,
                _permit: permit,
            });
            self.next += len as u64;
        }
    }

    /// Ends the stream: no more reads.
    fn finish(&mut self) {
        self.queue.clear();
        self.next = self.end;
    }
}

impl<R: SourceReader> Unpin for PositionalFrames<R> {}

impl<R: SourceReader> Stream for PositionalFrames<R> {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // The client wants a frame: the one it waits for plus `depth` more may be read.
        this.fill(this.pacing.depth() + 1, true);
        let Some(front) = this.queue.front_mut() else {
            return Poll::Ready(None);
        };
        let result = match Pin::new(&mut front.read).poll(cx) {
            Poll::Pending => {
                if this.pacing.client_waits() {
                    // The source is slower than the client: read further ahead.
                    this.fill(this.pacing.depth() + 1, true);
                }
                return Poll::Pending;
            }
            Poll::Ready(Ok(bytes)) if bytes.len() == front.len => Ok(bytes),
            Poll::Ready(Ok(short)) => Err(Error::truncated(front.offset, front.len, short.len())),
            Poll::Ready(Err(error)) => Err(error),
        };
        match result {
            Ok(bytes) => {
                this.queue.pop_front();
                this.pacing.frame_handed_on();
                // Keep the reads going while this frame is written; the frame handed on no
                // longer counts, so `depth` frames stay queued at most.
                this.fill(this.pacing.depth(), false);
                Poll::Ready(Some(Ok(bytes)))
            }
            Err(error) => {
                this.finish();
                Poll::Ready(Some(Err(error)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let frames =
            self.queue.len() + (self.end - self.next).div_ceil(self.frame_size as u64) as usize;
        (frames, Some(frames))
    }
}

impl<R: SourceReader> fmt::Debug for PositionalFrames<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PositionalFrames")
            .field("next", &self.next)
            .field("end", &self.end)
            .field("frames_in_flight", &self.queue.len())
            .field("depth", &self.pacing.depth())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::{ready, Ready};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures_util::StreamExt;

    use super::*;
    use crate::range::Region;

    fn frames<R: SourceReader + Clone>(
        reader: R,
        start: u64,
        end: u64,
        frame_size: usize,
        read_ahead: usize,
        budget: Option<ReadAheadBudget>,
    ) -> PositionalFrames<R> {
        let config = ReadConfig::new(frame_size, read_ahead, budget);
        reader.read_region(Region::new(start, end).unwrap(), &config)
    }

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

    type Polled = Poll<Option<Result<Bytes, Error>>>;

    fn poll_once<R: SourceReader>(body: &mut PositionalFrames<R>) -> Polled {
        let waker = std::task::Waker::noop();
        Pin::new(body).poll_next(&mut Context::from_waker(waker))
    }

    fn next_data<R: SourceReader>(body: &mut PositionalFrames<R>) -> Bytes {
        match poll_once(body) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => panic!(
                "expected a data frame, got {:?}",
                other.map(|o| o.map(|r| r.is_ok()))
            ),
        }
    }

    #[tokio::test]
    async fn frames_have_exactly_the_frame_size_but_the_last() {
        let source = Counting::new(1000);
        let body = frames(source, 100, 350, 100, 2, None);
        let frames: Vec<Bytes> = body.map(|r| r.unwrap()).collect::<Vec<_>>().await;
        let sizes: Vec<usize> = frames.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(frames.concat(), pattern(100, 250));
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
        fn started(&self) -> usize {
            self.started.load(Ordering::SeqCst)
        }
        fn release(&self, reads: usize) {
            self.released.fetch_add(reads, Ordering::SeqCst);
        }
    }

    #[test]
    fn reads_stay_within_read_ahead_of_frames_handed_on_and_reach_it() {
        for read_ahead in [0, 1, 3] {
            let source = Gated::new();
            let mut body = frames(source.clone(), 0, 10_000, 100, read_ahead, None);
            assert_eq!(
                source.started(),
                0,
                "nothing is read before the client asks"
            );
            let mut most_ahead = 0;
            for handed in 0..20 {
                // A slow source: the client asks and waits.
                assert!(poll_once(&mut body).is_pending());
                let ahead = source.started() - handed - 1;
                assert!(ahead <= read_ahead, "{ahead} reads ahead of {read_ahead}");
                most_ahead = most_ahead.max(ahead);
                source.release(1);
                next_data(&mut body);
            }
            assert_eq!(
                most_ahead, read_ahead,
                "the bound is reached, so the check can fail"
            );
            // A stalled client: no polls, no reads.
            let before = source.started();
            std::thread::sleep(std::time::Duration::from_millis(5));
            assert_eq!(source.started(), before);
        }
    }

    #[test]
    fn a_source_that_answers_at_once_reads_nothing_ahead() {
        let source = Counting::new(10_000);
        let mut body = frames(source.clone(), 0, 10_000, 100, 4, None);
        for handed in 1..=20 {
            next_data(&mut body);
            assert_eq!(source.reads(), handed);
            assert_eq!(body.frames_in_flight(), 0);
        }
    }

    #[test]
    fn read_ahead_deepens_while_the_client_waits_and_shrinks_when_frames_wait() {
        let source = Gated::new();
        let mut body = frames(source.clone(), 0, 100_000, 100, 4, None);
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
        for _ in 0..40 {
            next_data(&mut body);
        }
        assert_eq!(body.frames_in_flight(), 0);
    }

    #[test]
    fn read_ahead_takes_budget_and_gives_it_back_when_frames_are_handed_on() {
        let budget = ReadAheadBudget::new(250);
        let source = Gated::new();
        let mut body = frames(source.clone(), 0, 10_000, 100, 4, Some(budget.clone()));
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
        let mut body = frames(source.clone(), 0, 1_000, 100, 4, Some(budget.clone()));
        for i in 0..10u64 {
            assert_eq!(next_data(&mut body), pattern(i * 100, 100));
            assert_eq!(body.frames_in_flight(), 0);
        }
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
        assert_eq!(source.reads(), 10);
    }

    #[test]
    fn budget_is_given_back_when_the_body_fails() {
        let budget = ReadAheadBudget::new(1_000);
        // The source holds 150 bytes but the plan promises 400.
        let source = Counting::new(150);
        let mut body = frames(source, 0, 400, 100, 3, Some(budget.clone()));
        assert_eq!(next_data(&mut body).len(), 100);
        match poll_once(&mut body) {
            Poll::Ready(Some(Err(error))) => assert_eq!(error.kind(), crate::ErrorKind::Truncated),
            _ => panic!("expected the truncation error"),
        }
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
        assert_eq!(budget.available(), 1_000);
    }

    #[test]
    fn a_failing_read_ends_the_body_with_its_error() {
        #[derive(Clone)]
        struct Failing;
        impl SourceReader for Failing {
            type Read = Ready<Result<Bytes, Error>>;
            fn read_at(&self, _: u64, _: usize) -> Self::Read {
                ready(Err(Error::modified()))
            }
        }
        let mut body = frames(Failing, 0, 10, 4, 1, None);
        match poll_once(&mut body) {
            Poll::Ready(Some(Err(error))) => assert_eq!(error.kind(), crate::ErrorKind::Modified),
            _ => panic!("expected the error"),
        }
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
    }

    #[test]
    fn read_ahead_charges_what_a_frame_holds_not_its_length() {
        /// 100-byte frames read into 256-byte buffers.
        #[derive(Clone)]
        struct Padded(Gated);
        impl SourceReader for Padded {
            type Read = GatedRead;
            fn read_at(&self, offset: u64, len: usize) -> GatedRead {
                self.0.read_at(offset, len)
            }
            fn held_by_read(&self, _: usize) -> usize {
                256
            }
        }
        let budget = ReadAheadBudget::new(1_000);
        let source = Gated::new();
        let mut body = frames(
            Padded(source.clone()),
            0,
            10_000,
            100,
            4,
            Some(budget.clone()),
        );
        // The demanded read is free; the client waits, so one frame is read ahead.
        assert!(poll_once(&mut body).is_pending());
        assert_eq!(body.frames_in_flight(), 2);
        assert_eq!(budget.available(), 1_000 - 256);
        drop(body);
        assert_eq!(budget.available(), 1_000);
    }
}
