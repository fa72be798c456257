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
//! use tower_range::{
//!     Error, Metadata, OpenError, Opened, RangeFileService, Resources, Source, SourceReader,
//! };
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
//! #[derive(Clone)]
//! struct BlobReader(Arc<Blob>);
//!
//! impl Source for BlobSource {
//!     type Reader = BlobReader;
//!
//!     async fn open(&self, _: &Resources) -> Result<Opened<BlobReader>, OpenError> {
//!         let metadata = Metadata::new(self.0 .0.len() as u64)
//!             .with_version(b"blob-v1")
//!             .with_content_type(http::HeaderValue::from_static("video/mp4"));
//!         Ok(Opened::new(metadata, BlobReader(self.0.clone())))
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

mod blocking;
mod file;
mod handle;
#[cfg(target_os = "linux")]
mod inline;
mod memory;
pub(crate) mod open;
mod open_cache;
mod pool;
mod spawned;
mod stamp;

pub use blocking::{BlockingLimit, DEFAULT_BLOCKING_LIMIT};
pub(crate) use file::open_file;
pub use file::{FileRead, FileReader, FileSource};
pub use memory::{MemoryReader, MemorySource};
pub(crate) use open_cache::OpenFileCache;
pub use pool::BufferPool;
pub use spawned::SpawnedRead;
