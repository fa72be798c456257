//! Finding what a request asks for: a [`Resolver`] maps the request head to an opened
//! representation or a typed miss; a [`Source`], one fixed representation, is its trivial case.

use std::future::Future;

use http::request::Parts;

use crate::metadata::Metadata;
use crate::open_error::OpenError;
use crate::rate::RateLimit;
use crate::read::RegionReader;
use crate::resources::Resources;

/// Maps a request to the representation it asks for.
///
/// `resolve` is called once per GET or HEAD (other methods are answered `405` before it),
/// with the request head: `request.uri.path()` is the path relative to where the service is
/// mounted (axum's `nest_service` strips its prefix), and `request.extensions` carries
/// whatever layers in front of the service put there (an authenticated user, a route
/// parameter). It opens the current version, or says why there is none: every
/// [`OpenErrorKind`](crate::OpenErrorKind) maps to its status in one place. Everything after
/// it — preconditions, ranges, multipart, the streaming body and its bounds — is the crate's,
/// the same for every resolver.
///
/// A resolver that looks a video up by id:
///
/// ```
/// use std::collections::HashMap;
///
/// use http::request::Parts;
/// use tower_range::{
///     FileSource, OpenError, OpenErrorKind, Opened, RangeService, Resolver, Resources, Source,
/// };
/// use tower_range::source::FileReader;
///
/// /// `/v/<id>` → the file the catalogue names for that id.
/// struct Catalogue(HashMap<String, FileSource>);
///
/// impl Resolver for Catalogue {
///     type Reader = FileReader;
///
///     async fn resolve(&self, request: &Parts, resources: &Resources)
///         -> Result<Opened<FileReader>, OpenError>
///     {
///         let id = request.uri.path().strip_prefix("/v/").unwrap_or_default();
///         match self.0.get(id) {
///             Some(file) => file.open(resources).await,
///             None => Err(OpenErrorKind::NotFound.into()),
///         }
///     }
/// }
///
/// let films = HashMap::from([("intro".to_owned(), FileSource::new("media/sample.mp4"))]);
/// let service = RangeService::from_resolver(Catalogue(films));
/// # let _ = service;
/// ```
pub trait Resolver: Send + Sync + 'static {
    /// Reads regions of what `resolve` opened.
    type Reader: RegionReader;

    /// Opens the representation `request` asks for.
    fn resolve(
        &self,
        request: &Parts,
        resources: &Resources,
    ) -> impl Future<Output = Result<Opened<Self::Reader>, OpenError>> + Send;

    /// Adds headers to every answer the service gives for this resolver, misses and `405`
    /// included (the directory service adds `X-Content-Type-Options: nosniff`). None by
    /// default.
    fn answer_headers(&self, headers: &mut http::HeaderMap) {
        let _ = headers;
    }
}

/// Opens one fixed representation for reading: a resolver that ignores the request.
///
/// `open` is called once per request. Its errors become responses by their
/// [`OpenErrorKind`](crate::OpenErrorKind): not found `404`, forbidden `403`, and so on; an
/// [`io::Error`](std::io::Error) converts with `?`.
pub trait Source: Send + Sync + 'static {
    /// Reads regions of the version that `open` described.
    type Reader: RegionReader;

    /// Opens the current version: its metadata and a reader for it, drawing on `resources`
    /// (blocking operations, frame buffers) as it needs.
    fn open(
        &self,
        resources: &Resources,
    ) -> impl Future<Output = Result<Opened<Self::Reader>, OpenError>> + Send;
}

impl<S: Source> Resolver for S {
    type Reader = S::Reader;

    fn resolve(
        &self,
        _request: &Parts,
        resources: &Resources,
    ) -> impl Future<Output = Result<Opened<S::Reader>, OpenError>> + Send {
        self.open(resources)
    }
}

/// What [`Source::open`] and [`Resolver::resolve`] return: build it with
/// [`Opened::new`] (the struct is non-exhaustive, so that what a resolver may say of a
/// representation can grow).
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened<R> {
    /// The description the response headers are built from.
    pub metadata: Metadata,
    /// A reader of the described version.
    pub reader: R,
    /// The rate limit for this representation, over the service's (a request's own limit
    /// wins over both); see [`rate`](crate::rate).
    pub rate_limit: Option<RateLimit>,
}

impl<R> Opened<R> {
    /// `metadata` and a `reader` of the version it describes, with no rate limit of its own.
    pub fn new(metadata: Metadata, reader: R) -> Self {
        Self {
            metadata,
            reader,
            rate_limit: None,
        }
    }

    /// Throttles responses of this representation by `limit`.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }
}
