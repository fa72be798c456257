//! The per-file policy the directory and bucket-prefix tests share: HLS cache headers.

use std::path::Path;

use http::header::CACHE_CONTROL;
use http::HeaderValue;
use tower_range::policy::FilePolicy;

/// Playlists revalidated, segments cached for good, the rest for a minute.
pub fn hls_policy(path: &Path, _: &tower_range::Metadata) -> FilePolicy {
    let cache = match path.extension().and_then(|e| e.to_str()) {
        Some("m3u8") => "no-cache",
        Some("ts") => "public, max-age=31536000, immutable",
        _ => "public, max-age=60",
    };
    FilePolicy::default().header(CACHE_CONTROL, HeaderValue::from_static(cache))
}
