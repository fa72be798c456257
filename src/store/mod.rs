//! Serving from object storage (cargo feature `object-store`): S3, GCS, Azure and every other
//! [`ObjectStore`] of the [`object_store`] crate, through the crate's one pipeline, so an
//! object gets exactly the answers a file gets.
//!
//! - [`ObjectSource`] serves one object; [`StoreResolver`] serves every key under a prefix,
//!   mapped from the request path by the directory service's rules (decoded once; dot, empty
//!   and hidden segments refused; no listing needed).
//! - Metadata comes from `HEAD` and is reused for [`StoreOptions::metadata_ttl`] (one `HEAD`
//!   per key and TTL). The `ETag` is a hash of the store's ETag, version id and size: strong,
//!   and the same on every server for the same object version, so a CDN in front of many
//!   servers sees one validator. `Last-Modified` is the store's.
//! - Each planned region is read by one ranged GET, never one per frame; the parts of a
//!   multipart answer close together share a GET ([`StoreOptions::merge_gap`]) and an answer
//!   starts at most [`StoreOptions::max_gets`] of them when its ranges ascend (the order
//!   clients use; a range that goes backwards starts a GET of its own). Every GET carries
//!   `If-Match` with the store's ETag and, on versioned buckets, the version id, which pins
//!   the bytes the headers describe.
//! - The answer's first GET is started before its head is sent: an object replaced since its
//!   metadata was read is planned again, once, from a fresh `HEAD`; an object replaced while
//!   its body streams cuts the body (never a byte of another version). A GET that fails
//!   mid-body is resumed from its next byte with `If-Match` on the same ETag
//!   ([`StoreOptions::resumes`]), or the body is cut.
//! - Statuses: a missing key `404`, access refused `403`, the store failing after its own
//!   retries `502`, not answering within [`StoreOptions::head_deadline`] `504`.
//! - Memory: a region's frames come through [`StreamFrames`](crate::read::StreamFrames),
//!   which pulls only while the client takes frames. What a body has pulled from the store
//!   and not handed on is at most `read_ahead × frame_size` plus two of the store client's
//!   chunks (one being cut into frames, one left over for the next region of a grouped
//!   GET); a client that stops reading stops the pulling, and the store connection's TCP
//!   window absorbs the rest. [`StoreStats`] counts both sides.
//!
//! Configure the store's HTTP client for streaming: `object_store`'s default timeout covers
//! the whole body, so a slow client would fail a long GET. [`streaming_client_options`]
//! (with a provider feature) and [`from_url`] do this.
//!
//! ```
//! use std::sync::Arc;
//!
//! use tower_range::store::object_store::{memory::InMemory, path::Path, ObjectStore};
//! use tower_range::store::{ObjectSource, StoreOptions, StoreResolver};
//! use tower_range::RangeService;
//!
//! let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
//! // One object at a fixed URL…
//! let video = RangeService::from_source(ObjectSource::new(store.clone(), Path::from("films/intro.mp4")));
//! // …or every key under a prefix: `/intro.mp4` → `films/intro.mp4`.
//! let films = RangeService::from_resolver(StoreResolver::new(store, Path::from("films"), StoreOptions::new()));
//! # let _ = (video, films);
//! ```

use std::sync::Arc;

use http::request::Parts;
use object_store::path::Path;
use object_store::{GetOptions, ObjectMeta, ObjectStore};

pub use object_store;

mod errors;
mod groups;
mod metadata_cache;
mod options;
mod reader;
mod region_bytes;
mod stats;
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
mod url;

use self::errors::{open_error, timed_out};
use self::metadata_cache::MetadataCache;
pub use self::options::{
    StoreOptions, DEFAULT_HEAD_DEADLINE, DEFAULT_MAX_GETS, DEFAULT_MERGE_GAP,
    DEFAULT_METADATA_ENTRIES, DEFAULT_METADATA_TTL, DEFAULT_RESUMES,
};
pub use self::reader::ObjectReader;
pub use self::region_bytes::ObjectFrames;
pub use self::stats::StoreStats;
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
pub use self::url::{from_url, streaming_client_options};
use crate::policy::{FilePolicy, Presentation};
use crate::request_path::{relative_path, Refused};
use crate::{Metadata, OpenError, OpenErrorKind, Opened, Resolver, Resources, Source};

/// What every request of a store source shares: the store, the options, the metadata cache
/// and the counters.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) options: StoreOptions,
    pub(crate) cache: MetadataCache,
    pub(crate) stats: Arc<StoreStats>,
}

impl Shared {
    fn new(store: Arc<dyn ObjectStore>, options: StoreOptions) -> Arc<Self> {
        Arc::new(Self {
            cache: MetadataCache::new(options.metadata_ttl, options.metadata_entries),
            store,
            options,
            stats: Arc::default(),
        })
    }

    /// The current version of `location`: its metadata (cached) and a reader pinned to it.
    async fn open(self: &Arc<Self>, location: Path) -> Result<Opened<ObjectReader>, OpenError> {
        let deadline = tokio::time::Instant::now() + self.options.head_deadline;
        let head = self.cache.get(&location, || async {
            self.stats.head_sent();
            let options = GetOptions {
                head: true,
                ..GetOptions::default()
            };
            let meta = self.store.get_opts(&location, options).await?.meta;
            Ok(Arc::new(Version {
                metadata: describe(&meta),
                meta,
            }))
        });
        let version = match tokio::time::timeout_at(deadline, head).await {
            Ok(Ok(version)) => version,
            Ok(Err(error)) => return Err(open_error(error)),
            Err(_) => return Err(timed_out()),
        };
        Ok(Opened::new(
            version.metadata.clone(),
            ObjectReader::new(self.clone(), location, version, deadline),
        ))
    }
}

/// One version of an object as the metadata cache keeps it: the store's metadata and what
/// the headers make of it, built once per `HEAD` rather than per request.
#[derive(Debug)]
pub(crate) struct Version {
    pub(crate) meta: ObjectMeta,
    pub(crate) metadata: Metadata,
}

/// The headers' description of an object version: its length, `Last-Modified`, a strong
/// `ETag` from the store's ETag, version id and size (the same on every server), and the
/// media table's type for its name.
fn describe(meta: &ObjectMeta) -> Metadata {
    let mut token = Vec::with_capacity(64);
    match (&meta.e_tag, &meta.version) {
        (None, None) => {
            // No validator from the store: the modification time and size stand in.
            let modified = meta.last_modified.timestamp_nanos_opt().unwrap_or_default();
            token.extend_from_slice(&modified.to_be_bytes());
        }
        (e_tag, version) => {
            token.extend_from_slice(e_tag.as_deref().unwrap_or_default().as_bytes());
            token.push(0);
            token.extend_from_slice(version.as_deref().unwrap_or_default().as_bytes());
        }
    }
    token.extend_from_slice(&meta.size.to_be_bytes());
    Metadata::new(meta.size)
        .with_modified(meta.last_modified.into())
        .with_version(&token)
        .with_content_type(crate::content_type_for_path(std::path::Path::new(
            meta.location.as_ref(),
        )))
}

/// Serves one object: a [`Source`] over a store and a key.
#[derive(Debug, Clone)]
pub struct ObjectSource {
    shared: Arc<Shared>,
    location: Path,
}

impl ObjectSource {
    /// The object at `location` in `store`, with the default options.
    pub fn new(store: Arc<dyn ObjectStore>, location: Path) -> Self {
        Self::with_options(store, location, StoreOptions::default())
    }

    /// The object at `location` in `store`, with `options`.
    pub fn with_options(
        store: Arc<dyn ObjectStore>,
        location: Path,
        options: StoreOptions,
    ) -> Self {
        Self {
            shared: Shared::new(store, options),
            location,
        }
    }

    /// What this source has asked of the store and pulled from it.
    pub fn stats(&self) -> &StoreStats {
        &self.shared.stats
    }
}

impl Source for ObjectSource {
    type Reader = ObjectReader;

    async fn open(&self, _resources: &Resources) -> Result<Opened<ObjectReader>, OpenError> {
        self.shared.open(self.location.clone()).await
    }
}

/// Serves every key under a prefix of a store: the request path, relative to where the
/// service is mounted, names the key (`/a/b.mp4` → `PREFIX/a/b.mp4`).
///
/// The path is mapped by the rules of the directory service: percent-decoded once (a
/// malformed escape is `400`); an empty, `.` or `..` segment, one holding NUL, a backslash or
/// an encoded `/`, or (unless served) a hidden one is `404`. A path that ends with `/` names
/// no object and is `404` (no listings). Every answer carries `X-Content-Type-Options:
/// nosniff`.
///
/// Objects are presented as the directory service presents files: media (video, audio,
/// images) carry `Content-Disposition: inline` with the object's name, and the
/// [`policy`](Self::policy) hook, the [`attachments`](Self::attachments) option and the
/// [`download_query`](Self::download_query) parameter change that per key or per request.
#[derive(Debug, Clone)]
pub struct StoreResolver {
    shared: Arc<Shared>,
    prefix: Path,
    serve_hidden: bool,
    presentation: Presentation,
}

impl StoreResolver {
    /// The keys under `prefix` in `store` (an empty prefix: the whole bucket).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path, options: StoreOptions) -> Self {
        Self {
            shared: Shared::new(store, options),
            prefix,
            serve_hidden: false,
            presentation: Presentation::default(),
        }
    }

    /// Sends every object as a download (`Content-Disposition: attachment`); default off,
    /// where media are `inline` and other objects carry no disposition.
    pub fn attachments(mut self, attachments: bool) -> Self {
        self.presentation.attachments = attachments;
        self
    }

    /// Sends an object as a download when the request's query has the parameter `name`
    /// (`?download`, `?download=1`); default none.
    pub fn download_query(mut self, name: &str) -> Self {
        self.presentation.download_query = Some(name.into());
        self
    }

    /// Sets the per-object policy hook, called with the key relative to the prefix (as a
    /// path) and the object's metadata for every answer about an object: extra headers, the
    /// content type, the disposition, a rate limit (see [`FilePolicy`]).
    pub fn policy(
        mut self,
        policy: impl Fn(&std::path::Path, &Metadata) -> FilePolicy + Send + Sync + 'static,
    ) -> Self {
        self.presentation.set_policy(policy);
        self
    }

    /// Serves keys with a segment that starts with `.` (refused by default).
    pub fn serve_hidden(mut self, serve: bool) -> Self {
        self.serve_hidden = serve;
        self
    }

    /// What this resolver has asked of the store and pulled from it.
    pub fn stats(&self) -> &StoreStats {
        &self.shared.stats
    }

    /// The key a request path names, and its path relative to the prefix; or why none.
    fn key(&self, request_path: &str) -> Result<(Path, std::path::PathBuf), OpenError> {
        let relative =
            relative_path(request_path, self.serve_hidden).map_err(|refused| match refused {
                Refused::BadEscape => OpenErrorKind::BadRequest,
                Refused::Name => OpenErrorKind::NotFound,
            })?;
        let name = relative.path.to_str().ok_or(OpenErrorKind::NotFound)?;
        if name.is_empty() || relative.trailing_slash {
            return Err(OpenErrorKind::NotFound.into());
        }
        let key = match self.prefix.as_ref() {
            "" => name.to_owned(),
            prefix => format!("{prefix}/{name}"),
        };
        let key =
            Path::parse(key).map_err(|error| OpenError::new(OpenErrorKind::NotFound, error))?;
        Ok((key, relative.path))
    }
}

impl Resolver for StoreResolver {
    type Reader = ObjectReader;

    async fn resolve(
        &self,
        request: &Parts,
        _resources: &Resources,
    ) -> Result<Opened<ObjectReader>, OpenError> {
        let (key, relative) = self.key(request.uri.path())?;
        let describe = self.presentation.for_request(request);
        let opened = self.shared.open(key).await?;
        Ok(describe.apply_to(&relative, opened))
    }

    fn answer_headers(&self, headers: &mut http::HeaderMap) {
        headers.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
    }
}

/// Serves keys under a prefix of a store: [`RangeService`](crate::RangeService) over a
/// [`StoreResolver`].
pub type RangeStoreService = crate::RangeService<StoreResolver>;
