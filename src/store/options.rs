//! What a store source may be told: how long metadata is trusted, how long the answer's
//! head may wait, how a multipart answer's parts are grouped into GETs.

use std::time::Duration;

/// The default of [`StoreOptions::metadata_ttl`].
pub const DEFAULT_METADATA_TTL: Duration = Duration::from_secs(5);
/// The default of [`StoreOptions::metadata_entries`].
pub const DEFAULT_METADATA_ENTRIES: usize = 10_000;
/// The default of [`StoreOptions::head_deadline`].
pub const DEFAULT_HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// The default of [`StoreOptions::merge_gap`]: a gap this small costs less as wasted
/// transfer than as another billed GET and its round trip.
pub const DEFAULT_MERGE_GAP: u64 = 64 * 1024;
/// The default of [`StoreOptions::max_gets`].
pub const DEFAULT_MAX_GETS: usize = 4;
/// The default of [`StoreOptions::resumes`].
pub const DEFAULT_RESUMES: u32 = 3;

/// Options of an [`ObjectSource`](super::ObjectSource) or a
/// [`StoreResolver`](super::StoreResolver); every one has a default.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub(crate) metadata_ttl: Duration,
    pub(crate) metadata_entries: usize,
    pub(crate) head_deadline: Duration,
    pub(crate) merge_gap: u64,
    pub(crate) max_gets: usize,
    pub(crate) resumes: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            metadata_ttl: DEFAULT_METADATA_TTL,
            metadata_entries: DEFAULT_METADATA_ENTRIES,
            head_deadline: DEFAULT_HEAD_DEADLINE,
            merge_gap: DEFAULT_MERGE_GAP,
            max_gets: DEFAULT_MAX_GETS,
            resumes: DEFAULT_RESUMES,
        }
    }
}

impl StoreOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long an object's metadata (from `HEAD`) is reused before it is asked again
    /// (default 5 s). Zero asks on every request. A replaced object is seen within this
    /// time; a response planned from stale metadata is never served with the new bytes (its
    /// GET carries `If-Match`, and the request is planned again from fresh metadata).
    pub fn metadata_ttl(mut self, ttl: Duration) -> Self {
        self.metadata_ttl = ttl;
        self
    }

    /// The most objects whose metadata is kept (default 10,000); at least 1.
    pub fn metadata_entries(mut self, entries: usize) -> Self {
        self.metadata_entries = entries.max(1);
        self
    }

    /// How long the store may take to answer before the response head is sent: its `HEAD`
    /// and the first GET's head together, retries included (default 10 s). Past it the
    /// answer is `504`.
    pub fn head_deadline(mut self, deadline: Duration) -> Self {
        self.head_deadline = deadline;
        self
    }

    /// Parts of a multipart answer at most this many bytes apart are fetched by one GET
    /// spanning them, the gap read and dropped (default 64 KiB).
    pub fn merge_gap(mut self, gap: u64) -> Self {
        self.merge_gap = gap;
        self
    }

    /// The most GETs one answer starts, not counting resumptions (default 4, at least 1):
    /// past it the closest groups of parts are merged, so a 64-range request never costs 64
    /// billed GETs.
    pub fn max_gets(mut self, gets: usize) -> Self {
        self.max_gets = gets.max(1);
        self
    }

    /// How many times a body resumes a GET that failed mid-stream, from the next byte and
    /// with `If-Match` on the same ETag, before the response is cut (default 3; 0 never).
    pub fn resumes(mut self, resumes: u32) -> Self {
        self.resumes = resumes;
        self
    }
}
