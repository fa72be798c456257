//! Counters of what a store source asked of the store and what its bodies pulled and handed
//! on: the request accounting a billed store is run by, and the check of the memory bound.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a store source has cost since it was made, shared by its clones
/// ([`ObjectSource::stats`](super::ObjectSource::stats),
/// [`StoreResolver::stats`](super::StoreResolver::stats)).
#[derive(Debug, Default)]
pub struct StoreStats {
    heads: AtomicU64,
    gets: AtomicU64,
    resumes: AtomicU64,
    bytes_pulled: AtomicU64,
    bytes_handed_on: AtomicU64,
    largest_chunk: AtomicU64,
}

impl StoreStats {
    /// `HEAD` requests sent (metadata not found in the cache).
    pub fn heads(&self) -> u64 {
        self.heads.load(Ordering::Relaxed)
    }

    /// Ranged GETs started, resumptions included.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// GETs that resumed a failed one from its next byte.
    pub fn resumes(&self) -> u64 {
        self.resumes.load(Ordering::Relaxed)
    }

    /// Body bytes received from the store, gaps between grouped parts included.
    pub fn bytes_pulled(&self) -> u64 {
        self.bytes_pulled.load(Ordering::Relaxed)
    }

    /// Bytes of frames the bodies handed on to the server.
    pub fn bytes_handed_on(&self) -> u64 {
        self.bytes_handed_on.load(Ordering::Relaxed)
    }

    /// The largest chunk the store's client has delivered at once.
    pub fn largest_chunk(&self) -> u64 {
        self.largest_chunk.load(Ordering::Relaxed)
    }

    pub(crate) fn head_sent(&self) {
        self.heads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get_sent(&self, resumed: bool) {
        self.gets.fetch_add(1, Ordering::Relaxed);
        if resumed {
            self.resumes.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn chunk_pulled(&self, len: usize) {
        self.bytes_pulled.fetch_add(len as u64, Ordering::Relaxed);
        self.largest_chunk.fetch_max(len as u64, Ordering::Relaxed);
    }

    pub(crate) fn frame_handed_on(&self, len: usize) {
        self.bytes_handed_on
            .fetch_add(len as u64, Ordering::Relaxed);
    }
}
