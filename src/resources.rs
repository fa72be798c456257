//! What services share: the read-ahead budget, the cap on blocking file operations and the
//! frame buffer pool.

use crate::budget::ReadAheadBudget;
use crate::source::{BlockingLimit, BufferPool};

/// The size of the process-wide read-ahead budget that services share unless given their
/// own: 64 MiB.
pub const DEFAULT_READ_AHEAD_BUDGET: u64 = 64 * 1024 * 1024;

/// Handles on the resources a service's requests draw from.
///
/// The default is one of each per process, shared by every service that is not given its
/// own: a [`ReadAheadBudget`] of [`DEFAULT_READ_AHEAD_BUDGET`], a [`BlockingLimit`] of
/// [`DEFAULT_BLOCKING_LIMIT`](crate::source::DEFAULT_BLOCKING_LIMIT) and one [`BufferPool`].
/// Give services clones of one `Resources` to share them, or each its own to keep them
/// apart (a test that measures one service, a tenant that must not starve another).
/// Resolvers and sources receive them with every request.
#[derive(Debug, Clone)]
pub struct Resources {
    budget: ReadAheadBudget,
    blocking: BlockingLimit,
    pool: BufferPool,
}

impl Resources {
    /// The process-wide resources.
    pub fn global() -> Self {
        Self {
            budget: global_budget().clone(),
            blocking: BlockingLimit::global().clone(),
            pool: BufferPool::global().clone(),
        }
    }

    /// Replaces the read-ahead budget.
    pub fn with_budget(mut self, budget: ReadAheadBudget) -> Self {
        self.budget = budget;
        self
    }

    /// Replaces the cap on blocking file operations.
    pub fn with_blocking_limit(mut self, limit: BlockingLimit) -> Self {
        self.blocking = limit;
        self
    }

    /// Replaces the frame buffer pool.
    pub fn with_buffer_pool(mut self, pool: BufferPool) -> Self {
        self.pool = pool;
        self
    }

    /// The read-ahead budget.
    pub fn budget(&self) -> &ReadAheadBudget {
        &self.budget
    }

    /// The cap on blocking file operations.
    pub fn blocking_limit(&self) -> &BlockingLimit {
        &self.blocking
    }

    /// The frame buffer pool.
    pub fn buffer_pool(&self) -> &BufferPool {
        &self.pool
    }
}

impl Default for Resources {
    /// The process-wide resources, as [`Resources::global`].
    fn default() -> Self {
        Self::global()
    }
}

fn global_budget() -> &'static ReadAheadBudget {
    static GLOBAL: std::sync::OnceLock<ReadAheadBudget> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(|| ReadAheadBudget::new(DEFAULT_READ_AHEAD_BUDGET))
}
