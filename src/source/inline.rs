//! A Linux read that fails instead of blocking, so that what the kernel can serve from its
//! page cache is read on the async thread without a trip through the blocking pool:
//! `preadv2` with `RWF_NOWAIT` answers `EAGAIN` unless every byte is cached, and the caller
//! then goes to the blocking pool. (Opens do the same with `RESOLVE_CACHED`: see
//! [`open`](super::open).)

use std::fs::File;
use std::io::{self, IoSliceMut};

use rustix::io::{preadv2, Errno, ReadWriteFlags};

use super::open::Attempt;

fn unsupported(errno: Errno) -> bool {
    errno == Errno::NOSYS || errno == Errno::OPNOTSUPP || errno == Errno::INVAL
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
