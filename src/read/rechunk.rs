//! The streaming adapter: an upstream stream of chunks of any size, re-split into frames of
//! exactly the frame size.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;

use super::ReadConfig;
use crate::range::Region;
use crate::Error;

/// The frames of one region, cut from an upstream stream of chunks (one ranged GET of an
/// object store, say).
///
/// A frame that lies inside one chunk is a slice of it (no copy); only the bytes of a frame
/// that straddles two chunks are copied. The stream pulls from upstream only while it is
/// polled and holds fewer than `read_ahead` frames (at least one), and it pulls a new chunk
/// only once every slice of the previous one has been handed on, so that the bytes it has
/// pulled but not handed on stay within `read_ahead × frame_size` plus one upstream chunk
/// (a chunk kept alive by its slices counted whole): a consumer that stops reading stops
/// the pulling, and the upstream connection's window takes up the difference.
///
/// Upstream ending before the region does fails with
/// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated); sending more than the region fails
/// too. Errors of the upstream end the stream.
pub struct StreamFrames<S> {
    upstream: Option<S>,
    /// The rest of the newest upstream chunk, not yet cut into frames.
    chunk: Bytes,
    /// Frames cut and not yet handed on; how many of them are slices of `chunk`'s allocation.
    ready: VecDeque<Bytes>,
    slices_ready: usize,
    /// The start of a frame that straddles two chunks.
    partial: BytesMut,
    /// Region bytes not yet cut into a frame; region bytes not yet received.
    uncut: u64,
    unreceived: u64,
    frame_size: usize,
    /// Frames to hold at most before pulling stops: `read_ahead`, at least one.
    target: usize,
    region: Region,
    /// A failure met while pulling ahead, reported with the next poll.
    failed: Option<Error>,
}

impl<S, E> StreamFrames<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Error>,
{
    /// The frames of `region`, cut from `upstream`, which must yield exactly its bytes.
    pub fn new(upstream: S, region: Region, config: &ReadConfig) -> Self {
        Self {
            upstream: Some(upstream),
            chunk: Bytes::new(),
            ready: VecDeque::new(),
            slices_ready: 0,
            partial: BytesMut::new(),
            uncut: region.len(),
            unreceived: region.len(),
            frame_size: config.frame_size(),
            target: config.read_ahead().max(1),
            region,
            failed: None,
        }
    }

    /// The length of the next frame to cut.
    fn next_frame_len(&self) -> usize {
        self.uncut.min(self.frame_size as u64) as usize
    }

    /// Cuts frames from `chunk` until it is used up or enough frames are ready.
    fn cut(&mut self) {
        while !self.chunk.is_empty() && self.ready.len() < self.target {
            let want = self.next_frame_len() - self.partial.len();
            if self.partial.is_empty() && self.chunk.len() >= want {
                let frame = self.chunk.split_to(want);
                self.push(frame, true);
            } else {
                let take = want.min(self.chunk.len());
                if self.partial.is_empty() {
                    // The whole frame's room at once: growing as the pieces come would
                    // allocate and copy the first piece again.
                    self.partial.reserve(want);
                }
                self.partial.extend_from_slice(&self.chunk[..take]);
                self.chunk.advance(take);
                if self.partial.len() == self.next_frame_len() {
                    let frame = self.partial.split().freeze();
                    self.push(frame, false);
                }
            }
        }
    }

    fn push(&mut self, frame: Bytes, slice: bool) {
        self.uncut -= frame.len() as u64;
        self.slices_ready += usize::from(slice);
        self.ready.push_back(frame);
    }

    /// Pulls chunks while the bound allows and upstream has them ready.
    fn pull(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        loop {
            self.cut();
            // Enough frames, or a chunk left to cut, or slices of the last chunk still
            // queued (a new chunk only once they are gone): stop pulling.
            if self.ready.len() >= self.target || !self.chunk.is_empty() || self.slices_ready > 0 {
                return Ok(());
            }
            let Some(upstream) = self.upstream.as_mut() else {
                return Ok(());
            };
            match Pin::new(upstream).poll_next(cx) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.len() as u64 > self.unreceived {
                        return Err(Error::from(std::io::Error::other(
                            "the upstream sent more bytes than the region holds",
                        )));
                    }
                    self.unreceived -= chunk.len() as u64;
                    self.chunk = chunk;
                }
                Poll::Ready(Some(Err(error))) => return Err(error.into()),
                Poll::Ready(None) => {
                    self.upstream = None;
                    if self.unreceived > 0 {
                        let received = self.region.len() - self.unreceived;
                        return Err(Error::truncated(
                            self.region.start(),
                            self.region.len() as usize,
                            received as usize,
                        ));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Ends the stream: nothing more to pull or hand on.
    fn finish(&mut self) {
        self.upstream = None;
        self.chunk = Bytes::new();
        self.ready.clear();
        self.slices_ready = 0;
        self.partial = BytesMut::new();
        self.uncut = 0;
    }
}

impl<S> Unpin for StreamFrames<S> {}

impl<S, E> Stream for StreamFrames<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Error>,
{
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let pulled = match this.failed.take() {
            Some(error) => Err(error),
            None => this.pull(cx),
        };
        if let Err(error) = pulled {
            this.finish();
            return Poll::Ready(Some(Err(error)));
        }
        let Some(frame) = this.ready.pop_front() else {
            return match this.uncut {
                0 => Poll::Ready(None),
                _ => Poll::Pending,
            };
        };
        // Slices stand behind any copied frame in the queue (a chunk is pulled only once the
        // last one's slices are gone), so the frame handed on was a slice when fewer frames
        // are left than slices counted.
        if this.ready.len() < this.slices_ready {
            this.slices_ready -= 1;
        }
        // Pull on while this frame is written, within the bound; a failure comes next.
        if let Err(error) = this.pull(cx) {
            this.failed = Some(error);
        }
        Poll::Ready(Some(Ok(frame)))
    }
}

impl<S> fmt::Debug for StreamFrames<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFrames")
            .field("region", &self.region)
            .field("frames_ready", &self.ready.len())
            .field("chunk", &self.chunk.len())
            .field("uncut", &self.uncut)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;

    fn pattern(offset: u64, len: usize) -> Vec<u8> {
        (offset..offset + len as u64)
            .map(|i| (i % 251) as u8)
            .collect()
    }

    /// Yields the given chunks of the pattern from `start`, counting the bytes it has yielded,
    /// remembering the size of the last chunk, and counting the chunks whose memory is still
    /// referenced (by the adapter or by frames sliced from them).
    struct Upstream {
        chunks: VecDeque<Bytes>,
        pulled: Arc<AtomicU64>,
        last_chunk: Arc<AtomicU64>,
        chunks_pulled: Arc<AtomicU64>,
        alive: Arc<AtomicU64>,
        then: Option<Error>,
    }

    /// A chunk's memory, counted while it is alive.
    struct Tracked {
        bytes: Vec<u8>,
        alive: Arc<AtomicU64>,
    }

    impl AsRef<[u8]> for Tracked {
        fn as_ref(&self) -> &[u8] {
            &self.bytes
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.alive.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl Upstream {
        fn new(start: u64, sizes: &[usize]) -> Self {
            let alive = Arc::new(AtomicU64::new(0));
            let mut offset = start;
            let chunks = sizes
                .iter()
                .map(|&len| {
                    let bytes = pattern(offset, len);
                    offset += len as u64;
                    alive.fetch_add(1, Ordering::SeqCst);
                    Bytes::from_owner(Tracked {
                        bytes,
                        alive: alive.clone(),
                    })
                })
                .collect();
            Self {
                chunks,
                pulled: Arc::default(),
                last_chunk: Arc::default(),
                chunks_pulled: Arc::default(),
                alive,
                then: None,
            }
        }

        /// Chunks yielded and still alive: those not yet yielded do not count.
        fn alive_yielded(alive: &AtomicU64, not_yielded: u64) -> u64 {
            alive.load(Ordering::SeqCst) - not_yielded
        }
    }

    impl Stream for Upstream {
        type Item = Result<Bytes, Error>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            match self.chunks.pop_front() {
                Some(chunk) => {
                    self.pulled.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    self.last_chunk.store(chunk.len() as u64, Ordering::SeqCst);
                    self.chunks_pulled.fetch_add(1, Ordering::SeqCst);
                    Poll::Ready(Some(Ok(chunk)))
                }
                None => Poll::Ready(self.then.take().map(Err)),
            }
        }
    }

    fn poll_once<S: Stream + Unpin>(stream: &mut S) -> Poll<Option<S::Item>> {
        Pin::new(stream).poll_next(&mut Context::from_waker(std::task::Waker::noop()))
    }

    /// splitmix64: random chunk sizes, the same every run.
    fn sizes(seed: u64, total: u64, max: u64) -> Vec<usize> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut left = total;
        let mut out = Vec::new();
        while left > 0 {
            // Mostly small chunks, some large: sizes spread over 1 B ..= 1 MiB.
            let bits = next() % 21;
            let len = (1 + next() % (1u64 << bits).min(max)).min(left);
            out.push(len as usize);
            left -= len;
        }
        out
    }

    #[test]
    fn chunks_of_random_sizes_become_exact_frames_within_the_bound() {
        const FRAME: usize = 64 * 1024;
        // Chunk sizes spread over 1 B ..= 1 MiB, then small ones only, where most frames
        // straddle chunks and the bound is tightest.
        let cases = [
            (1, 0, 1 << 20),
            (2, 1, 1 << 20),
            (3, 4, 1 << 20),
            (4, 8, 1 << 20),
        ];
        let small = [(5, 0, 4096u64), (6, 1, 4096), (7, 4, 4096)];
        for (seed, read_ahead, max_chunk) in cases.into_iter().chain(small) {
            let region = Region::new(1000, 1000 + 20 * 1024 * 1024 + 17).unwrap();
            let sizes = sizes(seed, region.len(), max_chunk);
            let chunk_count = sizes.len() as u64;
            let upstream = Upstream::new(region.start(), &sizes);
            let (pulled, last_chunk) = (upstream.pulled.clone(), upstream.last_chunk.clone());
            let (alive, chunks_pulled) = (upstream.alive.clone(), upstream.chunks_pulled.clone());
            let not_yielded = || chunk_count - chunks_pulled.load(Ordering::SeqCst);
            let config = ReadConfig::new(FRAME, read_ahead, None);
            let mut frames = StreamFrames::new(upstream, region, &config);
            let bound = read_ahead.max(1) as u64 * FRAME as u64;
            let (mut handed, mut most_held, mut count) = (0u64, 0u64, 0);
            loop {
                let frame = match poll_once(&mut frames) {
                    Poll::Ready(Some(Ok(frame))) => frame,
                    Poll::Ready(None) => break,
                    other => panic!("unexpected {:?}", other.map(|o| o.map(|r| r.is_ok()))),
                };
                let expected = (region.len() - handed).min(FRAME as u64) as usize;
                assert_eq!(frame.len(), expected, "frame {count} has the wrong size");
                assert_eq!(frame[..], pattern(region.start() + handed, expected)[..]);
                handed += frame.len() as u64;
                count += 1;
                // A consumer that stops here stops the pulling: nothing is pulled between
                // polls. What was pulled and not handed on stays within the bound.
                let held = pulled.load(Ordering::SeqCst) - handed;
                assert!(
                    held <= bound + last_chunk.load(Ordering::SeqCst),
                    "{held} bytes held, bound {bound} + one chunk"
                );
                most_held = most_held.max(held);
                // And by memory: one upstream chunk alive at most, its slices included.
                drop(frame);
                let chunks_alive = Upstream::alive_yielded(&alive, not_yielded());
                assert!(
                    chunks_alive <= 1,
                    "{chunks_alive} upstream chunks kept alive"
                );
            }
            assert_eq!(handed, region.len());
            assert_eq!(not_yielded(), 0);
            // The bound is reached, so the checks above can fail: with large chunks the
            // adapter holds more than `read_ahead` frames' worth (the one-chunk part of the
            // bound is used); with small ones it comes within a chunk of `read_ahead` frames.
            let reached = match max_chunk > FRAME as u64 {
                true => most_held > bound,
                false => most_held + max_chunk >= bound,
            };
            assert!(
                reached,
                "read-ahead {read_ahead}: at most {most_held} held of {bound} + a chunk"
            );
        }
    }

    #[test]
    fn a_frame_inside_one_chunk_is_a_slice_of_it() {
        let region = Region::new(0, 300).unwrap();
        let upstream = Upstream::new(0, &[300]);
        let chunk_start = upstream.chunks[0].as_ptr();
        let mut frames = StreamFrames::new(upstream, region, &ReadConfig::new(100, 4, None));
        let Poll::Ready(Some(Ok(first))) = poll_once(&mut frames) else {
            panic!("expected a frame");
        };
        assert_eq!(first.as_ptr(), chunk_start, "copied instead of sliced");
    }

    #[test]
    fn an_upstream_that_ends_early_is_a_truncation() {
        let region = Region::new(0, 300).unwrap();
        let upstream = Upstream::new(0, &[100, 50]);
        let mut frames = StreamFrames::new(upstream, region, &ReadConfig::new(100, 1, None));
        assert!(matches!(poll_once(&mut frames), Poll::Ready(Some(Ok(_)))));
        match poll_once(&mut frames) {
            Poll::Ready(Some(Err(error))) => assert_eq!(error.kind(), crate::ErrorKind::Truncated),
            other => panic!(
                "expected the truncation, got {:?}",
                other.map(|o| o.map(|r| r.is_ok()))
            ),
        }
        assert!(matches!(poll_once(&mut frames), Poll::Ready(None)));
    }

    #[test]
    fn an_upstream_error_or_too_many_bytes_end_the_stream_with_an_error() {
        let region = Region::new(0, 100).unwrap();
        let mut upstream = Upstream::new(0, &[10]);
        upstream.then = Some(Error::modified());
        let mut frames = StreamFrames::new(upstream, region, &ReadConfig::new(100, 1, None));
        match poll_once(&mut frames) {
            Poll::Ready(Some(Err(error))) => assert_eq!(error.kind(), crate::ErrorKind::Modified),
            _ => panic!("expected the upstream's error"),
        }
        let upstream = Upstream::new(0, &[60, 60]);
        let mut frames = StreamFrames::new(upstream, region, &ReadConfig::new(100, 1, None));
        assert!(matches!(poll_once(&mut frames), Poll::Ready(Some(Err(_)))));
    }
}
