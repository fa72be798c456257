//! An open file and the version it was opened at: what a file reader reads through, and what
//! the open-file cache keeps between requests.

use std::fs::File;
#[cfg(target_os = "linux")]
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(target_os = "linux")]
use super::inline;
#[cfg(target_os = "linux")]
use super::open::Attempt;
use super::stamp::Stamp;
use crate::Error;

/// An open regular file, the `fstat` of its open, and whether it may be read inline.
///
/// Holds nothing of any one request or service (no blocking limit, no buffer pool), so that
/// one handle can serve the requests of every service that shares a cache.
#[derive(Debug)]
pub(crate) struct OpenHandle {
    pub(super) file: File,
    pub(super) stamp: Stamp,
    /// Cleared for good when the file system turns out not to offer non-blocking reads.
    inline_io: AtomicBool,
}

impl OpenHandle {
    pub(super) fn new(file: File, stamp: Stamp, inline_io: bool) -> Self {
        Self {
            file,
            stamp,
            inline_io: AtomicBool::new(inline_io),
        }
    }

    /// Whether reads may still be tried inline.
    pub(super) fn inline_io(&self) -> bool {
        self.inline_io.load(Ordering::Relaxed)
    }

    /// Whether the open file still holds the version it was opened with and still has a
    /// name: one `fstat`. A file replaced by a rename or deleted has lost its last link.
    pub(crate) fn is_current(&self) -> bool {
        match self.file.metadata() {
            Ok(meta) => {
                let now = Stamp::of(&meta);
                self.stamp.same_content(&now) && now.is_linked()
            }
            Err(_) => false,
        }
    }

    /// Fails with `Modified` if the file no longer holds the version that was opened.
    ///
    /// Called after each read: a write that reached the bytes just read has already updated
    /// the size or the times, so the check cannot miss it.
    pub(super) fn check_unchanged(&self) -> Result<(), Error> {
        let now = Stamp::of(&self.file.metadata()?);
        match self.stamp.same_content(&now) {
            true => Ok(()),
            false => Err(Error::modified()),
        }
    }

    /// Reads from the page cache without waiting; `None` when that is not possible.
    #[cfg(target_os = "linux")]
    pub(super) fn read_cached(&self, buf: &mut [u8], offset: u64) -> Option<io::Result<()>> {
        match inline::read_cached(&self.file, buf, offset) {
            Attempt::Done(result) => Some(result),
            Attempt::WouldBlock => None,
            Attempt::Unsupported => {
                self.inline_io.store(false, Ordering::Relaxed);
                None
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn read_cached(&self, _: &mut [u8], _: u64) -> Option<std::io::Result<()>> {
        None
    }
}
