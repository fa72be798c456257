//! Opening a path as a regular file, never blocking on or reading anything else.
//!
//! A FIFO without a writer blocks a plain `open` until one comes. So every open is made with
//! `O_NONBLOCK | O_NOCTTY` (a FIFO or a device then cannot block, nor become a controlling
//! terminal), `fstat` tells the type, and anything but a regular file is closed at once
//! without a read and answered [`OpenErrorKind::NotRegularFile`]. The flag stays set: it has
//! no effect on reads of a regular file. This is nginx's way. A device node placed at the served path still has its driver's
//! open routine run (non-blocking) before it is refused; probing the type first with an
//! `O_PATH` open would avoid that, but it walks the path twice and was measured at about
//! 5 µs more per request (W3: −18 % req/s), so it is not done. Under the directory service,
//! `RESOLVE_BENEATH` already keeps every symlink to `/dev` out: only a device node that lies
//! in the served tree itself is reached.

use std::fs::File;
use std::path::Path;

use crate::open_error::{OpenError, OpenErrorKind};

/// What an attempt that must not wait found.
pub(crate) enum Attempt<T> {
    /// Done, from the caches or because waiting was allowed.
    Done(T),
    /// It would have waited: do it on the blocking pool.
    WouldBlock,
    /// The kernel or file system does not offer the call: stop trying it.
    Unsupported,
}

/// A regular file opened for reading, and what `fstat` said of it.
pub(crate) type Opened = (File, std::fs::Metadata);

/// How an open may walk the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// Only through what the kernel's caches hold: fails with `WouldBlock` otherwise.
    Cached,
    /// However long it takes: call it on the blocking pool.
    Blocking,
}

/// Opens `path` for reading if it is a regular file; anything else is
/// [`OpenErrorKind::NotRegularFile`] and is never read.
#[cfg(target_os = "linux")]
pub(super) fn open_regular(path: &Path, walk: Walk) -> Attempt<Result<Opened, OpenError>> {
    open_regular_at(rustix::fs::CWD, path, walk, None)
}

/// How a path beneath a root is resolved (on Linux, `openat2` resolve flags).
#[cfg(unix)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Beneath {
    /// Refuse every symlink, not only those that leave the root (the walk elsewhere refuses
    /// them all).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) no_symlinks: bool,
    /// Refuse crossing into another mount.
    pub(crate) no_xdev: bool,
}

/// How many times a walk beneath a root is tried again when the kernel saw a rename race
/// (`EAGAIN` from `RESOLVE_BENEATH` when a `..` may have escaped).
#[cfg(target_os = "linux")]
const RACE_RETRIES: usize = 3;

/// Opens `path`, relative to `dir`, for reading if it is a regular file. With `beneath`, the
/// kernel resolves it beneath `dir` (`RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`): no absolute
/// symlink, no `..` and no symlink leads out, even if a directory is swapped during the walk;
/// such a path is [`OpenErrorKind::OutsideRoot`].
#[cfg(target_os = "linux")]
pub(crate) fn open_regular_at(
    dir: impl std::os::fd::AsFd,
    path: &Path,
    walk: Walk,
    beneath: Option<Beneath>,
) -> Attempt<Result<Opened, OpenError>> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    use rustix::io::Errno;

    let dir = dir.as_fd();
    let mut resolve = match walk {
        Walk::Cached => ResolveFlags::CACHED,
        Walk::Blocking => ResolveFlags::empty(),
    };
    if let Some(beneath) = beneath {
        resolve |= ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        if beneath.no_symlinks {
            resolve |= ResolveFlags::NO_SYMLINKS;
        }
        if beneath.no_xdev {
            resolve |= ResolveFlags::NO_XDEV;
        }
    }
    let open = |flags: OFlags| -> Result<_, Errno> {
        let mut tries = 0;
        loop {
            match openat2(dir, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
                // Kernels before 5.6 have no openat2: the same open without resolve flags,
                // but never when containment depends on them.
                Err(Errno::NOSYS) if walk == Walk::Blocking && beneath.is_none() => {
                    return rustix::fs::openat(dir, path, flags | OFlags::CLOEXEC, Mode::empty())
                }
                Err(Errno::AGAIN)
                    if walk == Walk::Blocking && beneath.is_some() && tries < RACE_RETRIES =>
                {
                    tries += 1;
                }
                other => return other,
            }
        }
    };
    // The open failed, or found something other than a regular file.
    enum Failure {
        Os(Errno),
        NotRegular,
    }
    let attempt = || -> Result<Opened, Failure> {
        let fd = open(OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY).map_err(Failure::Os)?;
        let file = File::from(fd);
        let metadata = file
            .metadata()
            .map_err(|e| Failure::Os(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
        if !metadata.is_file() {
            return Err(Failure::NotRegular);
        }
        Ok((file, metadata))
    };
    match attempt() {
        Ok(opened) => Attempt::Done(Ok(opened)),
        // A socket cannot be opened (`ENXIO`), nor a device without a driver (`ENODEV`).
        Err(Failure::NotRegular | Failure::Os(Errno::NXIO | Errno::NODEV)) => {
            Attempt::Done(Err(OpenErrorKind::NotRegularFile.into()))
        }
        Err(Failure::Os(Errno::AGAIN)) if walk == Walk::Cached => Attempt::WouldBlock,
        Err(Failure::Os(Errno::NOSYS | Errno::INVAL)) if walk == Walk::Cached => {
            Attempt::Unsupported
        }
        Err(Failure::Os(errno @ (Errno::XDEV | Errno::LOOP))) if beneath.is_some() => {
            let error = std::io::Error::from(errno);
            Attempt::Done(Err(OpenError::new(OpenErrorKind::OutsideRoot, error)))
        }
        Err(Failure::Os(errno)) => Attempt::Done(Err(std::io::Error::from(errno).into())),
    }
}

/// Opens `path` for reading if it is a regular file, as on Linux but without `openat2`.
#[cfg(all(unix, not(target_os = "linux")))]
pub(super) fn open_regular(path: &Path, walk: Walk) -> Attempt<Result<Opened, OpenError>> {
    use rustix::fs::{open, Mode, OFlags};

    if walk == Walk::Cached {
        return Attempt::Unsupported;
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let attempt = || -> Result<Opened, OpenError> {
        let file = match open(path, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            // A socket cannot be opened (`ENXIO`), nor a device without a driver (`ENODEV`).
            Err(
                rustix::io::Errno::NXIO | rustix::io::Errno::NODEV | rustix::io::Errno::OPNOTSUPP,
            ) => return Err(OpenErrorKind::NotRegularFile.into()),
            Err(errno) => return Err(std::io::Error::from(errno).into()),
        };
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(OpenErrorKind::NotRegularFile.into());
        }
        Ok((file, metadata))
    };
    Attempt::Done(attempt())
}

/// Opens `path` for reading if it is a regular file.
#[cfg(not(unix))]
pub(super) fn open_regular(path: &Path, walk: Walk) -> Attempt<Result<Opened, OpenError>> {
    if walk == Walk::Cached {
        return Attempt::Unsupported;
    }
    let attempt = || -> Result<Opened, OpenError> {
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(OpenErrorKind::NotRegularFile.into());
        }
        Ok((file, metadata))
    };
    Attempt::Done(attempt())
}

/// Opens `path` beneath `root` one name at a time, each with `O_NOFOLLOW`: the walk other Unix
/// systems use for the directory service, where `openat2` does not exist. Every symlink is
/// refused (a component that is one fails), a `..`, `.` or absolute component is refused before
/// any open, and with `same_mount` a component on another device than the root is refused:
/// all [`OpenErrorKind::OutsideRoot`]. The last name is opened as [`open_regular`] does.
/// Compiled and tested on Linux too, which uses `openat2` instead.
#[cfg(unix)]
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) fn open_regular_walk(
    root: std::os::fd::BorrowedFd<'_>,
    path: &Path,
    same_mount: bool,
) -> Result<Opened, OpenError> {
    use std::os::unix::fs::MetadataExt;

    use rustix::fs::OFlags;

    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
    let file = File::from(walk_beneath(root, path, same_mount, flags)?);
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(OpenErrorKind::NotRegularFile.into());
    }
    if same_mount {
        let root_dev = rustix::fs::fstat(root)
            .map_err(std::io::Error::from)?
            .st_dev;
        if metadata.dev() != root_dev as u64 {
            return Err(OpenErrorKind::OutsideRoot.into());
        }
    }
    Ok((file, metadata))
}

/// Whether `path` beneath `root` is a directory, walked as [`open_regular_walk`] walks.
#[cfg(unix)]
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) fn is_directory_walk(
    root: std::os::fd::BorrowedFd<'_>,
    path: &Path,
    same_mount: bool,
) -> bool {
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY;
    walk_beneath(root, path, same_mount, flags).is_ok()
}

/// Opens every name of `path` but the last as a directory, then the last with `last`; all
/// with `O_NOFOLLOW | O_CLOEXEC`, each from the one before.
#[cfg(unix)]
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn walk_beneath(
    root: std::os::fd::BorrowedFd<'_>,
    path: &Path,
    same_mount: bool,
    last: rustix::fs::OFlags,
) -> Result<std::os::fd::OwnedFd, OpenError> {
    use std::os::fd::AsFd;
    use std::path::Component;

    use rustix::fs::{fstat, openat, Mode, OFlags};
    use rustix::io::Errno;

    let os = |errno: Errno| -> OpenError {
        match errno {
            // The name is a symlink (`ELOOP` on Linux and the BSDs, `EMLINK` on FreeBSD for
            // `O_NOFOLLOW`), or a symlink to a directory opened as one.
            Errno::LOOP | Errno::MLINK => OpenErrorKind::OutsideRoot.into(),
            Errno::NXIO | Errno::NODEV | Errno::OPNOTSUPP => OpenErrorKind::NotRegularFile.into(),
            errno => std::io::Error::from(errno).into(),
        }
    };
    let root_dev = match same_mount {
        true => Some(fstat(root).map_err(os)?.st_dev),
        false => None,
    };
    let mut names = path.components().peekable();
    let mut dir: Option<std::os::fd::OwnedFd> = None;
    while let Some(component) = names.next() {
        let Component::Normal(name) = component else {
            return Err(OpenErrorKind::OutsideRoot.into());
        };
        let at = dir.as_ref().map_or(root, |d| d.as_fd());
        if names.peek().is_none() {
            return openat(
                at,
                name,
                last | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(os);
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let next = openat(at, name, flags, Mode::empty()).map_err(|errno| match errno {
            // A symlink opened with `O_DIRECTORY | O_NOFOLLOW` may say "not a directory".
            Errno::NOTDIR => OpenErrorKind::NotFound.into(),
            errno => os(errno),
        })?;
        if let Some(dev) = root_dev {
            if fstat(&next).map_err(os)?.st_dev != dev {
                return Err(OpenErrorKind::OutsideRoot.into());
            }
        }
        dir = Some(next);
    }
    Err(OpenErrorKind::NotRegularFile.into())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn the_component_walk_opens_files_beneath_and_refuses_symlinks_and_dot_dot() {
        let base = std::env::temp_dir().join(format!("tower-range-walk-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("films")).unwrap();
        std::fs::write(root.join("films/a.mp4"), b"a").unwrap();
        std::fs::write(base.join("secret"), b"secret").unwrap();
        let _ = std::os::unix::fs::symlink("a.mp4", root.join("films/link.mp4"));
        let _ = std::os::unix::fs::symlink("films", root.join("dirlink"));
        let _ = std::os::unix::fs::symlink("../secret", root.join("out"));
        let dir = File::open(&root).unwrap();
        let root_fd = dir.as_fd();
        let kind = |path: &str| open_regular_walk(root_fd, Path::new(path), true).map(drop);
        assert!(kind("films/a.mp4").is_ok());
        for refused in [
            "films/link.mp4",
            "dirlink/a.mp4",
            "out",
            "../secret",
            "films/../../secret",
        ] {
            let error = kind(refused).unwrap_err();
            assert!(
                matches!(
                    error.kind(),
                    OpenErrorKind::OutsideRoot | OpenErrorKind::NotFound
                ),
                "{refused}: {error}"
            );
        }
        assert_eq!(
            kind("films").unwrap_err().kind(),
            OpenErrorKind::NotRegularFile
        );
        assert_eq!(kind("nothing").unwrap_err().kind(), OpenErrorKind::NotFound);
        assert!(is_directory_walk(root_fd, Path::new("films"), false));
        assert!(!is_directory_walk(root_fd, Path::new("dirlink"), false));
    }
}
