//! Choosing a `Content-Type` from a file name.

use std::path::Path;

use http::HeaderValue;

/// Media types that streaming players depend on, checked before `mime_guess` because its
/// answers for some of them differ from what players expect (or are missing).
const MEDIA_TYPES: &[(&str, &str)] = &[
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("webm", "video/webm"),
    ("mkv", "video/x-matroska"),
    ("mov", "video/quicktime"),
    ("ogv", "video/ogg"),
    ("ts", "video/mp2t"),
    ("m4s", "video/iso.segment"),
    ("m3u8", "application/vnd.apple.mpegurl"),
    ("mpd", "application/dash+xml"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("flac", "audio/flac"),
    ("wav", "audio/wav"),
    ("vtt", "text/vtt"),
    ("srt", "application/x-subrip"),
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
];

/// The `Content-Type` for a path: the media table above by extension (case-insensitive),
/// then `mime_guess`, then `application/octet-stream`.
///
/// ```
/// use tower_range::content_type_for_path;
///
/// assert_eq!(content_type_for_path("film.MP4".as_ref()), "video/mp4");
/// assert_eq!(content_type_for_path("notes.json".as_ref()), "application/json");
/// assert_eq!(content_type_for_path("blob".as_ref()), "application/octet-stream");
/// ```
pub fn content_type_for_path(path: &Path) -> HeaderValue {
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
        return HeaderValue::from_static("application/octet-stream");
    };
    if let Some((_, media_type)) = MEDIA_TYPES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(extension))
    {
        return HeaderValue::from_static(media_type);
    }
    match mime_guess::from_ext(extension).first_raw() {
        Some(guess) => HeaderValue::from_static(guess),
        None => HeaderValue::from_static("application/octet-stream"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(name: &str) -> HeaderValue {
        content_type_for_path(Path::new(name))
    }

    #[test]
    fn media_table_comes_first() {
        for (ext, expected) in MEDIA_TYPES {
            assert_eq!(of(&format!("/srv/a.{ext}")), *expected, "{ext}");
        }
        assert_eq!(of("clip.ts"), "video/mp2t");
    }

    #[test]
    fn the_types_of_a_media_library_are_known() {
        let expected = [
            ("a.m3u8", "application/vnd.apple.mpegurl"),
            ("a.mpd", "application/dash+xml"),
            ("a.ts", "video/mp2t"),
            ("a.m4s", "video/iso.segment"),
            ("a.vtt", "text/vtt"),
            ("a.srt", "application/x-subrip"),
            ("a.jpg", "image/jpeg"),
            ("a.png", "image/png"),
            ("a.webp", "image/webp"),
        ];
        for (name, content_type) in expected {
            assert_eq!(of(name), content_type, "{name}");
        }
    }

    #[test]
    fn extensions_are_case_insensitive() {
        assert_eq!(of("A.WEBM"), "video/webm");
    }

    #[test]
    fn other_types_come_from_mime_guess() {
        assert_eq!(of("style.css"), "text/css");
        assert_eq!(of("image.png"), "image/png");
    }

    #[test]
    fn unknown_or_missing_extensions_are_octet_streams() {
        assert_eq!(of("README"), "application/octet-stream");
        assert_eq!(of("x.nosuchext"), "application/octet-stream");
    }
}
