//! One planned request of the soak: sending it on a connection and checking the response
//! against what the plan expects, status, headers and bytes.

use http::response::Parts;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;

use crate::check::{
    check_entity_headers, check_header, check_status, check_stream, content_length, header,
    small_body, Ctx, Progress,
};
use crate::client::{Conn, Proto};
use crate::multipart::check_multipart;
use crate::request_mix::{merged, Expect, Plan};
use crate::MIB;

/// What a checked exchange leaves behind.
pub struct Outcome {
    pub bytes: u64,
    pub drop_connection: bool,
}

pub async fn execute(
    conn: &mut Conn,
    proto: Proto,
    plan: &Plan,
    ctx: &Ctx,
    progress: &mut Progress,
) -> Result<Outcome, String> {
    let uri = match proto {
        Proto::H1 => "/video".to_string(),
        Proto::H2 => format!("http://{}/video", ctx.addr),
    };
    let mut builder = Request::builder().method(plan.method).uri(uri);
    if proto == Proto::H1 {
        builder = builder.header("host", ctx.addr.to_string());
    }
    for (name, value) in &plan.headers {
        builder = builder.header(*name, value);
    }
    let request = builder.body(Empty::new()).map_err(|e| e.to_string())?;
    progress.stage = "waiting for the response head";
    let response = conn.send(request).await?;
    let (parts, mut body) = response.into_parts();
    progress.status = Some(parts.status.as_u16());
    progress.stage = "reading the body";
    let len = ctx.len;
    let outcome = |bytes| Outcome {
        bytes,
        drop_connection: false,
    };
    match &plan.expect {
        Expect::Full { body: with_body } => {
            check_status(&parts, StatusCode::OK)?;
            check_entity_headers(&parts, ctx)?;
            check_header(&parts, "content-type", "video/mp4")?;
            check_header(&parts, "content-length", &len.to_string())?;
            if parts.headers.contains_key("content-range") {
                return Err("a 200 with content-range".into());
            }
            if *with_body {
                let n = check_stream(&mut body, 0, len, None, ctx, progress).await?;
                Ok(outcome(n))
            } else {
                expect_no_body(&mut body, "HEAD").await?;
                Ok(outcome(0))
            }
        }
        Expect::Single { first, last } => {
            check_status(&parts, StatusCode::PARTIAL_CONTENT)?;
            check_entity_headers(&parts, ctx)?;
            let n = single_part(&parts, &mut body, *first, *last, ctx, progress).await?;
            Ok(outcome(n))
        }
        Expect::Multi { ranges, ordered } => {
            let want = merged(ranges);
            check_status(&parts, StatusCode::PARTIAL_CONTENT)?;
            check_entity_headers(&parts, ctx)?;
            if want.len() == 1 {
                // Merged into one: a plain single-part 206.
                let (first, last) = want[0];
                let n = single_part(&parts, &mut body, first, last, ctx, progress).await?;
                return Ok(outcome(n));
            }
            let content_type = header(&parts, "content-type").unwrap_or_default();
            let boundary = content_type
                .strip_prefix("multipart/byteranges; boundary=")
                .ok_or_else(|| format!("content-type {content_type:?}"))?
                .to_string();
            if parts.headers.contains_key("content-range") {
                return Err("a multipart 206 with content-range".into());
            }
            let announced = content_length(&parts)?;
            if announced > 64 * MIB {
                return Err(format!("multipart content-length {announced} is absurd"));
            }
            let bytes = small_body(&mut body, announced).await?;
            if bytes.len() as u64 != announced {
                return Err(format!(
                    "multipart body of {} bytes, content-length {announced}",
                    bytes.len()
                ));
            }
            let got = check_multipart(&bytes, &boundary, ctx)?;
            let mut sorted = got.clone();
            sorted.sort();
            if sorted != want {
                return Err(format!(
                    "parts {got:?}, expected the merged ranges {want:?}"
                ));
            }
            if *ordered && got != *ranges {
                return Err(format!(
                    "parts {got:?} not in the requested order {ranges:?}"
                ));
            }
            Ok(outcome(announced))
        }
        Expect::NotModified => {
            check_status(&parts, StatusCode::NOT_MODIFIED)?;
            check_header(&parts, "etag", &ctx.validators.etag)?;
            check_header(&parts, "last-modified", &ctx.validators.last_modified)?;
            if parts.headers.contains_key("content-range") {
                return Err("a 304 with content-range".into());
            }
            expect_no_body(&mut body, "304").await?;
            Ok(outcome(0))
        }
        Expect::PreconditionFailed => {
            check_status(&parts, StatusCode::PRECONDITION_FAILED)?;
            Ok(outcome(error_body(&parts, &mut body).await?))
        }
        Expect::Unsatisfiable => {
            check_status(&parts, StatusCode::RANGE_NOT_SATISFIABLE)?;
            check_header(&parts, "content-range", &format!("bytes */{len}"))?;
            Ok(outcome(error_body(&parts, &mut body).await?))
        }
        Expect::Abort {
            first,
            last,
            read,
            stream_only,
        } => {
            check_status(&parts, StatusCode::PARTIAL_CONTENT)?;
            check_entity_headers(&parts, ctx)?;
            let n = check_range_headers(&parts, *first, *last, len)?;
            let got = check_stream(&mut body, *first, n, Some(*read), ctx, progress).await?;
            drop(body);
            Ok(Outcome {
                bytes: got,
                // HTTP/1.1 can only abort by closing; HTTP/2 resets the stream when the body
                // is dropped, and half the time closes the connection as well.
                drop_connection: proto == Proto::H1 || !stream_only,
            })
        }
    }
}

/// The headers of a 206 with one range, `first..=last` of a file of `len` bytes; returns
/// the length it announces.
fn check_range_headers(parts: &Parts, first: u64, last: u64, len: u64) -> Result<u64, String> {
    check_header(
        parts,
        "content-range",
        &format!("bytes {first}-{last}/{len}"),
    )?;
    let n = last - first + 1;
    check_header(parts, "content-length", &n.to_string())?;
    Ok(n)
}

/// A single-part 206 with the whole of `first..=last`, past its status and validators:
/// type, range, length and every byte; returns the bytes checked.
async fn single_part(
    parts: &Parts,
    body: &mut Incoming,
    first: u64,
    last: u64,
    ctx: &Ctx,
    progress: &mut Progress,
) -> Result<u64, String> {
    check_header(parts, "content-type", "video/mp4")?;
    let n = check_range_headers(parts, first, last, ctx.len)?;
    check_stream(body, first, n, None, ctx, progress).await
}

/// A response that must have no body at all (`what`: HEAD, 304).
async fn expect_no_body(body: &mut Incoming, what: &str) -> Result<(), String> {
    let rest = small_body(body, 0).await?;
    if !rest.is_empty() {
        return Err(format!("{what} with a body of {} bytes", rest.len()));
    }
    Ok(())
}

/// The short explanatory body of a 412 or 416, which must match its content-length if it
/// announces one; returns its length.
async fn error_body(parts: &Parts, body: &mut Incoming) -> Result<u64, String> {
    let rest = small_body(body, 4096).await?;
    if let Some(n) = header(parts, "content-length") {
        if n != rest.len().to_string() {
            return Err(format!(
                "{} content-length {n}, body {}",
                parts.status.as_u16(),
                rest.len()
            ));
        }
    }
    Ok(rest.len() as u64)
}
