//! Checking what the server sends against the file: the validators it announces, status and
//! headers, and every body byte, streamed or whole, with the first wrong offset reported.

use std::net::SocketAddr;
use std::time::Duration;

use http::response::Parts;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;

use crate::client::{Conn, Proto};
use crate::fatal;
use crate::request_mix::Validators;
use crate::server::Server;

pub struct Ctx {
    pub data: &'static [u8],
    pub len: u64,
    pub validators: Validators,
    pub addr: SocketAddr,
}

#[derive(Default)]
pub struct Progress {
    pub stage: &'static str,
    pub status: Option<u16>,
    pub body_bytes: u64,
}

pub fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn check_header(parts: &Parts, name: &str, want: &str) -> Result<(), String> {
    match header(parts, name) {
        Some(got) if got == want => Ok(()),
        got => Err(format!("{name}: expected {want:?}, got {got:?}")),
    }
}

pub fn check_status(parts: &Parts, want: StatusCode) -> Result<(), String> {
    if parts.status == want {
        Ok(())
    } else {
        Err(format!(
            "status: expected {want}, got {} (headers {:?})",
            parts.status, parts.headers
        ))
    }
}

/// The headers every 200 and 206 of the file carries.
pub fn check_entity_headers(parts: &Parts, ctx: &Ctx) -> Result<(), String> {
    check_header(parts, "etag", &ctx.validators.etag)?;
    check_header(parts, "last-modified", &ctx.validators.last_modified)?;
    check_header(parts, "accept-ranges", "bytes")
}

/// Where two byte strings first differ, for a precise report.
fn mismatch(got: &[u8], want: &[u8]) -> Option<usize> {
    if got == want {
        return None;
    }
    Some(
        got.iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len())),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn compare(got: &[u8], file_offset: u64, ctx: &Ctx) -> Result<(), String> {
    let start = file_offset as usize;
    let want = &ctx.data[start..start + got.len()];
    match mismatch(got, want) {
        None => Ok(()),
        Some(at) => Err(format!(
            "wrong bytes at file offset {}: expected {} got {}",
            file_offset + at as u64,
            hex(&want[at..(at + 16).min(want.len())]),
            hex(&got[at..(at + 16).min(got.len())]),
        )),
    }
}

/// Streams a body that must be the file's `first..first + len`, checking each frame as it
/// comes; with `stop_after`, returns once that many bytes have been checked.
pub async fn check_stream(
    body: &mut Incoming,
    first: u64,
    len: u64,
    stop_after: Option<u64>,
    ctx: &Ctx,
    progress: &mut Progress,
) -> Result<u64, String> {
    let mut pos = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body error after {pos} of {len} bytes: {e}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if pos + data.len() as u64 > len {
            return Err(format!(
                "body longer than the {len} bytes announced (at least {})",
                pos + data.len() as u64
            ));
        }
        compare(&data, first + pos, ctx)?;
        pos += data.len() as u64;
        progress.body_bytes = pos;
        if stop_after.is_some_and(|n| pos >= n) {
            return Ok(pos);
        }
    }
    if pos != len {
        return Err(format!("short body: {pos} of {len} bytes"));
    }
    Ok(pos)
}

/// Reads a small body whole (at most `cap` bytes).
pub async fn small_body(body: &mut Incoming, cap: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body error: {e}"))?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() as u64 > cap {
                return Err(format!("body longer than {cap} bytes"));
            }
        }
    }
    Ok(out)
}

pub fn content_length(parts: &Parts) -> Result<u64, String> {
    header(parts, "content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            format!(
                "no valid content-length: {:?}",
                parts.headers.get("content-length")
            )
        })
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads the file's validators with a HEAD, checking its length.
pub async fn context(server: &Server, data: &'static [u8], len: u64) -> Ctx {
    let mut conn = Conn::connect(server.addr, Proto::H1)
        .await
        .unwrap_or_else(|e| fatal(&format!("first connection: {e}")));
    let request = Request::builder()
        .method("HEAD")
        .uri("/video")
        .header("host", server.addr.to_string())
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), conn.send(request))
        .await
        .unwrap_or_else(|_| fatal("first HEAD timed out"))
        .unwrap_or_else(|e| fatal(&format!("first HEAD: {e}")));
    let parts = response.into_parts().0;
    let get = |name: &str| {
        header(&parts, name)
            .unwrap_or_else(|| fatal(&format!("first HEAD: no {name}: {parts:?}")))
            .to_string()
    };
    if get("content-length") != len.to_string() {
        fatal(&format!(
            "first HEAD: content-length {}",
            get("content-length")
        ));
    }
    Ctx {
        data,
        len,
        validators: Validators {
            etag: get("etag"),
            last_modified: get("last-modified"),
        },
        addr: server.addr,
    }
}
