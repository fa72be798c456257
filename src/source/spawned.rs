use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::Error;

/// A read running as a spawned task, as a [`SourceReader::Read`](super::SourceReader::Read)
/// future.
///
/// A task's `JoinHandle` resolves to `Result<Result<Bytes, Error>, JoinError>`, not to the
/// read's result; this adapter flattens it, and a task that panicked or was cancelled (its
/// runtime shut down) becomes an [`ErrorKind::Io`](crate::ErrorKind::Io) error, so that the
/// body ends and the connection is cut instead of a panic reaching the server. A spawned task
/// runs whether or not the body polls it, which is what read-ahead needs.
///
/// ```
/// use bytes::Bytes;
/// use tower_range::source::SpawnedRead;
///
/// # async fn demo() {
/// let read = SpawnedRead::from(tokio::task::spawn_blocking(|| Ok(Bytes::from_static(b"abc"))));
/// assert_eq!(read.await.unwrap(), "abc");
/// # }
/// ```
#[derive(Debug)]
pub struct SpawnedRead {
    task: JoinHandle<Result<Bytes, Error>>,
}

impl From<JoinHandle<Result<Bytes, Error>>> for SpawnedRead {
    fn from(task: JoinHandle<Result<Bytes, Error>>) -> Self {
        Self { task }
    }
}

impl Future for SpawnedRead {
    type Output = Result<Bytes, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(Pin::new(&mut self.task).poll(cx))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicked_task_is_an_io_error() {
        let read = SpawnedRead::from(tokio::spawn(async { panic!("disk on fire") }));
        let error = read.await.unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Io);
        assert!(error.to_string().contains("panicked"), "{error}");
    }

    #[tokio::test]
    async fn an_aborted_task_is_an_io_error() {
        let task = tokio::spawn(std::future::pending::<Result<Bytes, Error>>());
        task.abort();
        let error = SpawnedRead::from(task).await.unwrap_err();
        assert!(error.to_string().contains("cancelled"), "{error}");
    }
}
