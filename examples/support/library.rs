//! The library page of the example server's directory mode: every playable file under the
//! root (video, audio, HLS and DASH playlists), grouped by folder, each with a player, its
//! poster and subtitles when same-named `.jpg` and `.vtt` files exist, and a download link.
//! Built once at start-up by walking the tree; the library itself serves no listings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the tree is served.
pub const MEDIA_PREFIX: &str = "/media";

/// The most directories the walk enters, so that a huge or looping tree cannot stall start-up.
const MAX_DIRECTORIES: usize = 100_000;

/// The page for the tree at `root`.
pub fn library_page(root: &Path) -> String {
    let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
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
            } else if kind.is_file() && player(&relative).is_some() {
                folders.entry(folder.clone()).or_default().push(relative);
            }
        }
    }
    let mut body = String::new();
    for (folder, mut files) in folders {
        files.sort();
        let title = match folder.as_os_str().is_empty() {
            true => "/".to_owned(),
            false => folder.to_string_lossy().into_owned(),
        };
        body.push_str(&format!("<section>\n<h2>{}</h2>\n", escape(&title)));
        for file in files {
            body.push_str(&figure(root, &file));
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

fn figure(root: &Path, file: &Path) -> String {
    let element = player(file).unwrap_or("video");
    let url = media_url(file);
    let sibling = |extension: &str| {
        let path = file.with_extension(extension);
        root.join(&path).is_file().then(|| media_url(&path))
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
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    format!(
        "<figure>\n<{element} controls preload=\"metadata\"{poster} src=\"{src}\">\n{track}\
         </{element}>\n<figcaption>{name} <a href=\"{src}?download\">download</a></figcaption>\n\
         </figure>\n",
        src = escape(&url),
        name = escape(&name),
    )
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
