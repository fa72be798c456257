//! The frame size of one answer: the service's, or larger for a short answer.
//!
//! Every frame costs the same fixed work whatever its size — a read, a pass through the body
//! and hyper, a write — so an answer of a few hundred KiB sent in 64 KiB frames spends much
//! of its time on that (measured on W2's 1 MiB ranges: 256 KiB frames serve 22 % more
//! requests a second). A long answer keeps the service's frame size: it is what a stalled
//! client pins, and a video stream or a download is long. A short answer holds at most its
//! own length however it is cut, so its frames can be larger without raising what any one
//! client can pin by much.

/// Answers of at most this many bytes are short: an HLS or DASH segment, a player's or a
/// download manager's bounded range.
pub const SHORT_ANSWER: u64 = 2 * 1024 * 1024;

/// The largest frame a short answer is cut into.
pub const SHORT_ANSWER_MAX_FRAME: usize = 256 * 1024;

/// The frame size for an answer whose regions hold `len` bytes in all: for a short answer,
/// about a quarter of it (a power of two), within `base..=SHORT_ANSWER_MAX_FRAME`; else
/// `base`. Never smaller than `base`.
pub(crate) fn answer_frame_size(base: usize, len: u64) -> usize {
    if len > SHORT_ANSWER || base >= SHORT_ANSWER_MAX_FRAME {
        return base;
    }
    let quarter = len.div_ceil(4).next_power_of_two();
    let quarter = usize::try_from(quarter).unwrap_or(SHORT_ANSWER_MAX_FRAME);
    quarter.clamp(base, SHORT_ANSWER_MAX_FRAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    #[test]
    fn a_one_mib_answer_goes_in_four_frames_of_256_kib() {
        assert_eq!(answer_frame_size(64 * KIB, 1 << 20), 256 * KIB);
    }

    #[test]
    fn a_small_answer_keeps_the_base_frame_size() {
        for len in [0, 1, 4096, 100 * 1024, 256 * 1024] {
            assert_eq!(answer_frame_size(64 * KIB, len), 64 * KIB, "{len}");
        }
    }

    #[test]
    fn answers_in_between_go_in_about_four_frames() {
        assert_eq!(answer_frame_size(64 * KIB, 300 * 1024), 128 * KIB);
        assert_eq!(answer_frame_size(64 * KIB, 600 * 1024), 256 * KIB);
        assert_eq!(answer_frame_size(16 * KIB, 200 * 1024), 64 * KIB);
    }

    #[test]
    fn long_answers_and_large_base_frames_are_left_alone() {
        assert_eq!(answer_frame_size(64 * KIB, SHORT_ANSWER + 1), 64 * KIB);
        assert_eq!(answer_frame_size(64 * KIB, 1 << 30), 64 * KIB);
        assert_eq!(answer_frame_size(1 << 20, 1 << 20), 1 << 20);
    }

    #[test]
    fn the_frame_never_exceeds_the_short_answer_maximum() {
        for len in (0..=SHORT_ANSWER).step_by(4093) {
            let frame = answer_frame_size(4 * KIB, len);
            assert!(
                (4 * KIB..=SHORT_ANSWER_MAX_FRAME).contains(&frame),
                "{len}: {frame}"
            );
        }
    }
}
