//! A file's version as `fstat` reports it: the `ETag` token, and the check that an open file
//! still holds the bytes the headers promised.

/// What `fstat` says about a file's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) len: u64,
    pub(super) modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    unix: UnixStamp,
}

#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UnixStamp {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    nlink: u64,
}

impl Stamp {
    pub(super) fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            unix: UnixStamp {
                dev: meta.dev(),
                ino: meta.ino(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                nlink: meta.nlink(),
            },
        }
    }

    /// The version token, built on the stack: a buffer and how much of it is used.
    pub(super) fn version_token(&self) -> ([u8; 40], usize) {
        let mut token = [0u8; 40];
        let mut used = 0;
        let mut put = |bytes: &[u8]| {
            token[used..used + bytes.len()].copy_from_slice(bytes);
            used += bytes.len();
        };
        #[cfg(unix)]
        {
            put(&self.unix.dev.to_le_bytes());
            put(&self.unix.ino.to_le_bytes());
            put(&self.len.to_le_bytes());
            put(&self.unix.mtime.0.to_le_bytes());
            put(&self.unix.mtime.1.to_le_bytes());
        }
        #[cfg(not(unix))]
        {
            put(&self.len.to_le_bytes());
            let since = self
                .modified
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .unwrap_or_default();
            put(&since.as_nanos().to_le_bytes());
        }
        (token, used)
    }

    /// Whether the file still has a name (a link count above zero; always, off Unix).
    pub(super) fn is_linked(&self) -> bool {
        #[cfg(unix)]
        return self.unix.nlink != 0;
        #[cfg(not(unix))]
        return true;
    }

    /// Whether `now` (a later `fstat` of the same open file) can still hold the bytes that
    /// `self` described.
    pub(super) fn same_content(&self, now: &Stamp) -> bool {
        if self.len != now.len || self.modified != now.modified {
            return false;
        }
        #[cfg(unix)]
        {
            // The change time also moves on writes that restore the modification time. It
            // moves on unlink too; an unlinked file can no longer be opened by name, so a
            // change time that moved together with the link count dropping to zero is
            // accepted.
            if self.unix.ctime != now.unix.ctime && now.unix.nlink != 0 {
                return false;
            }
        }
        true
    }
}
