//! Object metadata from `HEAD`, reused for a short time: one `HEAD` per key per TTL, even
//! when many requests for a key arrive at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use object_store::path::Path;
use object_store::ObjectMeta;
use tokio::sync::OnceCell;

use super::Version;

/// The metadata of recently asked keys, each for `ttl`, at most `entries` of them.
///
/// An entry is a cell that the first request for a key fills with its `HEAD`; requests that
/// arrive meanwhile wait for that answer instead of sending their own. A failed `HEAD`
/// leaves the cell empty, so the next request asks again (a miss is not remembered: a key
/// uploaded a moment later is served at once).
#[derive(Debug)]
pub(crate) struct MetadataCache {
    ttl: Duration,
    entries: usize,
    map: Mutex<HashMap<Path, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    created: Instant,
    cell: Arc<OnceCell<Arc<Version>>>,
}

impl MetadataCache {
    pub(crate) fn new(ttl: Duration, entries: usize) -> Self {
        Self {
            ttl,
            entries: entries.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The metadata of `key`: remembered, or from `head` (called at most once per key and
    /// TTL while it succeeds).
    pub(crate) async fn get<F, Fut, E>(&self, key: &Path, head: F) -> Result<Arc<Version>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<Version>, E>>,
    {
        if self.ttl.is_zero() {
            return head().await;
        }
        let cell = self.cell(key);
        cell.get_or_try_init(head).await.cloned()
    }

    /// Forgets `key` if what is remembered is `stale` (the version a GET found gone), so that
    /// the next request asks the store again.
    pub(crate) fn forget(&self, key: &Path, stale: &ObjectMeta) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let remembered = map.get(key).and_then(|entry| entry.cell.get());
        if remembered.is_none_or(|version| {
            version.meta.e_tag == stale.e_tag && version.meta.version == stale.version
        }) {
            map.remove(key);
        }
    }

    /// The live cell for `key`, made anew when there is none or it is older than the TTL.
    fn cell(&self, key: &Path) -> Arc<OnceCell<Arc<Version>>> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get(key) {
            if now.duration_since(entry.created) < self.ttl {
                return entry.cell.clone();
            }
        }
        if map.len() >= self.entries && !map.contains_key(key) {
            // Full: drop what has expired; if nothing has, any one entry (a cache this size
            // is meant for the hot set, and a miss costs one HEAD).
            map.retain(|_, entry| now.duration_since(entry.created) < self.ttl);
            if map.len() >= self.entries {
                if let Some(victim) = map.keys().next().cloned() {
                    map.remove(&victim);
                }
            }
        }
        let entry = Entry {
            created: now,
            cell: Arc::new(OnceCell::new()),
        };
        map.insert(key.clone(), entry.clone());
        entry.cell
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn meta(key: &str, e_tag: &str) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(key),
            last_modified: Default::default(),
            size: 10,
            e_tag: Some(e_tag.to_owned()),
            version: None,
        }
    }

    /// The version the cache keeps for a `HEAD` that found `meta(key, e_tag)`.
    fn version(key: &str, e_tag: &str) -> Arc<Version> {
        Arc::new(Version {
            meta: meta(key, e_tag),
            metadata: crate::Metadata::new(10),
        })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn a_key_is_asked_once_per_ttl_even_by_concurrent_requests() {
        runtime().block_on(async {
            let cache = MetadataCache::new(Duration::from_secs(5), 10);
            let heads = AtomicUsize::new(0);
            let key = Path::from("a");
            let head = || async {
                heads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok::<_, ()>(version("a", "1"))
            };
            let (a, b) = tokio::join!(cache.get(&key, head), cache.get(&key, head));
            assert_eq!(
                (a.unwrap().meta.e_tag.clone(), b.unwrap().meta.e_tag.clone()),
                (Some("1".into()), Some("1".into()))
            );
            assert_eq!(heads.load(Ordering::SeqCst), 1);
            tokio::time::advance(Duration::from_secs(4)).await;
            cache.get(&key, head).await.unwrap();
            assert_eq!(heads.load(Ordering::SeqCst), 1);
            tokio::time::advance(Duration::from_secs(2)).await;
            cache.get(&key, head).await.unwrap();
            assert_eq!(heads.load(Ordering::SeqCst), 2);
        });
    }

    #[test]
    fn a_failed_head_is_not_remembered_and_a_zero_ttl_always_asks() {
        runtime().block_on(async {
            let cache = MetadataCache::new(Duration::from_secs(5), 10);
            let key = Path::from("a");
            assert!(cache
                .get(&key, || async { Err::<Arc<Version>, _>(()) })
                .await
                .is_err());
            let found = cache
                .get(&key, || async { Ok::<_, ()>(version("a", "2")) })
                .await;
            assert_eq!(found.unwrap().meta.e_tag.as_deref(), Some("2"));
            let uncached = MetadataCache::new(Duration::ZERO, 10);
            let heads = AtomicUsize::new(0);
            for _ in 0..3 {
                uncached
                    .get(&key, || async {
                        heads.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(version("a", "3"))
                    })
                    .await
                    .unwrap();
            }
            assert_eq!(heads.load(Ordering::SeqCst), 3);
        });
    }

    #[test]
    fn a_stale_version_is_forgotten_and_a_newer_one_kept() {
        runtime().block_on(async {
            let cache = MetadataCache::new(Duration::from_secs(5), 10);
            let key = Path::from("a");
            cache
                .get(&key, || async { Ok::<_, ()>(version("a", "old")) })
                .await
                .unwrap();
            cache.forget(&key, &meta("a", "other"));
            let kept = cache
                .get(&key, || async { Ok::<_, ()>(version("a", "new")) })
                .await;
            assert_eq!(kept.unwrap().meta.e_tag.as_deref(), Some("old"));
            cache.forget(&key, &meta("a", "old"));
            let fresh = cache
                .get(&key, || async { Ok::<_, ()>(version("a", "new")) })
                .await;
            assert_eq!(fresh.unwrap().meta.e_tag.as_deref(), Some("new"));
        });
    }

    #[test]
    fn the_cache_never_holds_more_than_its_entries() {
        runtime().block_on(async {
            let cache = MetadataCache::new(Duration::from_secs(5), 3);
            for i in 0..10 {
                let key = Path::from(format!("k{i}"));
                cache
                    .get(&key, || async { Ok::<_, ()>(version("k", "1")) })
                    .await
                    .unwrap();
                assert!(cache.len() <= 3);
            }
        });
    }
}
