//! The resolver of a directory tree: request path → a regular file beneath the root.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::request::Parts;
use http::HeaderValue;

use super::disposition::{content_disposition, Disposition};
use crate::content_type::content_type_for_path;
use crate::metadata::Metadata;
use crate::open_error::{OpenError, OpenErrorKind};
use crate::rate::RateLimit;
use crate::request_path::{relative_path, Refused};
use crate::resolve::{Opened, Resolver};
use crate::resources::Resources;
use crate::source::open::{Attempt, Beneath, Opened as OpenedFile, Walk};
use crate::source::{open_file, FileReader, OpenFileCache};

/// Maps request paths to regular files beneath a root directory (Unix).
///
/// The root is opened once, when the resolver is made, and held open: every request walks
/// from that handle, so a root path that is a symlink swapped at deploy time (`current →
/// release-42`) keeps serving the tree it pointed to when the service started. Each request
/// path passes the rules of [`super`] and is then opened with `openat2` from the root handle
/// with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: the kernel refuses any walk that would leave
/// the root, even when a directory is swapped for a symlink during the walk. Relative symlinks
/// that stay inside the root are followed; absolute ones, and any that leave it, answer `404`
/// (as does everything outside). Directories, FIFOs, sockets and devices answer `404` and are
/// never opened for reading; a permission error is `403`.
///
/// Other Unix systems have no `openat2`: there each request path is walked one name at a time
/// with `O_NOFOLLOW` from the root handle, so every symlink is refused (whatever
/// [`follow_symlinks`](Self::follow_symlinks) says), `same_mount` compares each directory's
/// device with the root's, and every open goes to the blocking pool. Windows has no directory
/// service (the rest of the crate builds there).
///
/// Every answer carries `X-Content-Type-Options: nosniff` (misses too), and media (video,
/// audio, images) carry `Content-Disposition: inline` with the file's name; the
/// [`policy`](Self::policy) hook, the [`attachments`](Self::attachments) option and the
/// [`download_query`](Self::download_query) parameter change that per file or per request.
#[derive(Clone)]
pub struct DirResolver {
    root: Arc<OwnedFd>,
    root_path: Arc<Path>,
    serve_hidden: bool,
    follow_symlinks: bool,
    same_mount: bool,
    inline_io: bool,
    attachments: bool,
    download_query: Option<Arc<str>>,
    policy: Option<Arc<PolicyFn>>,
    redirect_directories: bool,
    index_file: Option<Arc<Path>>,
    open_cache: Option<OpenFileCache>,
}

/// The per-file policy hook: the file's path relative to the root and its metadata in,
/// what to send with it out.
type PolicyFn = dyn Fn(&Path, &Metadata) -> FilePolicy + Send + Sync;

/// What a directory service sends with one file, as the [`DirResolver::policy`] hook decides.
///
/// ```
/// use http::header::CACHE_CONTROL;
/// use http::HeaderValue;
/// use tower_range::dir::{DirResolver, FilePolicy};
///
/// // HLS and DASH: playlists are revalidated, segments cached for good.
/// let policy = |path: &std::path::Path, _: &tower_range::Metadata| {
///     let cache = match path.extension().and_then(|e| e.to_str()) {
///         Some("m3u8" | "mpd") => "no-cache",
///         Some("ts" | "m4s") => "public, max-age=31536000, immutable",
///         _ => "public, max-age=3600",
///     };
///     FilePolicy::default().header(CACHE_CONTROL, HeaderValue::from_static(cache))
/// };
/// # fn demo(policy: impl Fn(&std::path::Path, &tower_range::Metadata) -> FilePolicy + Send + Sync + 'static) {
/// let resolver = DirResolver::new("/srv/media").unwrap().policy(policy);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct FilePolicy {
    headers: http::HeaderMap,
    content_type: Option<HeaderValue>,
    disposition: Option<Disposition>,
    rate_limit: Option<RateLimit>,
}

impl FilePolicy {
    /// Adds a header to the file's `200`, `206` and `304` answers.
    ///
    /// # Panics
    ///
    /// For a header the service sets itself, as
    /// [`RangeService::header`](crate::RangeService::header) does.
    /// `Content-Disposition` is refused too: set it with [`disposition`](Self::disposition),
    /// so that an answer never carries two (Chrome refuses such a response).
    pub fn header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        assert!(
            !crate::response::OWNED_HEADERS.contains(&name)
                && name != http::header::CONTENT_DISPOSITION,
            "FilePolicy::header({name}): the service sets {name} itself"
        );
        self.headers.append(name, value);
        self
    }

    /// Overrides the content type the file's name gives.
    pub fn content_type(mut self, content_type: HeaderValue) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// Sets the file's `Content-Disposition`.
    pub fn disposition(mut self, disposition: Disposition) -> Self {
        self.disposition = Some(disposition);
        self
    }

    /// Throttles the file's responses by `limit`, over the service's limit (a request's own
    /// limit wins over both), e.g. 1.5 × the file's bitrate with
    /// [`RateLimit::for_media`]; see [`rate`](crate::rate).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }
}

impl std::fmt::Debug for DirResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirResolver")
            .field("root", &self.root_path)
            .field("serve_hidden", &self.serve_hidden)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("same_mount", &self.same_mount)
            .field("inline_io", &self.inline_io)
            .field("attachments", &self.attachments)
            .field("download_query", &self.download_query)
            .field("policy", &self.policy.is_some())
            .field("redirect_directories", &self.redirect_directories)
            .field("index_file", &self.index_file)
            .field("open_cache", &self.open_cache.is_some())
            .finish()
    }
}

impl DirResolver {
    /// Serves the tree at `root`, which must be a directory that can be opened now.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        use rustix::fs::{open, Mode, OFlags};
        let root_path: PathBuf = root.into();
        // Only walked from, never read: `O_PATH` where there is one.
        #[cfg(target_os = "linux")]
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        #[cfg(not(target_os = "linux"))]
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = open(&root_path, flags, Mode::empty())?;
        // Containment rests on openat2: a kernel before 5.6, or a seccomp filter that refuses
        // it, is an error now rather than a 500 on every request.
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{openat2, ResolveFlags};
            let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            openat2(&root, ".", flags, Mode::empty(), resolve).map_err(|errno| {
                io::Error::other(format!(
                    "openat2 is not available ({errno}): the directory service needs Linux 5.6"
                ))
            })?;
        }
        Ok(Self {
            root: Arc::new(root),
            root_path: root_path.into(),
            serve_hidden: false,
            follow_symlinks: true,
            same_mount: false,
            inline_io: true,
            attachments: false,
            download_query: None,
            policy: None,
            redirect_directories: false,
            index_file: None,
            open_cache: None,
        })
    }

    /// Serves hidden files and directories (a name that starts with `.`); default off, so
    /// that `.git` or `.env` under the root answer `404`.
    pub fn serve_hidden(mut self, serve: bool) -> Self {
        self.serve_hidden = serve;
        self
    }

    /// Follows relative symlinks that stay inside the root (default on); off refuses every
    /// symlink (`RESOLVE_NO_SYMLINKS`).
    pub fn follow_symlinks(mut self, follow: bool) -> Self {
        self.follow_symlinks = follow;
        self
    }

    /// Refuses to cross into another mount inside the root (`RESOLVE_NO_XDEV`); default off.
    pub fn same_mount(mut self, same: bool) -> Self {
        self.same_mount = same;
        self
    }

    /// Opens and reads on the async thread what the kernel's caches hold, as
    /// [`FileSource::inline_io`](crate::FileSource::inline_io); default on.
    pub fn inline_io(mut self, enabled: bool) -> Self {
        self.inline_io = enabled;
        self
    }

    /// Sends every file as a download (`Content-Disposition: attachment`); default off,
    /// where media are `inline` and other files carry no disposition.
    pub fn attachments(mut self, attachments: bool) -> Self {
        self.attachments = attachments;
        self
    }

    /// Sends a file as a download when the request's query has the parameter `name`
    /// (`?download`, `?download=1`); default none.
    pub fn download_query(mut self, name: &str) -> Self {
        self.download_query = Some(name.into());
        self
    }

    /// Sets the per-file policy hook, called with the path relative to the root and the
    /// file's metadata for every answer about a file.
    pub fn policy(
        mut self,
        policy: impl Fn(&Path, &Metadata) -> FilePolicy + Send + Sync + 'static,
    ) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }

    /// Answers a directory asked for without its final `/` with `308` and a relative
    /// `Location: ./name/` (the query kept), so that relative links in its index resolve;
    /// default off (`404`). The target is always the same directory, one segment relative to
    /// the request, so it can never point at another host.
    pub fn redirect_directories(mut self, redirect: bool) -> Self {
        self.redirect_directories = redirect;
        self
    }

    /// Serves the file `name` (e.g. `index.html`) inside a directory asked for with its final
    /// `/` (and for the root); default none: directories answer `404`, and no listing is ever
    /// made.
    pub fn index_file(mut self, name: &str) -> Self {
        self.index_file = Some(Path::new(name).into());
        self
    }

    /// Keeps the handles of up to `max_files` files open between requests, each for at most
    /// `window` after its open (nginx's `open_file_cache max=… valid=…`; default off, and
    /// `Duration::ZERO` turns it off): a request for a held file costs one `fstat` instead of
    /// the walk, the open and the close.
    ///
    /// That `fstat` revalidates the handle on every request: a file written in place,
    /// truncated, deleted or replaced by a rename is opened afresh at once. Only a change
    /// that leaves the old file intact and linked — a directory on the path renamed, a
    /// symlink on it retargeted — is seen up to `window` late: keep it short (a second or
    /// two) where the tree is reorganised while served. Each entry holds a file descriptor:
    /// leave room for `max_files` under the process's limit. When the cache is full a miss
    /// evicts an arbitrary entry; expired entries are closed on a later miss.
    pub fn open_file_cache(mut self, window: std::time::Duration, max_files: usize) -> Self {
        self.open_cache = (!window.is_zero()).then(|| OpenFileCache::new(window, max_files));
        self
    }

    /// Whether the request's query asks for a download.
    fn download_asked(&self, request: &Parts) -> bool {
        let (Some(name), Some(query)) = (self.download_query.as_deref(), request.uri.query())
        else {
            return false;
        };
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    }

    /// The root, as given.
    pub fn root(&self) -> &Path {
        &self.root_path
    }
}

impl Resolver for DirResolver {
    type Reader = FileReader;

    fn resolve(
        &self,
        request: &Parts,
        resources: &Resources,
    ) -> impl Future<Output = Result<Opened<FileReader>, OpenError>> + Send {
        let target: Result<PathBuf, OpenError> =
            match relative_path(request.uri.path(), self.serve_hidden) {
                Err(Refused::BadEscape) => Err(OpenErrorKind::BadRequest.into()),
                Err(Refused::Name) => Err(OpenErrorKind::NotFound.into()),
                // The root itself, or a path asked for as a directory: its index, if any; no
                // listing.
                Ok(relative) if relative.trailing_slash || relative.path.as_os_str().is_empty() => {
                    match &self.index_file {
                        Some(index) => Ok(relative.path.join(index)),
                        None => Err(OpenErrorKind::NotRegularFile.into()),
                    }
                }
                Ok(relative) => Ok(relative.path),
            };
        let beneath = Beneath {
            no_symlinks: !self.follow_symlinks,
            no_xdev: self.same_mount,
        };
        let opening = target.map(|relative| {
            let root = self.root.clone();
            let path: Arc<Path> = relative.as_path().into();
            let content_type = content_type_for_path(&relative);
            let cached = self.open_cache.clone().map(|cache| (cache, path.clone()));
            let opening = open_file(
                move |walk| open_beneath(&root, &path, walk, beneath),
                content_type,
                self.inline_io,
                resources,
                cached,
            );
            (relative, opening)
        });
        let describe = Describe {
            policy: self.policy.clone(),
            attachment: self.attachments || self.download_asked(request),
        };
        // Where a directory asked for without its `/` would be redirected to.
        let redirect = self
            .redirect_directories
            .then(|| directory_location(request))
            .flatten()
            .map(|location| {
                (
                    location,
                    self.root.clone(),
                    resources.blocking_limit().clone(),
                )
            });
        async move {
            let (relative, opening) = opening?;
            let Opened {
                metadata, reader, ..
            } = match opening.await {
                Err(miss) if miss.kind() == OpenErrorKind::NotRegularFile => {
                    let Some((location, root, limit)) = redirect else {
                        return Err(miss);
                    };
                    let path = relative.clone();
                    let probe = move || is_directory_beneath(&root, &path, beneath);
                    return match limit.run(probe).await {
                        Ok(true) => Err(OpenError::redirect(location)),
                        _ => Err(miss),
                    };
                }
                opened => opened?,
            };
            let (metadata, rate_limit) = describe.apply(&relative, metadata);
            let mut opened = Opened::new(metadata, reader);
            opened.rate_limit = rate_limit;
            Ok(opened)
        }
    }

    /// `X-Content-Type-Options: nosniff` on every answer, misses included.
    fn answer_headers(&self, headers: &mut http::HeaderMap) {
        headers.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
}

/// What is decided about a file once it is open: the policy and the disposition.
struct Describe {
    policy: Option<Arc<PolicyFn>>,
    /// Sent as a download, by option or by the request's query.
    attachment: bool,
}

impl Describe {
    /// The file's metadata as the policy and the disposition make it, and its rate limit.
    fn apply(&self, relative: &Path, metadata: Metadata) -> (Metadata, Option<RateLimit>) {
        let policy = match &self.policy {
            Some(policy) => policy(relative, &metadata),
            None => FilePolicy::default(),
        };
        let mut metadata = metadata;
        if let Some(content_type) = policy.content_type {
            metadata = metadata.with_content_type(content_type);
        }
        // Decided on the type that is sent, the policy's included.
        let disposition = match self.attachment {
            true => Some(Disposition::Attachment),
            false => policy
                .disposition
                .or_else(|| is_media(&metadata).then_some(Disposition::Inline)),
        };
        for (name, value) in &policy.headers {
            metadata = metadata.with_header(name.clone(), value.clone());
        }
        if let Some(disposition) = disposition {
            let name = relative.file_name().unwrap_or_default().to_string_lossy();
            let value = content_disposition(disposition, &name);
            metadata = metadata.with_header(http::header::CONTENT_DISPOSITION, value);
        }
        (metadata, policy.rate_limit)
    }
}

/// Video, audio and images but SVG (which can carry scripts): shown inline by default.
fn is_media(metadata: &Metadata) -> bool {
    metadata.content_type().is_some_and(|t| {
        let t = t.as_bytes();
        (t.starts_with(b"video/") || t.starts_with(b"audio/") || t.starts_with(b"image/"))
            && !t.starts_with(b"image/svg")
    })
}

/// `./<last segment>/`, the query kept: the same directory with its final `/`. `None` when the
/// path already ends with `/`.
fn directory_location(request: &Parts) -> Option<HeaderValue> {
    let path = request.uri.path();
    let last = path.rsplit('/').next().filter(|last| !last.is_empty())?;
    let location = match request.uri.query() {
        Some(query) => format!("./{last}/?{query}"),
        None => format!("./{last}/"),
    };
    HeaderValue::from_str(&location).ok()
}

/// Opens `path` beneath `root`: `openat2` with `RESOLVE_BENEATH` on Linux.
#[cfg(target_os = "linux")]
fn open_beneath(
    root: &OwnedFd,
    path: &Path,
    walk: Walk,
    beneath: Beneath,
) -> Attempt<Result<OpenedFile, OpenError>> {
    crate::source::open::open_regular_at(root, path, walk, Some(beneath))
}

/// Opens `path` beneath `root`: a walk name by name with `O_NOFOLLOW` elsewhere (every symlink
/// refused), always on the blocking pool.
#[cfg(all(unix, not(target_os = "linux")))]
fn open_beneath(
    root: &OwnedFd,
    path: &Path,
    walk: Walk,
    beneath: Beneath,
) -> Attempt<Result<OpenedFile, OpenError>> {
    use std::os::fd::AsFd;
    match walk {
        Walk::Cached => Attempt::Unsupported,
        Walk::Blocking => Attempt::Done(crate::source::open::open_regular_walk(
            root.as_fd(),
            path,
            beneath.no_xdev,
        )),
    }
}

/// Whether `path` beneath `root` is a directory, walked with the same containment.
#[cfg(target_os = "linux")]
fn is_directory_beneath(root: &OwnedFd, path: &Path, beneath: Beneath) -> bool {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    let mut resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    if beneath.no_symlinks {
        resolve |= ResolveFlags::NO_SYMLINKS;
    }
    if beneath.no_xdev {
        resolve |= ResolveFlags::NO_XDEV;
    }
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    openat2(root, path, flags, Mode::empty(), resolve).is_ok()
}

/// Whether `path` beneath `root` is a directory, walked with the same containment.
#[cfg(all(unix, not(target_os = "linux")))]
fn is_directory_beneath(root: &OwnedFd, path: &Path, beneath: Beneath) -> bool {
    use std::os::fd::AsFd;
    crate::source::open::is_directory_walk(root.as_fd(), path, beneath.no_xdev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "the service sets content-disposition itself")]
    fn a_policy_sets_the_disposition_through_disposition_only() {
        let _ = FilePolicy::default().header(
            http::header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }

    #[test]
    #[should_panic(expected = "the service sets content-length itself")]
    fn a_policy_cannot_set_a_header_the_service_owns() {
        let _ = FilePolicy::default()
            .header(http::header::CONTENT_LENGTH, HeaderValue::from_static("1"));
    }
}
