//! A cap on blocking file operations running at once.

use std::fmt;
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// How many blocking file operations (opens and reads on tokio's blocking pool) may run at
/// once.
///
/// A hung disk or network file system blocks every thread that touches it. Without a cap,
/// requests for such a file would take every thread of the blocking pool (512 by default),
/// and with them every other file; with it, they take at most `max`, and operations beyond it
/// wait in line as small futures (no buffer is allocated until an operation runs). Clone it to
/// share one cap between sources; by default every [`FileSource`](crate::FileSource) shares one
/// process-wide cap of [`DEFAULT_BLOCKING_LIMIT`].
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
    /// progress whether or not it is polled.
    pub(crate) fn run<T, F>(&self, operation: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.semaphore.clone().try_acquire_owned() {
            // The common case: a slot is free, so no extra task.
            Ok(permit) => tokio::task::spawn_blocking(move || {
                let _permit = permit;
                operation()
            }),
            Err(_) => {
                let semaphore = self.semaphore.clone();
                tokio::spawn(async move {
                    let permit = semaphore
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed");
                    let task = tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        operation()
                    });
                    match task.await {
                        Ok(value) => value,
                        Err(join) => std::panic::resume_unwind(join.into_panic()),
                    }
                })
            }
        }
    }

    /// Takes a slot, for tests that simulate operations that hang.
    #[cfg(test)]
    pub(crate) fn hold(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.semaphore.clone().try_acquire_owned().unwrap()
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
