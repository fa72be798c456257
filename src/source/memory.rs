use std::future::{ready, Ready};
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderValue;

use crate::metadata::Metadata;
use crate::open_error::OpenError;
use crate::read::SourceReader;
use crate::resolve::{Opened, Source};
use crate::resources::Resources;
use crate::Error;

/// Serves bytes held in memory. Its version token is the content itself, so its `ETag` is
/// stable across restarts and changes exactly when the content does.
///
/// ```
/// use tower_range::{MemorySource, RangeFileService};
///
/// let page = MemorySource::new("<!doctype html><p>hi</p>")
///     .with_content_type(http::HeaderValue::from_static("text/html; charset=utf-8"));
/// let service = RangeFileService::from_source(page);
/// ```
#[derive(Debug, Clone)]
pub struct MemorySource {
    metadata: Metadata,
    bytes: Bytes,
}

impl MemorySource {
    /// A source of `bytes`, modified now, typed `application/octet-stream`.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let metadata = Metadata::new(bytes.len() as u64)
            .with_modified(SystemTime::now())
            .with_version(&bytes)
            .with_content_type(HeaderValue::from_static("application/octet-stream"));
        Self { metadata, bytes }
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: HeaderValue) -> Self {
        self.metadata = self.metadata.with_content_type(content_type);
        self
    }

    /// Sets the modification time.
    pub fn with_modified(mut self, modified: SystemTime) -> Self {
        self.metadata = self.metadata.with_modified(modified);
        self
    }

    /// The bytes served.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl Source for MemorySource {
    type Reader = MemoryReader;

    async fn open(&self, _: &Resources) -> Result<Opened<MemoryReader>, OpenError> {
        Ok(Opened::new(
            self.metadata.clone(),
            MemoryReader {
                bytes: self.bytes.clone(),
            },
        ))
    }
}

/// Reads a [`MemorySource`]: each read is a zero-copy slice.
#[derive(Debug, Clone)]
pub struct MemoryReader {
    bytes: Bytes,
}

impl SourceReader for MemoryReader {
    type Read = Ready<Result<Bytes, Error>>;

    fn read_at(&self, offset: u64, len: usize) -> Self::Read {
        let total = self.bytes.len();
        let start = usize::try_from(offset).unwrap_or(total).min(total);
        let end = start.saturating_add(len).min(total);
        ready(Ok(self.bytes.slice(start..end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_are_slices_clamped_to_the_content() {
        let opened = MemorySource::new("0123456789")
            .open(&Resources::global())
            .await
            .unwrap();
        assert_eq!(opened.metadata.len(), 10);
        let reader = opened.reader;
        assert_eq!(reader.read_at(2, 3).await.unwrap(), "234");
        assert_eq!(reader.read_at(8, 5).await.unwrap(), "89");
        assert_eq!(reader.read_at(20, 5).await.unwrap(), "");
        assert_eq!(reader.read_at(u64::MAX, 5).await.unwrap(), "");
    }

    #[tokio::test]
    async fn the_etag_follows_the_content() {
        let a = MemorySource::new("a")
            .open(&Resources::global())
            .await
            .unwrap()
            .metadata
            .etag();
        let a2 = MemorySource::new("a")
            .open(&Resources::global())
            .await
            .unwrap()
            .metadata
            .etag();
        let b = MemorySource::new("b")
            .open(&Resources::global())
            .await
            .unwrap()
            .metadata
            .etag();
        assert_eq!(a, a2);
        assert_ne!(a, b);
    }
}
