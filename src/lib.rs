//! A [`tower::Service`](tower_service::Service) that serves byte ranges of a file over HTTP.
//!
//! [`RangeFileService`] answers GET and HEAD for one representation with the semantics of
//! RFC 9110: single ranges (`206` with `Content-Range`), several ranges
//! (`multipart/byteranges`, coalesced so that a response never outgrows the file), `416` with
//! `bytes */len`, strong `ETag` and `Last-Modified`, and the conditional requests of §13 in
//! their order of evaluation, `If-Range` included. Its body, [`RangeBody`], streams fixed-size
//! frames with a bounded read-ahead, so that disk reads overlap socket writes while memory
//! stays bounded whatever the client does.
//!
//! The crate needs no web framework and no hyper: it speaks [`http`] and [`http_body`], so the
//! service mounts in axum, tonic or raw hyper and composes with any tower layer.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use tower_range::RangeFileService;
//! use tower_service::Service;
//!
//! # async fn demo() {
//! let mut service = RangeFileService::new("media/sample.mp4");
//! let request = http::Request::get("/video")
//!     .header(http::header::RANGE, "bytes=0-1023")
//!     .body(())
//!     .unwrap();
//! let response = service.call(request).await.unwrap_or_else(|e: Infallible| match e {});
//! assert_eq!(response.status(), http::StatusCode::PARTIAL_CONTENT);
//! # }
//! ```
//!
//! Behind a compression layer, keep media and partial answers uncompressed with
//! [`compressible`]: `CompressionLayer::new().compress_when(DefaultPredicate::new().and(tower_range::compressible))`.
//!
//! The HTTP semantics are pure functions in [`range`], [`preconditions`] and [`response`].
//! Every request runs one pipeline: a [`Resolver`] finds what it asks for (a [`Source`] is the
//! fixed case), the planner decides status, headers and regions, and the [`RangeBody`] reads
//! the regions through a [`RegionReader`] ([`read`]). `docs/ARCHITECTURE.md` maps the
//! modules. With the cargo feature `object-store`, `store` serves objects of S3, GCS,
//! Azure and every other `object_store` store through the same pipeline.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod body;
mod budget;
mod compression;
mod content_type;
#[cfg(unix)]
pub mod dir;
mod error;
pub mod fallback;
mod future;
mod metadata;
pub mod metrics;
mod open_error;
mod pipeline;
pub mod policy;
pub mod preconditions;
pub mod range;
pub mod rate;
pub mod read;
mod request_path;
mod resolve;
mod resources;
pub mod response;
mod service;
pub mod source;
#[cfg(feature = "object-store")]
pub mod store;
mod validator;

pub use body::RangeBody;
pub use budget::ReadAheadBudget;
pub use compression::compressible;
pub use content_type::content_type_for_path;
pub use error::{Error, ErrorKind};
pub use future::ResponseFuture;
pub use metadata::Metadata;
pub use open_error::{OpenError, OpenErrorKind};
pub use read::{RegionReader, SourceReader};
pub use resolve::{Opened, Resolver, Source};
pub use resources::{Resources, DEFAULT_READ_AHEAD_BUDGET};
pub use service::{
    RangeFileService, RangeService, DEFAULT_FRAME_SIZE, DEFAULT_READ_AHEAD, MAX_FRAME_SIZE,
    MIN_FRAME_SIZE,
};
pub use source::{BlockingLimit, BufferPool, FileSource, MemorySource};
pub use validator::{ETag, Validators};

// Compiles the README's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
