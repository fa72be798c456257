//! What the response headers say about a representation.

use std::time::SystemTime;

use http::HeaderValue;

use crate::validator::ETag;

/// What the response headers say about a representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    len: u64,
    modified: Option<SystemTime>,
    etag: Option<ETag>,
    content_type: Option<HeaderValue>,
}

impl Metadata {
    /// A representation of `len` bytes, with no modification time, version or type yet.
    pub fn new(len: u64) -> Self {
        Self {
            len,
            modified: None,
            etag: None,
            content_type: None,
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
