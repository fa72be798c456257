//! What the tests serve: the bundled sample, deterministic generated content, the extra media
//! files generated with ffmpeg, the top-level boxes of an MP4; and a comparison of bytes that
//! fails with an offset rather than megabytes of output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{manifest_dir, read, require_program, run};

/// The bundled sample video, `media/sample.mp4`.
pub fn sample_path() -> PathBuf {
    manifest_dir().join("media/sample.mp4")
}

/// The bytes of [`sample_path`].
pub fn sample() -> Vec<u8> {
    read(&sample_path())
}

/// Deterministic test content: byte `i` is `i * 7 + i / 251` (mod 256), so that no two
/// nearby windows are equal and a shifted or mixed-up slice is caught.
pub fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(7).wrapping_add(i / 251)) as u8)
        .collect()
}

/// Asserts two byte strings are equal without printing megabytes when they are not.
#[track_caller]
pub fn assert_same_bytes(what: &str, actual: &[u8], expected: &[u8]) {
    if actual == expected {
        return;
    }
    let first_diff = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    panic!(
        "{what}: got {} bytes, expected {} bytes; first difference at byte {first_diff}",
        actual.len(),
        expected.len()
    );
}

/// The three media files of the real-client tests.
#[derive(Debug, Clone)]
pub struct TestMedia {
    /// `media/sample.mp4`: H.264 + AAC, `moov` first (faststart).
    pub faststart_mp4: PathBuf,
    /// The same streams with `moov` after `mdat`.
    pub moov_at_end_mp4: PathBuf,
    /// VP9 + Opus in WebM.
    pub vp9_opus_webm: PathBuf,
}

/// Generates the extra test media once per test process (with `media/make-test-media.sh`,
/// which needs ffmpeg) into the target tmp dir, and returns all three files.
pub fn test_media() -> TestMedia {
    static MEDIA: OnceLock<Result<TestMedia, String>> = OnceLock::new();
    MEDIA
        .get_or_init(|| {
            require_program("ffmpeg", "ffmpeg");
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-media");
            let script = manifest_dir().join("media/make-test-media.sh");
            let mut cmd = Command::new("bash");
            cmd.arg(&script).arg(&dir);
            let out = run(&mut cmd, Duration::from_secs(120));
            if !out.status.success() {
                return Err(format!(
                    "{} {} failed: {}\n{}",
                    script.display(),
                    dir.display(),
                    out.status,
                    out.stderr_text()
                ));
            }
            let media = TestMedia {
                faststart_mp4: sample_path(),
                moov_at_end_mp4: dir.join("moov-at-end.mp4"),
                vp9_opus_webm: dir.join("vp9-opus.webm"),
            };
            for f in [
                &media.faststart_mp4,
                &media.moov_at_end_mp4,
                &media.vp9_opus_webm,
            ] {
                if !f.is_file() {
                    return Err(format!("{} is missing", f.display()));
                }
            }
            Ok(media)
        })
        .clone()
        .unwrap_or_else(|e| panic!("test media: {e}"))
}

/// The top-level ISO-BMFF boxes of an MP4: `(type, offset, size)`.
pub fn mp4_top_level_boxes(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let mut boxes = Vec::new();
    let mut off = 0usize;
    while off + 8 <= bytes.len() {
        let mut size = u32::from_be_bytes(bytes[off..off + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&bytes[off + 4..off + 8]).into_owned();
        if size == 1 && off + 16 <= bytes.len() {
            size = u64::from_be_bytes(bytes[off + 8..off + 16].try_into().unwrap());
        } else if size == 0 {
            size = (bytes.len() - off) as u64;
        }
        boxes.push((kind, off as u64, size));
        if size < 8 {
            break;
        }
        off += size as usize;
    }
    boxes
}

/// The offset of the top-level `moov` box of an MP4 file.
pub fn moov_offset(path: &Path) -> u64 {
    let bytes = read(path);
    mp4_top_level_boxes(&bytes)
        .into_iter()
        .find(|(kind, _, _)| kind == "moov")
        .unwrap_or_else(|| panic!("{}: no top-level moov box", path.display()))
        .1
}
