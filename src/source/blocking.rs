//! A cap on blocking file operations running at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinHandle};

use crate::metrics;

/// How many blocking file operations (opens and reads on tokio's blocking pool) may run at
/// once.
///
/// A hung disk or network file system blocks every thread that touches it. Without a cap,
/// requests for such a file would take every thread of the blocking pool (512 by default),
/// and with them every other file; with it, they take at most `max`, and operations beyond it
/// wait in line as small futures (no buffer is allocated until an operation runs). Clone it to
/// share one cap between services ([`RangeService::blocking_limit`](crate::RangeService::blocking_limit),
/// [`Resources`](crate::Resources)); by default every service shares one process-wide cap of
/// [`DEFAULT_BLOCKING_LIMIT`].
#[derive(Clone)]
pub struct BlockingLimit {
    semaphore: Arc<Semaphore>,
    max: usize,
}

/// The size of the process-wide [`BlockingLimit`]: 64 operations. An eighth of tokio's
/// default blocking pool, and far more than the disks of one machine serve in parallel.
pub const DEFAULT_BLOCKING_LIMIT: usize = 64;

impl BlockingLimit {
    /// A cap of `max` operations at once (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// The process-wide cap.
    pub fn global() -> &'static BlockingLimit {
        static GLOBAL: OnceLock<BlockingLimit> = OnceLock::new();
        GLOBAL.get_or_init(|| BlockingLimit::new(DEFAULT_BLOCKING_LIMIT))
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many more operations could start now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// Runs `operation` on the blocking pool once the cap allows. The returned task makes
    /// progress whether or not it is polled; it fails when the operation panicked or the
    /// runtime shut down before it ran.
    pub(crate) fn run<T, F>(&self, operation: F) -> BlockingTask<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let state = match self.semaphore.clone().try_acquire_owned() {
            // The common case: a slot is free, so no extra task.
            Ok(permit) => TaskState::Running(tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let _running = metrics::blocking_operation_started();
                operation()
            })),
            Err(_) => {
                let semaphore = self.semaphore.clone();
                // Dropped once a slot is taken, or with the task if it is cancelled first.
                let waiting = metrics::blocking_wait_started();
                TaskState::Queued(tokio::spawn(async move {
                    let permit = semaphore
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed");
                    drop(waiting);
                    tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        let _running = metrics::blocking_operation_started();
                        operation()
                    })
                    .await
                }))
            }
        };
        BlockingTask { state }
    }

    /// Takes a slot, for tests that simulate operations that hang.
    #[cfg(test)]
    pub(crate) fn hold(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.semaphore.clone().try_acquire_owned().unwrap()
    }
}

/// An operation given to [`BlockingLimit::run`]: running, or waiting for a slot.
#[derive(Debug)]
pub(crate) struct BlockingTask<T> {
    state: TaskState<T>,
}

#[derive(Debug)]
enum TaskState<T> {
    Running(JoinHandle<T>),
    /// A task that waits for a slot, then runs the operation and passes on how it ended.
    Queued(JoinHandle<Result<T, JoinError>>),
}

impl<T> Future for BlockingTask<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            TaskState::Running(task) => Pin::new(task).poll(cx),
            TaskState::Queued(task) => Pin::new(task).poll(cx).map(|joined| joined.and_then(|r| r)),
        }
    }
}

impl fmt::Debug for BlockingLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingLimit")
            .field("max", &self.max)
            .field("available", &self.available())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_operation_cut_by_runtime_shutdown_fails_without_panicking() {
        let limit = BlockingLimit::new(1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (task, hung) = runtime.block_on(async {
            let hung = limit.hold();
            (limit.run(|| 42), hung)
        });
        // The queued task is cancelled with the runtime before it gets a slot.
        drop(runtime);
        drop(hung);
        let other = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let joined = other.block_on(task);
        assert!(joined.unwrap_err().is_cancelled());
    }

    #[tokio::test]
    async fn a_panicking_operation_fails_its_task() {
        let limit = BlockingLimit::new(1);
        let joined = limit.run(|| -> u8 { panic!("disk on fire") }).await;
        assert!(joined.unwrap_err().is_panic());
        assert_eq!(limit.available(), 1);
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn a_queued_operation_counts_as_waiting_until_it_gets_a_slot() {
        let recorded = crate::metrics::recorded::Recorded::default();
        let waiting = || recorded.gauge("tower_range_blocking_operations_waiting");
        recorded.during(|| {
            // One thread, so that the queued task records through this thread's recorder.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let limit = BlockingLimit::new(1);
                let hung = limit.hold();
                let task = limit.run(|| 7);
                assert_eq!(waiting(), 1.0);
                drop(hung);
                assert_eq!(task.await.unwrap(), 7);
                assert_eq!(waiting(), 0.0);
            });
        });
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn a_queued_operation_cancelled_by_runtime_shutdown_stops_waiting() {
        let recorded = crate::metrics::recorded::Recorded::default();
        let waiting = || recorded.gauge("tower_range_blocking_operations_waiting");
        recorded.during(|| {
            let limit = BlockingLimit::new(1);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let _hung = runtime.block_on(async {
                let hung = limit.hold();
                drop(limit.run(|| 42));
                hung
            });
            assert_eq!(waiting(), 1.0);
            drop(runtime);
            assert_eq!(waiting(), 0.0);
        });
    }
}
