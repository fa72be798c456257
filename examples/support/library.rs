//! The library page of the example server's tree modes: every playable file of the tree
//! (video, audio, HLS and DASH playlists), grouped by folder, each with a player, its size,
//! its poster and subtitles when same-named `.jpg` and `.vtt` files exist, and a download
//! link. One page for both trees: a directory walked at start-up ([`walk`]) and an object
//! store's prefix listed at start-up (`store.rs`), each reduced to [`Entry`]s first. The
//! library itself serves no listings.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Where the tree is served.
pub const MEDIA_PREFIX: &str = "/media";

/// The most directories the walk enters, so that a huge or looping tree cannot stall start-up.
#[cfg(unix)]
const MAX_DIRECTORIES: usize = 100_000;

/// One file of the tree: where it is below the root, and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the root, one component per folder (`a/b.mp4`).
    pub path: PathBuf,
    pub size: u64,
}

/// The regular files under `root`, hidden names (and what is under them) left out.
#[cfg(unix)]
pub fn walk(root: &Path) -> Vec<Entry> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    let mut entered = 0;
    while let Some(folder) = pending.pop() {
        entered += 1;
        if entered > MAX_DIRECTORIES {
            break;
        }
        let Ok(entries) = std::fs::read_dir(root.join(&folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            // Not followed: symlinks are served when they stay inside, but not listed.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let relative = folder.join(&name);
            if kind.is_dir() {
                pending.push(relative);
            } else if kind.is_file() {
                let size = entry.metadata().map_or(0, |m| m.len());
                files.push(Entry {
                    path: relative,
                    size,
                });
            }
        }
    }
    files
}

/// The page for the tree whose files are `entries`. Only playable files get a player; the
/// others are looked up as their posters and subtitles.
pub fn library_page(entries: &[Entry]) -> String {
    let present: HashSet<&Path> = entries.iter().map(|e| e.path.as_path()).collect();
    let mut folders: BTreeMap<&Path, Vec<&Entry>> = BTreeMap::new();
    for entry in entries.iter().filter(|e| player(&e.path).is_some()) {
        let folder = entry.path.parent().unwrap_or(Path::new(""));
        folders.entry(folder).or_default().push(entry);
    }
    let mut body = String::new();
    for (folder, mut files) in folders {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let title = match folder.as_os_str().is_empty() {
            true => "/".to_owned(),
            false => folder.to_string_lossy().into_owned(),
        };
        body.push_str(&format!("<section>\n<h2>{}</h2>\n", escape(&title)));
        for file in files {
            body.push_str(&figure(file, &present));
        }
        body.push_str("</section>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>tower-range library</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}figure{{display:inline-block;\
         vertical-align:top;margin:1em}}video{{max-width:480px}}</style>\n</head>\n<body>\n\
         <h1>tower-range library</h1>\n{body}</body>\n</html>\n"
    )
}

/// The element that plays a file, by its extension: `video` or `audio`.
fn player(path: &Path) -> Option<&'static str> {
    let content_type = tower_range::content_type_for_path(path);
    let content_type = content_type.to_str().unwrap_or("");
    if content_type.starts_with("video/")
        || content_type == "application/vnd.apple.mpegurl"
        || content_type == "application/dash+xml"
    {
        Some("video")
    } else if content_type.starts_with("audio/") {
        Some("audio")
    } else {
        None
    }
}

fn figure(file: &Entry, present: &HashSet<&Path>) -> String {
    let element = player(&file.path).unwrap_or("video");
    let url = media_url(&file.path);
    let sibling = |extension: &str| {
        let path = file.path.with_extension(extension);
        present.contains(path.as_path()).then(|| media_url(&path))
    };
    let poster = sibling("jpg")
        .map(|url| format!(" poster=\"{}\"", escape(&url)))
        .unwrap_or_default();
    let track = sibling("vtt")
        .map(|url| {
            format!(
                "<track kind=\"subtitles\" src=\"{}\" default>\n",
                escape(&url)
            )
        })
        .unwrap_or_default();
    let name = file.path.file_name().unwrap_or_default().to_string_lossy();
    // `?download`: both the directory service and the store's prefix service answer it with
    // `Content-Disposition: attachment` (the file's name kept); the attribute is for
    // browsers that honour it before the answer comes.
    format!(
        "<figure>\n<{element} controls preload=\"metadata\"{poster} src=\"{src}\">\n{track}\
         </{element}>\n<figcaption>{name} ({size}) <a href=\"{src}?download\" download>download\
         </a></figcaption>\n</figure>\n",
        src = escape(&url),
        name = escape(&name),
        size = human_size(file.size),
    )
}

/// A size for people: bytes below 1 KiB, then KiB, MiB, GiB with one decimal.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `/media/` and each segment percent-encoded (everything but unreserved bytes).
pub fn media_url(relative: &Path) -> String {
    let mut url = MEDIA_PREFIX.to_owned();
    for segment in relative.iter() {
        url.push('/');
        for byte in segment.as_encoded_bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    url.push(*byte as char)
                }
                _ => url.push_str(&format!("%{byte:02X}")),
            }
        }
    }
    url
}

/// Whether a request path is under the tree's mount point, `/media/`.
pub fn under_media(path: &str) -> bool {
    path.strip_prefix(MEDIA_PREFIX)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The request as the tree's service sees it: its path without `/media`, so that the
/// service maps what follows the mount point (as axum's `nest_service` does). Only for paths
/// [`under_media`].
pub fn strip_media_prefix<B>(request: http::Request<B>) -> http::Request<B> {
    let (mut parts, body) = request.into_parts();
    let rest = parts.uri.path()[MEDIA_PREFIX.len()..].to_owned();
    let target = match parts.uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest,
    };
    if let Ok(uri) = target.parse() {
        parts.uri = uri;
    }
    http::Request::from_parts(parts, body)
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, size: u64) -> Entry {
        Entry {
            path: PathBuf::from(path),
            size,
        }
    }

    #[test]
    fn the_page_lists_playable_files_by_folder_with_their_posters_tracks_and_sizes() {
        let page = library_page(&[
            entry("b/clip.webm", 2 << 20),
            entry("a <b>/x&y.mp4", 5000),
            entry("a <b>/x&y.vtt", 8),
            entry("a <b>/x&y.jpg", 100),
            entry("notes.txt", 5),
            entry("song.mp3", 10),
        ]);
        assert!(page.contains("<h2>a &lt;b&gt;</h2>"), "{page}");
        assert!(page.contains("poster=\"/media/a%20%3Cb%3E/x%26y.jpg\""));
        assert!(page.contains("src=\"/media/a%20%3Cb%3E/x%26y.mp4\""));
        assert!(page.contains("<track kind=\"subtitles\" src=\"/media/a%20%3Cb%3E/x%26y.vtt\""));
        assert!(page.contains("x&amp;y.mp4 (4.9 KiB)"), "{page}");
        assert!(page.contains("clip.webm (2.0 MiB)"), "{page}");
        assert!(page.contains("<h2>/</h2>\n<figure>\n<audio"), "{page}");
        assert!(
            !page.contains("notes.txt"),
            "only playable files get a player"
        );
        // Folders in order, the root first.
        let at = |text: &str| page.find(text).unwrap();
        assert!(at("<h2>/</h2>") < at("<h2>a &lt;b&gt;</h2>"));
        assert!(at("<h2>a &lt;b&gt;</h2>") < at("<h2>b</h2>"));
    }

    #[test]
    fn a_file_without_siblings_has_no_poster_or_track() {
        let page = library_page(&[entry("x.mp4", 1), entry("y.jpg", 1), entry("x.vtt.bak", 1)]);
        assert!(!page.contains("poster="), "{page}");
        assert!(!page.contains("<track"), "{page}");
        assert!(page.contains("x.mp4 (1 B)"), "{page}");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
        assert_eq!(human_size(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn the_mount_point_is_a_whole_segment() {
        assert!(under_media("/media/a.mp4"));
        assert!(under_media("/media/"));
        assert!(!under_media("/media"));
        assert!(!under_media("/mediax/a.mp4"));
        let request = http::Request::get("/media/a%20b/c.mp4?download")
            .body(())
            .unwrap();
        assert_eq!(strip_media_prefix(request).uri(), "/a%20b/c.mp4?download");
    }
}
