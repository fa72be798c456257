//! The `multipart/byteranges` body of a response with several ranges.

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;

use super::header_values::content_range;
use super::Segment;
use crate::range::Region;

/// The `multipart/byteranges` body (RFC 9110 §14.6): each part's framing as bytes, followed
/// by its region, then the closing delimiter.
pub(super) fn multipart_body(
    regions: &[Region],
    len: u64,
    content_type: &HeaderValue,
    boundary: &str,
) -> Vec<Segment> {
    let mut body = Vec::with_capacity(regions.len() * 2 + 1);
    for (i, region) in regions.iter().enumerate() {
        let mut head = BytesMut::with_capacity(96 + boundary.len());
        if i > 0 {
            head.put_slice(b"\r\n");
        }
        head.put_slice(b"--");
        head.put_slice(boundary.as_bytes());
        head.put_slice(b"\r\nContent-Type: ");
        head.put_slice(content_type.as_bytes());
        head.put_slice(b"\r\nContent-Range: ");
        head.put_slice(content_range(*region, len).as_bytes());
        head.put_slice(b"\r\n\r\n");
        body.push(Segment::Bytes(head.freeze()));
        body.push(Segment::Region(*region));
    }
    body.push(Segment::Bytes(Bytes::from(format!(
        "\r\n--{boundary}--\r\n"
    ))));
    body
}
