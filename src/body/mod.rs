//! The response body: bytes already in memory, or the planned segments streamed region by
//! region.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::rate::Throttle;
use crate::read::{ReadConfig, RegionReader};
use crate::response::Segment;
use crate::Error;

mod cursor;
mod in_memory;
mod regions;

use in_memory::InMemoryBody;
use regions::RegionsBody;

/// The body of every response of the crate's services.
///
/// Either bytes already in memory (an error text, a `304`, anything a router answers itself),
/// or a plan streamed in order: its byte segments (multipart framing) as they are, and each
/// region of the representation as the frames of one [`RegionReader::read_region`] stream:
/// fixed-size frames with a bounded read-ahead, so that one body holds at most about
/// `frame_size × (read_ahead + 1)` bytes however large the range (see
/// [`PositionalFrames`](crate::read::PositionalFrames) and
/// [`StreamFrames`](crate::read::StreamFrames) for each adapter's bound).
///
/// When the source fails, ends early or changes, the body yields an [`Error`] and ends, so
/// the server cuts the connection instead of sending bytes the headers did not describe.
pub struct RangeBody<R: RegionReader> {
    kind: Kind<R>,
}

enum Kind<R: RegionReader> {
    InMemory(InMemoryBody),
    Regions(RegionsBody<R>),
}

impl<R: RegionReader> RangeBody<R> {
    /// A body that streams `segments`, reading their regions through `reader`, held to its
    /// rate by `throttle` if any.
    pub(crate) fn regions(
        reader: R,
        segments: Vec<Segment>,
        config: ReadConfig,
        throttle: Option<Throttle>,
    ) -> Self {
        Self {
            kind: Kind::Regions(RegionsBody::new(reader, segments, config, throttle)),
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
        Self {
            kind: Kind::InMemory(InMemoryBody::new(chunks)),
        }
    }
}

/// An empty body, as [`RangeBody::empty`]; lets layers that need a default body (such as
/// tower-http's `TimeoutLayer`) wrap the service directly.
impl<R: RegionReader> Default for RangeBody<R> {
    fn default() -> Self {
        Self::empty()
    }
}

// Both bodies are `Unpin` (their streams are required to be), so the body is too.
impl<R: RegionReader> Unpin for RangeBody<R> {}

impl<R: RegionReader> Body for RangeBody<R> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let polled = match &mut self.get_mut().kind {
            Kind::InMemory(body) => Poll::Ready(body.next().map(Ok)),
            Kind::Regions(body) => body.poll_next(cx),
        };
        if let Poll::Ready(Some(Ok(bytes))) = &polled {
            crate::metrics::frame_sent(bytes.len());
        }
        polled.map(|frame| frame.map(|result| result.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining())
    }
}

impl<R: RegionReader> RangeBody<R> {
    /// The bytes not yet handed on.
    fn remaining(&self) -> u64 {
        match &self.kind {
            Kind::InMemory(body) => body.remaining(),
            Kind::Regions(body) => body.remaining(),
        }
    }
}

impl<R: RegionReader> fmt::Debug for RangeBody<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::InMemory(_) => "in memory",
            Kind::Regions(_) => "regions",
        };
        f.debug_struct("RangeBody")
            .field("kind", &kind)
            .field("remaining", &self.remaining())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::future::{ready, Ready};

    use http_body_util::BodyExt;

    use super::*;
    use crate::range::Region;
    use crate::read::SourceReader;

    /// Serves `0, 1, 2, …` (mod 251) up to `len`.
    #[derive(Clone)]
    struct Pattern(u64);

    fn pattern(offset: u64, len: usize) -> Bytes {
        (offset..offset + len as u64)
            .map(|i| (i % 251) as u8)
            .collect()
    }

    impl SourceReader for Pattern {
        type Read = Ready<Result<Bytes, Error>>;
        fn read_at(&self, offset: u64, len: usize) -> Self::Read {
            let len = len.min(self.0.saturating_sub(offset) as usize);
            ready(Ok(pattern(offset, len)))
        }
    }

    fn region(start: u64, end: u64) -> Segment {
        Segment::Region(Region::new(start, end).unwrap())
    }

    fn body(len: u64, segments: Vec<Segment>, frame_size: usize) -> RangeBody<Pattern> {
        RangeBody::regions(
            Pattern(len),
            segments,
            ReadConfig::new(frame_size, 1, None),
            None,
        )
    }

    fn poll_once<R: RegionReader>(
        body: &mut RangeBody<R>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let waker = std::task::Waker::noop();
        Pin::new(body).poll_frame(&mut Context::from_waker(waker))
    }

    fn next_data(body: &mut RangeBody<Pattern>) -> Bytes {
        match poll_once(body) {
            Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap(),
            _ => panic!("expected a data frame"),
        }
    }

    #[test]
    fn size_hint_is_exact_and_counts_down_across_segments() {
        let segments = vec![
            Segment::Bytes(Bytes::from_static(b"head")),
            region(0, 10),
            Segment::Bytes(Bytes::from_static(b"tail")),
        ];
        let mut body = body(1000, segments, 4);
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

    #[tokio::test]
    async fn regions_and_framing_come_in_plan_order_in_exact_frames() {
        let segments = vec![
            Segment::Bytes(Bytes::from_static(b"--a\r\n")),
            region(100, 350),
            Segment::Bytes(Bytes::from_static(b"--b\r\n")),
            region(10, 20),
        ];
        let frames: Vec<Bytes> = body(1000, segments, 100)
            .into_data_stream()
            .map(|r| r.unwrap())
            .collect::<Vec<_>>()
            .await;
        let sizes: Vec<usize> = frames.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [5, 100, 100, 50, 5, 10]);
        assert_eq!(frames[1..4].concat(), pattern(100, 250));
        assert_eq!(frames[5], pattern(10, 10));
    }

    use futures_util::StreamExt;

    #[test]
    fn a_region_the_reader_cannot_fill_ends_the_body_with_an_error() {
        // The reader holds 150 bytes but the plan promises 400.
        let mut body = body(150, vec![region(0, 400)], 100);
        assert_eq!(next_data(&mut body).len(), 100);
        match poll_once(&mut body) {
            Poll::Ready(Some(Err(error))) => assert_eq!(error.kind(), crate::ErrorKind::Truncated),
            _ => panic!("expected the truncation error"),
        }
        assert!(body.is_end_stream());
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
    }

    /// [`Pattern`] that counts its reads.
    #[derive(Clone)]
    struct Counted(Pattern, std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl SourceReader for Counted {
        type Read = Ready<Result<Bytes, Error>>;
        fn read_at(&self, offset: u64, len: usize) -> Self::Read {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.read_at(offset, len)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_body_reads_nothing_it_may_not_yet_send() {
        use crate::rate::{RateLimit, Throttle};
        let reads = std::sync::Arc::default();
        let reader = Counted(Pattern(1 << 20), std::sync::Arc::clone(&reads));
        // 4 KiB frames at 4 KiB/s, read ahead allowed: each frame after the first waits 1 s.
        let throttle = Throttle::new(RateLimit::new(4096));
        let config = ReadConfig::new(4096, 4, None);
        let mut body = RangeBody::regions(reader, vec![region(0, 40_960)], config, throttle);
        let start = tokio::time::Instant::now();
        for sent in 1..=10 {
            let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(frame.len(), 4096);
            // While the body waits for its next turn, nothing more has been read.
            if sent < 10 {
                assert!(poll_once(&mut body).is_pending());
            }
            assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), sent);
        }
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(9));
    }

    #[test]
    fn an_empty_body_ends_at_once() {
        let mut body = RangeBody::<Pattern>::empty();
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
    }

    #[test]
    fn bytes_in_memory_are_one_frame() {
        let mut body = RangeBody::<Pattern>::from_bytes("not found\n");
        assert_eq!(body.size_hint().exact(), Some(10));
        assert_eq!(next_data(&mut body), "not found\n");
        assert!(body.is_end_stream());
    }

    /// What a body records: bytes per frame, and for streaming bodies the active gauge and
    /// how they ended.
    #[cfg(feature = "metrics")]
    mod metrics {
        use super::*;
        use crate::metrics::recorded::Recorded;

        const ACTIVE: &str = "tower_range_bodies_active";
        const SENT: &str = "tower_range_sent_bytes_total";

        fn ended(recorded: &Recorded, outcome: &str) -> u64 {
            recorded.counter("tower_range_bodies_ended_total", &[("outcome", outcome)])
        }

        /// The counts of `completed`, `cut` and `aborted`.
        fn outcomes(recorded: &Recorded) -> [u64; 3] {
            ["completed", "cut", "aborted"].map(|outcome| ended(recorded, outcome))
        }

        #[test]
        fn a_body_that_handed_everything_on_ends_completed_though_never_polled_past_its_end() {
            let recorded = Recorded::default();
            recorded.during(|| {
                let mut body = body(1000, vec![region(0, 250)], 100);
                assert_eq!(recorded.gauge(ACTIVE), 1.0);
                // As hyper does: it stops at `is_end_stream` and drops the body.
                while !body.is_end_stream() {
                    next_data(&mut body);
                }
                drop(body);
            });
            assert_eq!(outcomes(&recorded), [1, 0, 0]);
            assert_eq!(recorded.gauge(ACTIVE), 0.0);
            assert_eq!(recorded.counter(SENT, &[]), 250);
        }

        #[test]
        fn a_body_dropped_before_its_end_ends_aborted() {
            let recorded = Recorded::default();
            recorded.during(|| {
                let mut body = body(1000, vec![region(0, 250)], 100);
                next_data(&mut body);
                drop(body);
                // One never polled at all: the client left before the head went out.
                drop(body_never_polled());
            });
            assert_eq!(outcomes(&recorded), [0, 0, 2]);
            assert_eq!(recorded.gauge(ACTIVE), 0.0);
            assert_eq!(recorded.counter(SENT, &[]), 100);
        }

        fn body_never_polled() -> RangeBody<Pattern> {
            body(1000, vec![region(0, 10)], 100)
        }

        #[test]
        fn a_body_that_yields_an_error_ends_cut_not_completed() {
            let recorded = Recorded::default();
            recorded.during(|| {
                // The reader holds 150 bytes but the plan promises 400.
                let mut body = body(150, vec![region(0, 400)], 100);
                next_data(&mut body);
                assert!(matches!(poll_once(&mut body), Poll::Ready(Some(Err(_)))));
                // Nothing is left to hand on now, yet the body did not complete.
                assert!(body.is_end_stream());
                drop(body);
            });
            assert_eq!(outcomes(&recorded), [0, 1, 0]);
            assert_eq!(recorded.gauge(ACTIVE), 0.0);
            assert_eq!(recorded.counter(SENT, &[]), 100);
        }

        #[test]
        fn a_body_in_memory_counts_its_bytes_but_no_outcome() {
            let recorded = Recorded::default();
            recorded.during(|| {
                let mut body = RangeBody::<Pattern>::from_bytes("not found\n");
                next_data(&mut body);
                drop(body);
                drop(RangeBody::<Pattern>::from_bytes("never sent"));
            });
            assert_eq!(outcomes(&recorded), [0, 0, 0]);
            assert_eq!(recorded.gauge(ACTIVE), 0.0);
            assert_eq!(recorded.counter(SENT, &[]), 10);
        }
    }
}
