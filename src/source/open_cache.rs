//! The open-file cache (nginx's `open_file_cache`): the handles and metadata of hot files kept
//! for a short time, so that a request for a file opened moments ago skips the path walk,
//! the open and the close.
//!
//! A cached handle is revalidated on every request with one `fstat`: a file written in place,
//! truncated, deleted, or replaced by a rename (the old inode's link count drops to zero, its
//! change time moves) is opened afresh at once. What `fstat` of the old handle cannot see —
//! the path now leading elsewhere while the old file keeps a link (a parent directory renamed,
//! a symlink retargeted) — is seen when the entry expires, at most `window` after the open.
//!
//! On a network file system the client may answer `fstat` from its attribute cache, and the
//! open the cache saves is where NFS revalidates (close-to-open consistency): a change made
//! from another machine can then be seen up to the attribute timeout late. Off Unix there is
//! no link count to watch, so the services keep no cache there.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::handle::OpenHandle;
use crate::metadata::Metadata;

/// Handles of open files by path, each kept for at most `window` after its open.
///
/// A handle carries no request's resources: each request reads it under its own service's
/// blocking limit and buffer pool.
#[derive(Debug, Clone)]
pub(crate) struct OpenFileCache {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    window: Duration,
    max_files: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug)]
struct Entries {
    by_path: HashMap<Arc<Path>, Entry>,
    /// When expired entries were last closed: at most once per `window`, on a miss.
    swept: Instant,
}

#[derive(Debug)]
struct Entry {
    opened: Instant,
    metadata: Metadata,
    handle: Arc<OpenHandle>,
}

impl OpenFileCache {
    /// A cache of at most `max_files` handles (at least one), each for at most `window`.
    pub(crate) fn new(window: Duration, max_files: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                window,
                max_files: max_files.max(1),
                entries: Mutex::new(Entries {
                    by_path: HashMap::new(),
                    swept: Instant::now(),
                }),
            }),
        }
    }

    /// An empty cache with the same window and size: for a resolver whose walk rules
    /// changed, so that it never serves a handle opened under other rules.
    pub(crate) fn fresh(&self) -> Self {
        Self::new(self.shared.window, self.shared.max_files)
    }

    /// The handle and metadata cached for `path`, if opened less than `window` ago. Not yet
    /// revalidated: the caller checks [`OpenHandle::is_current`] and
    /// [`forget`](Self::forget)s a stale one.
    pub(crate) fn get(&self, path: &Path) -> Option<(Metadata, Arc<OpenHandle>)> {
        let now = Instant::now();
        let mut entries = self.lock();
        let entry = entries.by_path.get(path)?;
        if now.saturating_duration_since(entry.opened) >= self.shared.window {
            let expired = entries.by_path.remove(path);
            drop(entries);
            // Closed outside the lock: closing a deleted file frees its blocks.
            drop(expired);
            return None;
        }
        Some((entry.metadata.clone(), entry.handle.clone()))
    }

    /// Drops the entry for `path` if it still holds `handle` (a newer open stays).
    pub(crate) fn forget(&self, path: &Path, handle: &Arc<OpenHandle>) {
        let mut entries = self.lock();
        let stale = match entries.by_path.get(path) {
            Some(entry) if Arc::ptr_eq(&entry.handle, handle) => entries.by_path.remove(path),
            _ => None,
        };
        drop(entries);
        drop(stale);
    }

    /// Keeps `handle` and `metadata`, just opened, for `path`.
    pub(crate) fn insert(&self, path: Arc<Path>, metadata: Metadata, handle: Arc<OpenHandle>) {
        let now = Instant::now();
        let window = self.shared.window;
        // What leaves the cache is closed after the lock is let go (see `get`).
        let mut closing = Vec::new();
        let mut entries = self.lock();
        // Expired entries hold handles (and a deleted file's blocks) until closed: close them
        // on a miss, at most once a window, so a miss costs a sweep rarely.
        if now.saturating_duration_since(entries.swept) >= window {
            let expired: Vec<Arc<Path>> = entries
                .by_path
                .iter()
                .filter(|(_, entry)| now.saturating_duration_since(entry.opened) >= window)
                .map(|(path, _)| path.clone())
                .collect();
            for path in expired {
                closing.extend(entries.by_path.remove(&path));
            }
            entries.swept = now;
        }
        if entries.by_path.len() >= self.shared.max_files && !entries.by_path.contains_key(&path) {
            // Full of live entries: make room by dropping any one (the map's order is
            // arbitrary), which bounds the work of a miss; a hot file evicted is reopened on
            // its next request.
            if let Some(victim) = entries.by_path.keys().next().cloned() {
                closing.extend(entries.by_path.remove(&victim));
            }
        }
        let entry = Entry {
            opened: now,
            metadata,
            handle,
        };
        closing.extend(entries.by_path.insert(path, entry));
        drop(entries);
        drop(closing);
    }

    /// How many handles are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_path.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map stays consistent across a panic in another holder: every change is one call.
        self.shared
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::read::SourceReader;
    use crate::resolve::{Opened, Source};
    use crate::resources::Resources;
    use crate::source::{FileReader, FileSource};

    /// A fresh directory of this test's own.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tower-range-open-cache-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    async fn open(source: &FileSource) -> Opened<FileReader> {
        source.open(&Resources::global()).await.unwrap()
    }

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_hot_file_is_opened_once_and_its_handle_shared() {
        let path = temp_dir("hot").join("a.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let source = FileSource::new(&path).open_file_cache(LONG);
        let first = open(&source).await;
        let second = open(&source).await;
        assert!(Arc::ptr_eq(first.reader.handle(), second.reader.handle()));
        assert_eq!(first.metadata, second.metadata);
        assert_eq!(second.reader.read_at(2, 3).await.unwrap(), "234");
        // Without the cache every request opens its own handle.
        let uncached = FileSource::new(&path);
        let (a, b) = (open(&uncached).await, open(&uncached).await);
        assert!(!Arc::ptr_eq(a.reader.handle(), b.reader.handle()));
    }

    #[tokio::test]
    async fn a_file_replaced_by_a_rename_is_opened_afresh_at_once() {
        let dir = temp_dir("renamed");
        let path = dir.join("a.bin");
        std::fs::write(&path, b"old bytes").unwrap();
        let source = FileSource::new(&path).open_file_cache(LONG);
        let before = open(&source).await;
        std::fs::write(dir.join("next"), b"new bytes!").unwrap();
        std::fs::rename(dir.join("next"), &path).unwrap();
        let after = open(&source).await;
        assert!(!Arc::ptr_eq(before.reader.handle(), after.reader.handle()));
        assert_ne!(before.metadata.etag(), after.metadata.etag());
        assert_eq!(after.reader.read_at(0, 10).await.unwrap(), "new bytes!");
    }

    #[tokio::test]
    async fn a_file_written_in_place_is_opened_afresh_at_once() {
        let path = temp_dir("written").join("a.bin");
        std::fs::write(&path, b"0123").unwrap();
        let source = FileSource::new(&path).open_file_cache(LONG);
        let before = open(&source).await;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut file, b"4567").unwrap();
        let after = open(&source).await;
        assert!(!Arc::ptr_eq(before.reader.handle(), after.reader.handle()));
        assert_eq!(after.metadata.len(), 8);
    }

    #[tokio::test]
    async fn a_deleted_file_is_a_miss_at_once() {
        let path = temp_dir("deleted").join("a.bin");
        std::fs::write(&path, b"0123").unwrap();
        let source = FileSource::new(&path).open_file_cache(LONG);
        let _ = open(&source).await;
        std::fs::remove_file(&path).unwrap();
        let after = source.open(&Resources::global()).await;
        assert_eq!(
            after.err().map(|e| e.kind()),
            Some(crate::OpenErrorKind::NotFound)
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_renamed_directory_is_seen_when_the_window_ends() {
        use crate::dir::DirResolver;
        use crate::resolve::Resolver;
        let root = temp_dir("window");
        std::fs::create_dir(root.join("show")).unwrap();
        std::fs::write(root.join("show/a.bin"), b"first").unwrap();
        let window = Duration::from_millis(300);
        let resolver = DirResolver::new(&root).unwrap().open_file_cache(window, 16);
        let request = http::Request::get("/show/a.bin").body(()).unwrap();
        let (parts, ()) = request.into_parts();
        let resources = Resources::global();
        let read = |opened: Opened<FileReader>| async move {
            let len = opened.metadata.len() as usize;
            opened.reader.read_at(0, len).await.unwrap()
        };
        assert_eq!(
            read(resolver.resolve(&parts, &resources).await.unwrap()).await,
            "first"
        );
        // The file itself is untouched, so its handle stays current: the path now leads to
        // another file, which the cache sees only when the entry expires.
        std::fs::rename(root.join("show"), root.join("old")).unwrap();
        std::fs::create_dir(root.join("show")).unwrap();
        std::fs::write(root.join("show/a.bin"), b"second").unwrap();
        assert_eq!(
            read(resolver.resolve(&parts, &resources).await.unwrap()).await,
            "first"
        );
        tokio::time::sleep(window + Duration::from_millis(50)).await;
        assert_eq!(
            read(resolver.resolve(&parts, &resources).await.unwrap()).await,
            "second"
        );
    }

    #[tokio::test]
    async fn the_cache_holds_at_most_max_files_handles() {
        let dir = temp_dir("bounded");
        let cache = OpenFileCache::new(LONG, 2);
        for name in ["a", "b", "c", "d"] {
            let path = dir.join(name);
            std::fs::write(&path, name).unwrap();
            let opened = open(&FileSource::new(&path)).await;
            cache.insert(
                path.as_path().into(),
                opened.metadata,
                opened.reader.handle().clone(),
            );
            assert!(cache.len() <= 2);
        }
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test]
    async fn expired_entries_are_closed_on_a_later_miss() {
        let dir = temp_dir("swept");
        let cache = OpenFileCache::new(Duration::from_millis(100), 100);
        let insert = |name: &str| {
            let path = dir.join(name);
            std::fs::write(&path, name).unwrap();
            let cache = cache.clone();
            async move {
                let opened = open(&FileSource::new(&path)).await;
                cache.insert(
                    path.as_path().into(),
                    opened.metadata,
                    opened.reader.handle().clone(),
                );
            }
        };
        insert("a").await;
        insert("b").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        insert("c").await;
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn forgetting_a_stale_handle_keeps_a_newer_one() {
        let path = temp_dir("newer").join("a.bin");
        std::fs::write(&path, b"0123").unwrap();
        let cache = OpenFileCache::new(LONG, 10);
        let (old, new) = (
            open(&FileSource::new(&path)).await,
            open(&FileSource::new(&path)).await,
        );
        let key: Arc<Path> = path.as_path().into();
        cache.insert(key.clone(), old.metadata, old.reader.handle().clone());
        // Another request opened the file again meanwhile and put its handle in.
        cache.insert(key.clone(), new.metadata, new.reader.handle().clone());
        cache.forget(&key, old.reader.handle());
        let (_, kept) = cache.get(&key).expect("the newer handle");
        assert!(Arc::ptr_eq(&kept, new.reader.handle()));
    }

    #[tokio::test]
    async fn a_zero_window_keeps_nothing() {
        let path = temp_dir("zero").join("a.bin");
        std::fs::write(&path, b"0123").unwrap();
        let source = FileSource::new(&path).open_file_cache(Duration::ZERO);
        let (a, b) = (open(&source).await, open(&source).await);
        assert!(!Arc::ptr_eq(a.reader.handle(), b.reader.handle()));
    }
}
