//! A read-ahead budget shared by many response bodies.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A number of bytes that response bodies may hold in frames they have read ahead of the
/// client.
///
/// Clone it to share one budget between several services: every body of every service then
/// draws from the same pool. A body takes budget for each frame it reads ahead and gives it
/// back when the frame is handed on, or when the body ends, fails or is dropped. A body never
/// waits for budget: when there is none, it reads on demand, one frame at a time, as if its
/// read-ahead depth were zero. So the memory that positional readers (files, memory) hold is
/// bounded by the budget plus one frame per streaming response, however many clients stall.
/// Streaming readers ([`StreamFrames`](crate::read::StreamFrames)) bound themselves per body
/// instead: `read_ahead` frames (at least one) plus one upstream chunk.
#[derive(Clone)]
pub struct ReadAheadBudget {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: u64,
    available: AtomicU64,
}

impl ReadAheadBudget {
    /// A budget of `bytes` bytes.
    pub fn new(bytes: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: bytes,
                available: AtomicU64::new(bytes),
            }),
        }
    }

    /// The size it was created with.
    pub fn capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// The bytes not taken right now.
    pub fn available(&self) -> u64 {
        self.inner.available.load(Ordering::Acquire)
    }

    /// Takes `bytes` if that many are available.
    pub(crate) fn try_take(&self, bytes: u64) -> Option<BudgetPermit> {
        self.inner
            .available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |available| {
                available.checked_sub(bytes)
            })
            .ok()?;
        crate::metrics::read_ahead_taken(bytes);
        Some(BudgetPermit {
            inner: self.inner.clone(),
            bytes,
        })
    }
}

impl fmt::Debug for ReadAheadBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadAheadBudget")
            .field("capacity", &self.capacity())
            .field("available", &self.available())
            .finish()
    }
}

/// Bytes taken from a budget; given back on drop.
pub(crate) struct BudgetPermit {
    inner: Arc<Inner>,
    bytes: u64,
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.inner.available.fetch_add(self.bytes, Ordering::AcqRel);
        crate::metrics::read_ahead_released(self.bytes);
    }
}

impl fmt::Debug for BudgetPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetPermit")
            .field("bytes", &self.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_more_than_is_available_fails() {
        let budget = ReadAheadBudget::new(100);
        let a = budget.try_take(60).unwrap();
        assert_eq!(budget.available(), 40);
        assert!(budget.try_take(41).is_none());
        let b = budget.try_take(40).unwrap();
        assert_eq!(budget.available(), 0);
        drop(a);
        assert_eq!(budget.available(), 60);
        drop(b);
        assert_eq!(budget.available(), budget.capacity());
    }

    #[test]
    fn clones_share_one_pool() {
        let budget = ReadAheadBudget::new(10);
        let clone = budget.clone();
        let _permit = clone.try_take(7).unwrap();
        assert_eq!(budget.available(), 3);
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn taking_and_giving_back_budget_moves_the_read_ahead_gauge() {
        let recorded = crate::metrics::recorded::Recorded::default();
        let gauge = || recorded.gauge("tower_range_read_ahead_bytes");
        recorded.during(|| {
            let budget = ReadAheadBudget::new(100);
            let a = budget.try_take(60).unwrap();
            let b = budget.try_take(30).unwrap();
            assert_eq!(gauge(), 90.0);
            // A refusal takes nothing.
            assert!(budget.try_take(11).is_none());
            assert_eq!(gauge(), 90.0);
            drop(a);
            assert_eq!(gauge(), 30.0);
            drop(b);
        });
        assert_eq!(gauge(), 0.0);
    }
}
