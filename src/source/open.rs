//! Opening a path as a regular file, never blocking on or reading anything else.
//!
//! A FIFO without a writer blocks a plain `open` until one comes; a device's `open` runs its
//! driver. So the type is checked before the real open: the path is first opened with
//! `O_PATH`, which reaches the inode without opening the file itself (no driver runs, a FIFO
//! does not wait), and `fstat` tells its type. Only a regular file is then opened for reading,
//! with `O_NONBLOCK | O_NOCTTY` in case the name was swapped for a special file in between (it
//! then cannot block or become a controlling terminal, and the second type check refuses it),
//! and the flag is cleared again.

use std::fs::File;
use std::path::Path;

use crate::open_error::{OpenError, OpenErrorKind};

/// What an attempt that must not wait found.
pub(super) enum Attempt<T> {
    /// Done, from the caches or because waiting was allowed.
    Done(T),
    /// It would have waited: do it on the blocking pool.
    WouldBlock,
    /// The kernel or file system does not offer the call: stop trying it.
    Unsupported,
}

/// A regular file opened for reading, and what `fstat` said of it.
pub(super) type Opened = (File, std::fs::Metadata);

/// How an open may walk the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    /// Only through what the kernel's caches hold: fails with `WouldBlock` otherwise.
    Cached,
    /// However long it takes: call it on the blocking pool.
    Blocking,
}

/// Opens `path` for reading if it is a regular file; anything else is
/// [`OpenErrorKind::NotRegularFile`] and is never opened for reading.
#[cfg(target_os = "linux")]
pub(super) fn open_regular(path: &Path, walk: Walk) -> Attempt<Result<Opened, OpenError>> {
    use rustix::fs::{fcntl_setfl, fstat, openat2, FileType, Mode, OFlags, ResolveFlags, CWD};
    use rustix::io::Errno;

    let resolve = match walk {
        Walk::Cached => ResolveFlags::CACHED,
        Walk::Blocking => ResolveFlags::empty(),
    };
    let open = |flags: OFlags| -> Result<_, Errno> {
        match openat2(CWD, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            // Kernels before 5.6 have no openat2: the same open without resolve flags.
            Err(Errno::NOSYS) if walk == Walk::Blocking => {
                rustix::fs::openat(CWD, path, flags | OFlags::CLOEXEC, Mode::empty())
            }
            other => other,
        }
    };
    // The open failed, or found something other than a regular file.
    enum Failure {
        Os(Errno),
        NotRegular,
    }
    let attempt = || -> Result<Opened, Failure> {
        let probe = open(OFlags::PATH).map_err(Failure::Os)?;
        let stat = fstat(&probe).map_err(Failure::Os)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(Failure::NotRegular);
        }
        let fd = open(OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY).map_err(Failure::Os)?;
        let file = File::from(fd);
        let metadata = file
            .metadata()
            .map_err(|e| Failure::Os(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
        if !metadata.is_file() {
            return Err(Failure::NotRegular);
        }
        fcntl_setfl(&file, OFlags::RDONLY).map_err(Failure::Os)?;
        Ok((file, metadata))
    };
    match attempt() {
        Ok(opened) => Attempt::Done(Ok(opened)),
        Err(Failure::NotRegular) => Attempt::Done(Err(OpenErrorKind::NotRegularFile.into())),
        Err(Failure::Os(Errno::AGAIN)) if walk == Walk::Cached => Attempt::WouldBlock,
        Err(Failure::Os(Errno::NOSYS | Errno::INVAL)) if walk == Walk::Cached => {
            Attempt::Unsupported
        }
        Err(Failure::Os(errno)) => Attempt::Done(Err(std::io::Error::from(errno).into())),
    }
}

/// Opens `path` for reading if it is a regular file. Without `O_PATH`, the open that checks
/// the type is the real one, made with `O_NONBLOCK | O_NOCTTY` so that it cannot block.
#[cfg(all(unix, not(target_os = "linux")))]
pub(super) fn open_regular(path: &Path, walk: Walk) -> Attempt<Result<Opened, OpenError>> {
    use rustix::fs::{fcntl_setfl, open, Mode, OFlags};

    if walk == Walk::Cached {
        return Attempt::Unsupported;
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let attempt = || -> Result<Opened, OpenError> {
        let file = File::from(open(path, flags, Mode::empty()).map_err(std::io::Error::from)?);
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(OpenErrorKind::NotRegularFile.into());
        }
        fcntl_setfl(&file, OFlags::RDONLY).map_err(std::io::Error::from)?;
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
