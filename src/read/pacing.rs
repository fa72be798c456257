//! How far ahead of its client a body reads: the adaptive read-ahead depth.

/// How many frames in a row must be ready when asked for before the depth shrinks by one.
/// Waiting grows it at once: a client kept waiting costs more than a frame held.
const READY_STREAK: u32 = 8;

/// The read-ahead depth of one stream of frames, between zero and a maximum.
///
/// It grows by one each time the client has to wait for a read (the source is slower than the
/// client, so more reads should be in flight), and shrinks by one after [`READY_STREAK`] frames
/// in a row that were ready when asked for (the source keeps up, so frames read further ahead
/// would only sit in memory, as they do for a client that stops reading). A source that answers
/// at once thus reads nothing ahead, while a disk that makes the client wait gets reads in
/// flight.
#[derive(Debug, Clone)]
pub(crate) struct Pacing {
    max: usize,
    depth: usize,
    /// Whether the client has waited for the frame it asked for last.
    waited: bool,
    ready_streak: u32,
}

impl Pacing {
    /// Starts at depth zero.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            depth: 0,
            waited: false,
            ready_streak: 0,
        }
    }

    /// How many frames to keep read ahead now.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// The client asked for a frame that is not ready. Returns whether this is the first wait
    /// for that frame (the depth grew, up to the maximum), so that more reads may start.
    pub(crate) fn client_waits(&mut self) -> bool {
        if self.waited {
            return false;
        }
        self.waited = true;
        self.ready_streak = 0;
        self.depth = (self.depth + 1).min(self.max);
        true
    }

    /// A frame was handed on.
    pub(crate) fn frame_handed_on(&mut self) {
        if std::mem::take(&mut self.waited) {
            return;
        }
        self.ready_streak += 1;
        if self.ready_streak >= READY_STREAK {
            self.ready_streak = 0;
            self.depth = self.depth.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wait_grows_the_depth_once_up_to_the_maximum() {
        let mut pacing = Pacing::new(2);
        assert!(pacing.client_waits());
        assert!(
            !pacing.client_waits(),
            "a second poll of the same frame is not a new wait"
        );
        assert_eq!(pacing.depth(), 1);
        pacing.frame_handed_on();
        for _ in 0..3 {
            pacing.client_waits();
            pacing.frame_handed_on();
        }
        assert_eq!(pacing.depth(), 2);
    }

    #[test]
    fn a_streak_of_ready_frames_shrinks_the_depth_by_one() {
        let mut pacing = Pacing::new(4);
        for _ in 0..3 {
            pacing.client_waits();
            pacing.frame_handed_on();
        }
        assert_eq!(pacing.depth(), 3);
        for _ in 0..READY_STREAK - 1 {
            pacing.frame_handed_on();
        }
        assert_eq!(pacing.depth(), 3);
        pacing.frame_handed_on();
        assert_eq!(pacing.depth(), 2);
        for _ in 0..10 * READY_STREAK {
            pacing.frame_handed_on();
        }
        assert_eq!(pacing.depth(), 0);
    }

    #[test]
    fn a_wait_resets_the_streak() {
        let mut pacing = Pacing::new(4);
        pacing.client_waits();
        pacing.frame_handed_on();
        for _ in 0..READY_STREAK - 1 {
            pacing.frame_handed_on();
        }
        pacing.client_waits();
        pacing.frame_handed_on();
        assert_eq!(pacing.depth(), 2);
    }

    #[test]
    fn a_maximum_of_zero_never_reads_ahead() {
        let mut pacing = Pacing::new(0);
        pacing.client_waits();
        assert_eq!(pacing.depth(), 0);
    }
}
