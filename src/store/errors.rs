//! What the store's errors mean for the answer: one mapping before the head (a status) and
//! one inside the body (a cut).

use crate::{Error, OpenError, OpenErrorKind};

/// The status for a failure before the response head: a missing key `404`, access refused
/// `403`, the version gone `Changed` (planned again), anything else after the store's own
/// retries `502`.
pub(crate) fn open_error(error: object_store::Error) -> OpenError {
    use object_store::Error as E;
    let kind = match &error {
        E::NotFound { .. } => OpenErrorKind::NotFound,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => OpenErrorKind::Forbidden,
        E::Precondition { .. } => OpenErrorKind::Changed,
        _ => OpenErrorKind::UpstreamUnavailable,
    };
    OpenError::new(kind, error)
}

/// The store did not answer within the head deadline: `504`.
pub(crate) fn timed_out() -> OpenError {
    OpenError::new(
        OpenErrorKind::UpstreamTimedOut,
        "the store did not answer within the head deadline",
    )
}

/// The error a body ends with: the version gone is [`Modified`](crate::ErrorKind::Modified),
/// anything else an I/O failure.
pub(crate) fn body_error(error: object_store::Error) -> Error {
    match error {
        object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. } => {
            Error::modified()
        }
        other => Error::from(std::io::Error::other(other)),
    }
}
