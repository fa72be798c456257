//! From a request path to a path beneath a root: pure rules, no I/O.
//!
//! The request path (relative to where the service is mounted) is split at `/` and each
//! segment percent-decoded exactly once. A malformed escape is `400`; every other refusal is
//! `404`, so that a client learns nothing of what is on disk: an empty segment (`//`), a `.` or
//! `..` segment (never normalised away), a segment with NUL, a backslash or an encoded `/`,
//! and, unless allowed, a hidden segment (one that starts with `.`). A final `/` is kept as a
//! mark that a directory was asked for. What remains can only name something beneath the root
//! by its own names; the open beneath the root (`openat2` with `RESOLVE_BENEATH`) is what keeps
//! symlinks and races inside it.

use std::path::PathBuf;

/// A request path that passed the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelativePath {
    /// The decoded segments joined with `/`; empty for the root itself.
    pub(crate) path: PathBuf,
    /// Whether the request path ended with `/`.
    pub(crate) trailing_slash: bool,
}

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A `%` not followed by two hex digits: `400`.
    BadEscape,
    /// A segment the rules refuse: `404`.
    Name,
}

/// Applies the rules to `request_path` (`/a/b%20c.mp4`).
pub(crate) fn relative_path(
    request_path: &str,
    serve_hidden: bool,
) -> Result<RelativePath, Refused> {
    let rest = request_path.strip_prefix('/').unwrap_or(request_path);
    let (rest, trailing_slash) = match rest.strip_suffix('/') {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let mut path = Vec::with_capacity(rest.len());
    if !rest.is_empty() {
        for (i, segment) in rest.split('/').enumerate() {
            let name = decode(segment.as_bytes())?;
            check(&name, serve_hidden)?;
            if i > 0 {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
        }
    }
    Ok(RelativePath {
        path: path_from_bytes(path),
        trailing_slash,
    })
}

fn check(name: &[u8], serve_hidden: bool) -> Result<(), Refused> {
    let refused = name.is_empty()
        || name == b"."
        || name == b".."
        || (name[0] == b'.' && !serve_hidden)
        || name.iter().any(|&b| b == 0 || b == b'/' || b == b'\\');
    match refused {
        true => Err(Refused::Name),
        false => Ok(()),
    }
}

/// Percent-decodes once: `%2e%2e` becomes `..` (and is then refused); `%252e` becomes `%2e`,
/// an ordinary name.
fn decode(segment: &[u8]) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::with_capacity(segment.len());
    let mut bytes = segment.iter();
    while let Some(&b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
        match (hex(bytes.next()), hex(bytes.next())) {
            (Some(high), Some(low)) => out.push((high * 16 + low) as u8),
            _ => return Err(Refused::BadEscape),
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// Off Unix, names must be UTF-8; others cannot name a file there and are mapped lossily,
/// which can only make them miss.
#[cfg(not(unix))]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(request: &str) -> String {
        let relative = relative_path(request, false).unwrap();
        relative.path.to_string_lossy().into_owned()
    }

    #[test]
    fn segments_are_decoded_once() {
        assert_eq!(ok("/a/b%20c.mp4"), "a/b c.mp4");
        assert_eq!(ok("/%252e%252e/x"), "%2e%2e/x");
        assert_eq!(ok("/caf%C3%A9.mp4"), "café.mp4");
        assert_eq!(ok("/"), "");
    }

    #[test]
    fn dot_segments_in_any_encoding_are_refused() {
        for request in [
            "/../x",
            "/a/../x",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/.",
            "/a/./b",
            "/%2e/b",
        ] {
            assert_eq!(
                relative_path(request, true),
                Err(Refused::Name),
                "{request}"
            );
        }
    }

    #[test]
    fn separators_nul_and_empty_segments_are_refused() {
        for request in [
            "/..%2fx", "/a%2fb", "/..%5cx", "/a\\b", "/a%00b", "//x", "/a//b",
        ] {
            assert_eq!(
                relative_path(request, true),
                Err(Refused::Name),
                "{request}"
            );
        }
    }

    #[test]
    fn malformed_escapes_are_bad_requests() {
        for request in ["/%", "/%4", "/%zz", "/a%g1"] {
            assert_eq!(
                relative_path(request, true),
                Err(Refused::BadEscape),
                "{request}"
            );
        }
    }

    #[test]
    fn hidden_segments_are_refused_unless_served() {
        assert_eq!(relative_path("/.env", false), Err(Refused::Name));
        assert_eq!(relative_path("/a/.git/config", false), Err(Refused::Name));
        assert_eq!(
            relative_path("/.well-known/x", true).unwrap().path,
            PathBuf::from(".well-known/x")
        );
    }

    #[test]
    fn a_final_slash_marks_a_directory() {
        let relative = relative_path("/films/", false).unwrap();
        assert_eq!(relative.path, PathBuf::from("films"));
        assert!(relative.trailing_slash);
        assert!(!relative_path("/films", false).unwrap().trailing_slash);
    }

    #[test]
    fn overlong_utf8_stays_bytes_and_cannot_form_a_dot() {
        // `%c0%ae` is an overlong `.`: decoded, it is two bytes, not a dot.
        let relative = relative_path("/%c0%ae%c0%ae/x", false).unwrap();
        assert_ne!(relative.path, PathBuf::from("../x"));
    }
}
