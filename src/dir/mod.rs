//! Serving a directory tree (Unix; contained by `openat2` on Linux, by a walk with
//! `O_NOFOLLOW` elsewhere): [`DirResolver`] maps each request path to a regular file
//! beneath a root, and [`RangeDirService`] serves it through the crate's one pipeline, exactly
//! as [`RangeFileService`](crate::RangeFileService) serves one file.
//!
//! Request paths are mapped in this order: percent-decoded once (a malformed escape is
//! `400`); a segment that is empty, `.` or `..`, holds NUL, a backslash or an encoded `/`, or
//! (unless served) starts with `.` is `404`; `..` is never normalised away. The rest is opened
//! beneath the root by the kernel (see [`DirResolver`]).
//!
//! ```no_run
//! use tower_range::dir::{DirResolver, RangeDirService};
//!
//! let media = RangeDirService::from_resolver(DirResolver::new("/srv/media").unwrap());
//! // axum: Router::new().nest_service("/media", media)
//! # let _ = media;
//! ```

mod resolver;

pub use crate::policy::{Disposition, FilePolicy};
pub use resolver::DirResolver;

/// Serves a directory tree: [`RangeService`](crate::RangeService) over a [`DirResolver`].
pub type RangeDirService = crate::RangeService<DirResolver>;
