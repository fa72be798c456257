//! Reading an object region by region: one ranged GET per group of regions, each carrying
//! `If-Match` (and the version id where the store has one), so that no byte of another
//! version reaches a response.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_core::stream::BoxStream;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult};
use tokio::time::Instant;

use super::errors::{open_error, timed_out};
use super::groups::spans;
use super::region_bytes::{ObjectFrames, RegionBytes};
use super::{Shared, Version};
use crate::range::Region;
use crate::read::{ReadConfig, RegionReader, Regions, StreamFrames};
use crate::OpenError;

/// A GET on its way: its answer, or the store's error.
pub(crate) type PendingGet =
    Pin<Box<dyn Future<Output = Result<GetResult, object_store::Error>> + Send>>;

/// Reads the regions of one version of one object ([`RegionReader`] for the store sources).
///
/// Each region's frames come from a ranged GET: the GET started for the answer's first group
/// of regions before the head was sent, later groups when the body reaches them. A GET whose
/// span covers the next region too is read on into it, the bytes between dropped.
#[derive(Debug, Clone)]
pub struct ObjectReader {
    shared: Arc<Shared>,
    location: Path,
    version: Arc<Version>,
    /// Until when the first GET's head may take (the answer's head waits for it).
    deadline: Instant,
    state: Arc<Mutex<ReadState>>,
}

/// What the regions of one answer share: the spans GETs fetch, the GET left open by the
/// region before, and how many resumptions remain.
#[derive(Debug, Default)]
pub(crate) struct ReadState {
    spans: Vec<Region>,
    open: Option<OpenGet>,
    pub(crate) resumes_left: u32,
}

/// A GET being read: its stream, the offset of its next byte (the first of `leftover` when
/// that is not empty) and where its span ends.
pub(crate) struct OpenGet {
    pub(crate) stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
    pub(crate) at: u64,
    pub(crate) leftover: Bytes,
    pub(crate) end: u64,
}

impl std::fmt::Debug for OpenGet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenGet")
            .field("at", &self.at)
            .field("leftover", &self.leftover.len())
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl ObjectReader {
    pub(crate) fn new(
        shared: Arc<Shared>,
        location: Path,
        version: Arc<Version>,
        deadline: Instant,
    ) -> Self {
        let resumes_left = shared.options.resumes;
        Self {
            shared,
            location,
            version,
            deadline,
            state: Arc::new(Mutex::new(ReadState {
                resumes_left,
                ..ReadState::default()
            })),
        }
    }

    /// A ranged GET of `from..end` of this version: `If-Match` on its ETag, pinned to its
    /// version id where the store has one.
    pub(crate) fn get(&self, from: u64, end: u64, resumed: bool) -> PendingGet {
        self.shared.stats.get_sent(resumed);
        let options = GetOptions {
            if_match: self.version.meta.e_tag.clone(),
            version: self.version.meta.version.clone(),
            range: Some(GetRange::Bounded(from..end)),
            ..GetOptions::default()
        };
        let store = self.shared.store.clone();
        let location = self.location.clone();
        Box::pin(async move { store.get_opts(&location, options).await })
    }

    /// The span the GET for `region` fetches: the planned one that holds it, else the
    /// region alone.
    pub(crate) fn span_of(&self, region: Region) -> Region {
        let state = self.lock();
        state
            .spans
            .iter()
            .find(|span| span.start() <= region.start() && region.end() <= span.end())
            .copied()
            .unwrap_or(region)
    }

    /// The GET the region before left open, if it can be read on into `region`.
    pub(crate) fn take_open(&self, region: Region) -> Option<OpenGet> {
        let open = self.lock().open.take()?;
        (open.at <= region.start() && region.end() <= open.end).then_some(open)
    }

    /// Leaves `open` for the next region.
    pub(crate) fn put_open(&self, open: OpenGet) {
        self.lock().open = Some(open);
    }

    /// Takes one resumption, if any is left.
    pub(crate) fn take_resume(&self) -> bool {
        let mut state = self.lock();
        let left = state.resumes_left > 0 && self.version.meta.e_tag.is_some();
        state.resumes_left -= u32::from(left);
        left
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ReadState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RegionReader for ObjectReader {
    type Frames = ObjectFrames;

    fn read_region(&self, region: Region, config: &ReadConfig) -> ObjectFrames {
        let upstream = RegionBytes::new(self.clone(), region);
        ObjectFrames::new(
            StreamFrames::new(upstream, region, config),
            self.shared.stats.clone(),
        )
    }

    /// Groups the regions into spans and starts the first span's GET, so that its answer
    /// (the version gone, the key deleted, the store down) decides the status.
    async fn prepare(&self, regions: Regions<'_>, _config: &ReadConfig) -> Result<(), OpenError> {
        let options = &self.shared.options;
        let spans = spans(regions, options.merge_gap, options.max_gets);
        let Some(&first) = spans.first() else {
            return Ok(());
        };
        self.lock().spans = spans;
        let get = self.get(first.start(), first.end(), false);
        let result = match tokio::time::timeout_at(self.deadline, get).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => {
                let error = open_error(error);
                if error.kind() == crate::OpenErrorKind::NotFound {
                    // Deleted since its metadata was read: planned again, from a fresh HEAD.
                    self.shared.cache.forget(&self.location, &self.version.meta);
                    return Err(OpenError::new(crate::OpenErrorKind::Changed, error));
                }
                if error.kind() == crate::OpenErrorKind::Changed {
                    self.shared.cache.forget(&self.location, &self.version.meta);
                }
                return Err(error);
            }
            Err(_) => return Err(timed_out()),
        };
        self.put_open(OpenGet {
            stream: result.into_stream(),
            at: first.start(),
            leftover: Bytes::new(),
            end: first.end(),
        });
        Ok(())
    }
}
