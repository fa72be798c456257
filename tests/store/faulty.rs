//! A store for the tests: `object_store`'s in-memory store, with GET bodies delivered in small
//! chunks (as a network client delivers them), every request counted, and faults to switch
//! on: a GET body cut after some bytes, a store that hangs, fails or refuses access.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tower_range::store::object_store::memory::InMemory;
use tower_range::store::object_store::path::Path;
use tower_range::store::object_store::{
    self, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// What the store does to the next requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The next `count` GET bodies end with an error after `after` bytes.
    CutBody {
        after: u64,
        count: usize,
    },
    /// Every request waits forever.
    Hang,
    /// Every request fails as a store does after its retries (a 5xx).
    Fail,
    /// Every request is refused (403).
    Deny,
}

/// Counts of what the store was asked.
#[derive(Debug, Default)]
pub struct Counts {
    pub heads: AtomicUsize,
    pub gets: AtomicUsize,
    /// The ranges of the GETs, in order.
    pub ranges: Mutex<Vec<Range<u64>>>,
    /// The `If-Match` of the GETs, in order.
    pub if_matches: Mutex<Vec<Option<String>>>,
    pub bytes_sent: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct FaultyStore {
    inner: Arc<InMemory>,
    chunk: usize,
    fault: Arc<Mutex<Fault>>,
    pub counts: Arc<Counts>,
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore")
    }
}

impl FaultyStore {
    /// Bodies delivered in chunks of `chunk` bytes.
    pub fn new(chunk: usize) -> Self {
        Self {
            inner: Arc::new(InMemory::new()),
            chunk,
            fault: Arc::new(Mutex::new(Fault::None)),
            counts: Arc::default(),
        }
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) {
        self.inner
            .put_opts(&Path::from(key), bytes.into(), PutOptions::default())
            .await
            .unwrap();
    }

    pub fn heads(&self) -> usize {
        self.counts.heads.load(Ordering::SeqCst)
    }

    pub fn gets(&self) -> usize {
        self.counts.gets.load(Ordering::SeqCst)
    }

    pub fn ranges(&self) -> Vec<Range<u64>> {
        self.counts.ranges.lock().unwrap().clone()
    }

    pub fn if_matches(&self) -> Vec<Option<String>> {
        self.counts.if_matches.lock().unwrap().clone()
    }

    /// The fault for this request; a counted cut is taken only by a GET body that comes
    /// (`take`), not by a GET that fails its precondition.
    fn fault_now(&self, take: bool) -> Fault {
        let mut fault = self.fault.lock().unwrap();
        match fault.clone() {
            Fault::CutBody { .. } if !take => Fault::None,
            Fault::CutBody { after, count } => {
                *fault = match count {
                    0 | 1 => Fault::None,
                    n => Fault::CutBody {
                        after,
                        count: n - 1,
                    },
                };
                Fault::CutBody { after, count: 1 }
            }
            other => other,
        }
    }
}

fn generic(message: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: message.to_owned().into(),
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let head = options.head;
        match head {
            true => self.counts.heads.fetch_add(1, Ordering::SeqCst),
            false => self.counts.gets.fetch_add(1, Ordering::SeqCst),
        };
        match self.fault_now(false) {
            Fault::Hang => std::future::pending::<()>().await,
            Fault::Fail => return Err(generic("503 Service Unavailable after retries")),
            Fault::Deny => {
                return Err(object_store::Error::PermissionDenied {
                    path: location.to_string(),
                    source: "AccessDenied".into(),
                })
            }
            Fault::None | Fault::CutBody { .. } => {}
        }
        if !head {
            self.counts
                .if_matches
                .lock()
                .unwrap()
                .push(options.if_match.clone());
        }
        let mut result = self.inner.get_opts(location, options).await?;
        if head {
            return Ok(result);
        }
        self.counts
            .ranges
            .lock()
            .unwrap()
            .push(result.range.clone());
        let GetResultPayload::Stream(stream) = result.payload;
        let chunk = self.chunk;
        let counts = self.counts.clone();
        let fault = self.fault_now(true);
        let cut_after = match fault {
            Fault::CutBody { after, .. } => Some(after),
            _ => None,
        };
        // Re-split into small chunks (slices, no copies), cut where the fault says.
        let chunks = stream
            .flat_map(move |item| {
                let pieces: Vec<object_store::Result<Bytes>> = match item {
                    Ok(bytes) => (0..bytes.len())
                        .step_by(chunk)
                        .map(|at| Ok(bytes.slice(at..(at + chunk).min(bytes.len()))))
                        .collect(),
                    Err(error) => vec![Err(error)],
                };
                futures_util::stream::iter(pieces)
            })
            .scan(0u64, move |sent, item| {
                let item = match (item, cut_after) {
                    (Ok(bytes), Some(after)) if *sent + bytes.len() as u64 > after => {
                        Err(generic("connection reset mid-body"))
                    }
                    (item, _) => item,
                };
                if let Ok(bytes) = &item {
                    *sent += bytes.len() as u64;
                    counts
                        .bytes_sent
                        .fetch_add(bytes.len() as u64, Ordering::SeqCst);
                }
                let end = item.is_err();
                std::future::ready(Some((item, end)))
            })
            // An error ends the body, as a cut connection does.
            .scan(false, |ended, (item, end)| {
                let out = (!*ended).then_some(item);
                *ended = end;
                std::future::ready(out)
            });
        result.payload = GetResultPayload::Stream(chunks.boxed());
        Ok(result)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
