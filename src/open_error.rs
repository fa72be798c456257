//! Why a request found no representation to serve, and the one place that turns the reason
//! into a status.

use std::{error, fmt, io};

use http::StatusCode;

/// The reason a [`Source`](crate::Source) or [`Resolver`](crate::Resolver) has nothing to
/// serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpenErrorKind {
    /// Nothing there (`ENOENT`, or a path through a regular file: `ENOTDIR`): `404`.
    NotFound,
    /// Access denied (`EACCES`, `EPERM`): `403`.
    Forbidden,
    /// A directory, FIFO, socket or device: never opened for reading, answered `404`.
    NotRegularFile,
    /// The path leads outside the root it was given (a symlink out, `..`, a mount point
    /// refused), or loops: `404`, so that a client learns nothing of what lies outside.
    OutsideRoot,
    /// A path or one of its names is longer than the system allows (`ENAMETOOLONG`): `414`.
    NameTooLong,
    /// The upstream store could not be reached or failed: `502`.
    UpstreamUnavailable,
    /// The upstream store did not answer in time: `504`.
    UpstreamTimedOut,
    /// The representation changed between its description and its first read (an object
    /// replaced after its metadata was read): the pipeline resolves the request again once;
    /// met again, `503`.
    Changed,
    /// The request names nothing a file could be (a malformed percent-escape): `400`.
    BadRequest,
    /// What was asked for is at another URL, given with the error
    /// ([`OpenError::redirect`]): `308` with `Location`.
    Redirect,
    /// Anything else (an I/O error): `500`.
    Other,
}

impl OpenErrorKind {
    /// The status of the answer.
    pub fn status(self) -> StatusCode {
        match self {
            Self::NotFound | Self::NotRegularFile | Self::OutsideRoot => StatusCode::NOT_FOUND,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NameTooLong => StatusCode::URI_TOO_LONG,
            Self::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimedOut => StatusCode::GATEWAY_TIMEOUT,
            Self::Changed => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Redirect => StatusCode::PERMANENT_REDIRECT,
            Self::Other => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body of the answer: fixed text that says no more than the status, so that no
    /// path or system detail reaches the client.
    pub fn message(self) -> &'static str {
        match self.status() {
            StatusCode::NOT_FOUND => "not found\n",
            StatusCode::FORBIDDEN => "forbidden\n",
            StatusCode::URI_TOO_LONG => "uri too long\n",
            StatusCode::BAD_GATEWAY => "bad gateway\n",
            StatusCode::GATEWAY_TIMEOUT => "gateway timeout\n",
            StatusCode::SERVICE_UNAVAILABLE => "service unavailable\n",
            StatusCode::BAD_REQUEST => "bad request\n",
            StatusCode::PERMANENT_REDIRECT => "permanent redirect\n",
            _ => "internal error\n",
        }
    }

    /// Whether the reason is what a request can meet in normal operation (nothing there,
    /// no access, a bad name, a redirect): logged at `DEBUG` by the services, where the
    /// others (I/O and upstream failures) are logged at `WARN`.
    pub fn is_miss(self) -> bool {
        matches!(
            self,
            Self::NotFound
                | Self::Forbidden
                | Self::NotRegularFile
                | Self::OutsideRoot
                | Self::NameTooLong
                | Self::BadRequest
                | Self::Redirect
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Self::NotFound => "not found",
            Self::Forbidden => "permission denied",
            Self::NotRegularFile => "not a regular file",
            Self::OutsideRoot => "outside the root",
            Self::NameTooLong => "name too long",
            Self::UpstreamUnavailable => "upstream unavailable",
            Self::UpstreamTimedOut => "upstream timed out",
            Self::Changed => "changed while opened",
            Self::BadRequest => "bad request",
            Self::Redirect => "moved",
            Self::Other => "open failed",
        }
    }
}

/// A typed failure to open a representation, with its cause for the logs.
#[derive(Debug)]
pub struct OpenError {
    kind: OpenErrorKind,
    source: Option<Box<dyn error::Error + Send + Sync>>,
    location: Option<http::HeaderValue>,
}

impl OpenError {
    /// A failure of `kind` caused by `source`.
    pub fn new(
        kind: OpenErrorKind,
        source: impl Into<Box<dyn error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: Some(source.into()),
            location: None,
        }
    }

    /// What was asked for is at `location` (a relative reference, such as `./films/`):
    /// answered `308 Permanent Redirect` with that `Location`.
    pub fn redirect(location: http::HeaderValue) -> Self {
        Self {
            kind: OpenErrorKind::Redirect,
            source: None,
            location: Some(location),
        }
    }

    /// Where a [`redirect`](Self::redirect) points.
    pub fn location(&self) -> Option<&http::HeaderValue> {
        self.location.as_ref()
    }

    /// A failure of `kind` with no further cause.
    pub fn from_kind(kind: OpenErrorKind) -> Self {
        Self {
            kind,
            source: None,
            location: None,
        }
    }

    /// Why.
    pub fn kind(&self) -> OpenErrorKind {
        self.kind
    }
}

impl From<OpenErrorKind> for OpenError {
    fn from(kind: OpenErrorKind) -> Self {
        Self::from_kind(kind)
    }
}

/// Classifies an I/O error by its OS error code where there is one (`ENOTDIR`, `ELOOP` and
/// `ENAMETOOLONG` have no stable [`io::ErrorKind`] on every supported toolchain).
impl From<io::Error> for OpenError {
    fn from(error: io::Error) -> Self {
        Self::new(kind_of(&error), error)
    }
}

fn kind_of(error: &io::Error) -> OpenErrorKind {
    #[cfg(unix)]
    if let Some(code) = error.raw_os_error() {
        use rustix::io::Errno;
        return match Errno::from_raw_os_error(code) {
            Errno::NOENT | Errno::NOTDIR | Errno::LOOP => OpenErrorKind::NotFound,
            Errno::ACCESS | Errno::PERM => OpenErrorKind::Forbidden,
            Errno::NAMETOOLONG => OpenErrorKind::NameTooLong,
            _ => OpenErrorKind::Other,
        };
    }
    match error.kind() {
        io::ErrorKind::NotFound => OpenErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => OpenErrorKind::Forbidden,
        io::ErrorKind::TimedOut => OpenErrorKind::UpstreamTimedOut,
        _ => OpenErrorKind::Other,
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl error::Error for OpenError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_its_status() {
        use OpenErrorKind::*;
        let expected = [
            (NotFound, 404),
            (Forbidden, 403),
            (NotRegularFile, 404),
            (OutsideRoot, 404),
            (NameTooLong, 414),
            (UpstreamUnavailable, 502),
            (UpstreamTimedOut, 504),
            (BadRequest, 400),
            (Redirect, 308),
            (Other, 500),
        ];
        for (kind, status) in expected {
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
            assert!(kind.message().ends_with('\n'));
        }
    }

    #[cfg(unix)]
    #[test]
    fn os_errors_are_classified_by_their_code() {
        use rustix::io::Errno;
        let of = |errno: Errno| OpenError::from(io::Error::from(errno)).kind();
        assert_eq!(of(Errno::NOENT), OpenErrorKind::NotFound);
        assert_eq!(of(Errno::NOTDIR), OpenErrorKind::NotFound);
        assert_eq!(of(Errno::LOOP), OpenErrorKind::NotFound);
        assert_eq!(of(Errno::ACCESS), OpenErrorKind::Forbidden);
        assert_eq!(of(Errno::NAMETOOLONG), OpenErrorKind::NameTooLong);
        assert_eq!(of(Errno::IO), OpenErrorKind::Other);
    }

    #[test]
    fn the_cause_is_kept_for_the_logs() {
        let error = OpenError::new(OpenErrorKind::UpstreamUnavailable, "connection refused");
        assert_eq!(
            error.to_string(),
            "upstream unavailable: connection refused"
        );
        assert!(error::Error::source(&error).is_some());
    }
}
