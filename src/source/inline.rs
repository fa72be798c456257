//! Linux calls that fail instead of blocking, so that work the kernel can do from its caches
//! runs on the async thread without a trip through the blocking pool: `openat2` with
//! `RESOLVE_CACHED` (every path component already in the dentry cache) and `preadv2` with
//! `RWF_NOWAIT` (every byte already in the page cache). Both answer `EAGAIN` otherwise, and
//! the caller goes to the blocking pool.

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::path::Path;

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::{preadv2, Errno, ReadWriteFlags};

/// What a non-blocking attempt found.
pub(super) enum Attempt<T> {
    /// Done from the caches.
    Done(T),
    /// It would have blocked: do it on the blocking pool.
    WouldBlock,
    /// The kernel or file system does not offer the call: stop trying it.
    Unsupported,
}

fn unsupported(errno: Errno) -> bool {
    errno == Errno::NOSYS || errno == Errno::OPNOTSUPP || errno == Errno::INVAL
}

/// Opens `path` read-only if the kernel can do it from its caches.
pub(super) fn open_cached(path: &Path) -> Attempt<io::Result<File>> {
    match openat2(
        CWD,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::CACHED,
    ) {
        Ok(fd) => Attempt::Done(Ok(File::from(fd))),
        Err(Errno::AGAIN) => Attempt::WouldBlock,
        Err(errno) if unsupported(errno) => Attempt::Unsupported,
        Err(errno) => Attempt::Done(Err(errno.into())),
    }
}

/// Fills `buf` from `offset` if every byte is in the page cache. A short read (part cached, or
/// the end of the file) counts as would-block: the blocking path reads on and tells them apart.
pub(super) fn read_cached(file: &File, buf: &mut [u8], offset: u64) -> Attempt<io::Result<()>> {
    let want = buf.len();
    match preadv2(
        file,
        &mut [IoSliceMut::new(buf)],
        offset,
        ReadWriteFlags::NOWAIT,
    ) {
        Ok(n) if n == want => Attempt::Done(Ok(())),
        Ok(_) | Err(Errno::AGAIN) => Attempt::WouldBlock,
        Err(errno) if unsupported(errno) => Attempt::Unsupported,
        Err(errno) => Attempt::Done(Err(errno.into())),
    }
}
