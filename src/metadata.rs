//! What the response headers say about a representation.

use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName};
use http::HeaderValue;

use crate::validator::ETag;

/// What the response headers say about a representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    len: u64,
    modified: Option<SystemTime>,
    etag: Option<ETag>,
    content_type: Option<HeaderValue>,
    headers: HeaderMap,
}

impl Metadata {
    /// A representation of `len` bytes, with no modification time, version or type yet.
    pub fn new(len: u64) -> Self {
        Self {
            len,
            modified: None,
            etag: None,
            content_type: None,
            headers: HeaderMap::new(),
        }
    }

    /// Sets the modification time, sent as `Last-Modified`.
    pub fn with_modified(mut self, modified: SystemTime) -> Self {
        self.modified = Some(modified);
        self
    }

    /// Sets the opaque version token: any bytes that change whenever the content may have
    /// changed. The strong `ETag` is a stable hash of it (see [`ETag::from_version`]).
    pub fn with_version(mut self, token: &[u8]) -> Self {
        self.etag = Some(ETag::from_version(token));
        self
    }

    /// Sets the `Content-Type`.
    pub fn with_content_type(mut self, content_type: HeaderValue) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// Adds a header to the `200`, `206` and `304` answers about this representation (a
    /// per-file `Cache-Control`, `Content-Disposition`, `Link`…). Headers the service sets
    /// itself (`Content-Length`, `Content-Range`, `Content-Type`, `ETag`, `Last-Modified`,
    /// `Accept-Ranges`, `Transfer-Encoding`) are ignored: set the type with
    /// [`with_content_type`](Self::with_content_type).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The headers added with [`with_header`](Self::with_header).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the representation has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The modification time.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    /// The entity tag built from the version token.
    pub fn etag(&self) -> Option<ETag> {
        self.etag
    }

    /// The content type.
    pub fn content_type(&self) -> Option<&HeaderValue> {
        self.content_type.as_ref()
    }
}
