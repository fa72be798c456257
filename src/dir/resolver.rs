//! The resolver of a directory tree: request path → a regular file beneath the root.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::request::Parts;
use http::HeaderValue;

use crate::content_type::content_type_for_path;
use crate::metadata::Metadata;
use crate::open_error::{OpenError, OpenErrorKind};
use crate::policy::{FilePolicy, Presentation};
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
    presentation: Presentation,
    redirect_directories: bool,
    index_file: Option<Arc<Path>>,
    open_cache: Option<OpenFileCache>,
}

impl std::fmt::Debug for DirResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirResolver")
            .field("root", &self.root_path)
            .field("serve_hidden", &self.serve_hidden)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("same_mount", &self.same_mount)
            .field("inline_io", &self.inline_io)
            .field("presentation", &self.presentation)
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
            presentation: Presentation::default(),
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
        // A clone with other walk rules must not serve what the first one opened.
        self.open_cache = self.open_cache.map(|cache| cache.fresh());
        self
    }

    /// Refuses to cross into another mount inside the root (`RESOLVE_NO_XDEV`); default off.
    pub fn same_mount(mut self, same: bool) -> Self {
        self.same_mount = same;
        // A clone with other walk rules must not serve what the first one opened.
        self.open_cache = self.open_cache.map(|cache| cache.fresh());
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
        self.presentation.attachments = attachments;
        self
    }

    /// Sends a file as a download when the request's query has the parameter `name`
    /// (`?download`, `?download=1`); default none.
    pub fn download_query(mut self, name: &str) -> Self {
        self.presentation.download_query = Some(name.into());
        self
    }

    /// Sets the per-file policy hook, called with the path relative to the root and the
    /// file's metadata for every answer about a file.
    pub fn policy(
        mut self,
        policy: impl Fn(&Path, &Metadata) -> FilePolicy + Send + Sync + 'static,
    ) -> Self {
        self.presentation.set_policy(policy);
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
    /// evicts an arbitrary entry; expired entries are closed on a later miss. Clones share
    /// the cache (changing `follow_symlinks` or `same_mount` on a clone gives it its own).
    /// On a network file system `fstat` may come from the client's attribute cache: a change
    /// made from another machine can be seen up to its attribute timeout late.
    pub fn open_file_cache(mut self, window: std::time::Duration, max_files: usize) -> Self {
        self.open_cache = (!window.is_zero()).then(|| OpenFileCache::new(window, max_files));
        self
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
        let describe = self.presentation.for_request(request);
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
            let opened = match opening.await {
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
            Ok(describe.apply_to(&relative, opened))
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
