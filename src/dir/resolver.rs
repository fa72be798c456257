//! The resolver of a directory tree: request path → a regular file beneath the root.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::request::Parts;

use super::path::{relative_path, Refused};
use crate::content_type::content_type_for_path;
use crate::open_error::{OpenError, OpenErrorKind};
use crate::resolve::{Opened, Resolver};
use crate::resources::Resources;
use crate::source::open::{open_regular_at, Beneath};
use crate::source::{open_file, FileReader};

/// Maps request paths to regular files beneath a root directory (Linux).
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
#[derive(Debug, Clone)]
pub struct DirResolver {
    root: Arc<OwnedFd>,
    root_path: Arc<Path>,
    serve_hidden: bool,
    follow_symlinks: bool,
    same_mount: bool,
    inline_io: bool,
}

impl DirResolver {
    /// Serves the tree at `root`, which must be a directory that can be opened now.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        use rustix::fs::{open, Mode, OFlags};
        let root_path: PathBuf = root.into();
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = open(&root_path, flags, Mode::empty())?;
        Ok(Self {
            root: Arc::new(root),
            root_path: root_path.into(),
            serve_hidden: false,
            follow_symlinks: true,
            same_mount: false,
            inline_io: true,
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
                // The root itself, or a path asked for as a directory: no listing.
                Ok(relative) if relative.trailing_slash || relative.path.as_os_str().is_empty() => {
                    Err(OpenErrorKind::NotRegularFile.into())
                }
                Ok(relative) => Ok(relative.path),
            };
        let opening = target.map(|relative| {
            let root = self.root.clone();
            let beneath = Beneath {
                no_symlinks: !self.follow_symlinks,
                no_xdev: self.same_mount,
            };
            let content_type = content_type_for_path(&relative);
            open_file(
                move |walk| open_regular_at(&*root, &relative, walk, Some(beneath)),
                content_type,
                self.inline_io,
                resources,
            )
        });
        async move { opening?.await }
    }
}
