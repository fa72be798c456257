//! Where the bytes come from.
//!
//! A [`Source`] opens one representation and describes it ([`Metadata`]); the
//! [`SourceReader`] it returns reads byte regions of exactly that version. The HTTP semantics
//! never touch the source directly. Two sources ship with the crate: [`FileSource`] for a
//! local file and [`MemorySource`] for bytes in memory.
//!
//! A source of your own: a blob that a blocking client reads, each read on tokio's blocking
//! pool so that reads ahead run while the body sends.
//!
//! ```
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use tower_range::source::SpawnedRead;
//! use tower_range::{Error, Metadata, OpenError, Opened, RangeFileService, Source, SourceReader};
//!
//! /// Stands for a blocking storage client.
//! struct Blob(Vec<u8>);
//!
//! impl Blob {
//!     fn read(&self, offset: usize, len: usize) -> Vec<u8> {
//!         let end = (offset + len).min(self.0.len());
//!         self.0[offset.min(end)..end].to_vec()
//!     }
//! }
//!
//! struct BlobSource(Arc<Blob>);
//!
//! struct BlobReader(Arc<Blob>);
//!
//! impl Source for BlobSource {
//!     type Reader = BlobReader;
//!
//!     async fn open(&self) -> Result<Opened<BlobReader>, OpenError> {
//!         let metadata = Metadata::new(self.0 .0.len() as u64)
//!             .with_version(b"blob-v1")
//!             .with_content_type(http::HeaderValue::from_static("video/mp4"));
//!         Ok(Opened { metadata, reader: BlobReader(self.0.clone()) })
//!     }
//! }
//!
//! impl SourceReader for BlobReader {
//!     type Read = SpawnedRead;
//!
//!     fn read_at(&self, offset: u64, len: usize) -> SpawnedRead {
//!         let blob = self.0.clone();
//!         let task = tokio::task::spawn_blocking(move || -> Result<Bytes, Error> {
//!             Ok(Bytes::from(blob.read(offset as usize, len)))
//!         });
//!         SpawnedRead::from(task)
//!     }
//! }
//!
//! let service = RangeFileService::from_source(BlobSource(Arc::new(Blob(vec![7; 1000]))));
//! # let _ = service;
//! ```

use std::future::Future;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderValue;

use crate::open_error::OpenError;
use crate::validator::ETag;
use crate::Error;

mod blocking;
mod file;
#[cfg(target_os = "linux")]
mod inline;
mod memory;
mod open;
mod pool;
mod spawned;

pub use blocking::{BlockingLimit, DEFAULT_BLOCKING_LIMIT};
pub use file::{FileRead, FileReader, FileSource};
pub use memory::{MemoryReader, MemorySource};
pub use spawned::SpawnedRead;

/// Opens a representation for reading.
///
/// `open` is called once per request. Its errors become responses, by their
/// [`OpenErrorKind`](crate::OpenErrorKind): not found `404`, forbidden `403`, and so on; an
/// [`io::Error`](std::io::Error) converts with `?`.
pub trait Source: Send + Sync + 'static {
    /// Reads regions of the version that `open` described.
    type Reader: SourceReader;

    /// Opens the current version: its metadata and a reader for it.
    fn open(&self) -> impl Future<Output = Result<Opened<Self::Reader>, OpenError>> + Send;
}

/// What [`Source::open`] returns.
#[derive(Debug)]
pub struct Opened<R> {
    /// The description the response headers are built from.
    pub metadata: Metadata,
    /// A reader of the described version.
    pub reader: R,
}

/// Reads byte regions of one version of a representation.
pub trait SourceReader: Send + 'static {
    /// The future of one read.
    ///
    /// For read-ahead to overlap with sending, the future should make progress without being
    /// polled (a spawned task, as [`FileReader`] uses; wrap its `JoinHandle` in
    /// [`SpawnedRead`]), because a body polls only the read it must hand on next. A read that
    /// is ready at once can be [`std::future::Ready`]. It must be `Unpin`; box it if needed.
    type Read: Future<Output = Result<Bytes, Error>> + Send + Unpin + 'static;

    /// Reads `len` bytes at `offset`.
    ///
    /// Fewer bytes mean the representation ended early; the body then fails with
    /// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated). When the reader can tell that the
    /// representation is no longer the version that was opened, it fails with
    /// [`Error::modified`] rather than return bytes of another version.
    fn read_at(&self, offset: u64, len: usize) -> Self::Read;
}

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
