//! The error a response body ends with when it cannot deliver the bytes its headers promised.

use std::{error, fmt, io};

/// What went wrong while a body was streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading from the source failed.
    Io,
    /// The source ended before the promised range did: the file was truncated.
    Truncated,
    /// The source no longer has the version the response headers described: the file was
    /// modified in place while it was streamed.
    Modified,
}

/// The error of a [`RangeBody`](crate::RangeBody).
///
/// When a body yields it, the connection must be cut (hyper does this: it closes an HTTP/1
/// connection and resets an HTTP/2 stream), so that the client sees an incomplete response
/// rather than bytes of another version or padding.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: Option<io::Error>,
}

impl Error {
    /// The source ended early: `expected` bytes were asked for at `offset`, `got` arrived.
    pub fn truncated(offset: u64, expected: usize, got: usize) -> Self {
        Self {
            kind: ErrorKind::Truncated,
            source: Some(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read {got} of {expected} bytes at offset {offset}"),
            )),
        }
    }

    /// The source changed since it was opened.
    pub fn modified() -> Self {
        Self {
            kind: ErrorKind::Modified,
            source: None,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<io::Error> for Error {
    fn from(source: io::Error) -> Self {
        Self {
            kind: ErrorKind::Io,
            source: Some(source),
        }
    }
}

/// A read task that panicked, or was cancelled because its runtime shut down, is an I/O
/// failure of the read: the body ends with it, and no panic reaches the server.
impl From<tokio::task::JoinError> for Error {
    fn from(join: tokio::task::JoinError) -> Self {
        let what = if join.is_cancelled() {
            "the read task was cancelled"
        } else {
            "the read task panicked"
        };
        Self::from(io::Error::other(what))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Io => f.write_str("reading the source failed"),
            ErrorKind::Truncated => f.write_str("the source was truncated while streaming"),
            ErrorKind::Modified => f.write_str("the source was modified while streaming"),
        }?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl error::Error for Error {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_happened() {
        assert_eq!(
            Error::truncated(10, 5, 2).to_string(),
            "the source was truncated while streaming: read 2 of 5 bytes at offset 10"
        );
        assert_eq!(Error::modified().kind(), ErrorKind::Modified);
        let io = Error::from(io::Error::other("disk on fire"));
        assert_eq!(io.kind(), ErrorKind::Io);
        assert!(error::Error::source(&io).is_some());
    }

    #[test]
    fn error_is_send_sync_and_static() {
        fn check<T: error::Error + Send + Sync + 'static>() {}
        check::<Error>();
    }
}
