//! Checking a `multipart/byteranges` body: its framing, each part's headers, and each
//! part's bytes against the file.

use crate::check::{compare, find, Ctx};

fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()?))
}

/// Checks a `multipart/byteranges` body: each part's headers and bytes; returns the parts'
/// ranges in order.
pub fn check_multipart(body: &[u8], boundary: &str, ctx: &Ctx) -> Result<Vec<(u64, u64)>, String> {
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes()).ok_or("no first delimiter")?;
    if body[..start].iter().any(|b| !b"\r\n".contains(b)) {
        return Err(format!("junk before the first delimiter: {start} bytes"));
    }
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if let Some(end) = rest.strip_prefix(b"--") {
            if !end.iter().all(|b| b"\r\n".contains(b)) {
                return Err("junk after the closing delimiter".into());
            }
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("no CRLF after a delimiter")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("no end of a part's headers")?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| "part head not UTF-8")?;
        let mut range = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').ok_or("bad part header line")?;
            match name.trim().to_ascii_lowercase().as_str() {
                "content-range" => range = Some(value.trim().to_string()),
                "content-type" => content_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
        if content_type.as_deref() != Some("video/mp4") {
            return Err(format!("part content-type {content_type:?}"));
        }
        let range = range.ok_or("a part without content-range")?;
        let (a, b, total) =
            parse_content_range(&range).ok_or_else(|| format!("bad part range {range:?}"))?;
        if total != ctx.len || a > b || b >= ctx.len {
            return Err(format!("bad part range {range:?}"));
        }
        rest = &rest[head_end + 4..];
        let n = (b - a + 1) as usize;
        if rest.len() < n {
            return Err(format!("part {range:?} truncated: {} bytes", rest.len()));
        }
        compare(&rest[..n], a, ctx).map_err(|e| format!("part {range:?}: {e}"))?;
        parts.push((a, b));
        rest = rest[n..]
            .strip_prefix(b"\r\n")
            .and_then(|r| r.strip_prefix(delimiter.as_bytes()))
            .ok_or_else(|| format!("no delimiter after part {range:?}"))?;
    }
}
