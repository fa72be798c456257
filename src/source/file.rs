use std::fs::File;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;

use super::blocking::{BlockingLimit, BlockingTask};
use super::handle::OpenHandle;
use super::open::{open_regular, Attempt, Opened as OpenedFile, Walk};
use super::open_cache::OpenFileCache;
use super::pool::{Buffer, BufferPool};
use super::stamp::Stamp;
use crate::content_type::content_type_for_path;
use crate::metadata::Metadata;
use crate::open_error::{OpenError, OpenErrorKind};
use crate::read::SourceReader;
use crate::resolve::{Opened, Source};
use crate::resources::Resources;
use crate::Error;

/// Serves one local file.
///
/// Every request opens the file and reads its metadata on tokio's blocking pool (unless
/// [`open_file_cache`](Self::open_file_cache) keeps it open between requests); every read
/// is one positional read (`pread`) there too, into a buffer the body owns, so async worker
/// threads never block on the disk; a [`BlockingLimit`] caps how many of these run at once.
/// On Linux, what the kernel can serve from its caches without waiting is done on the async
/// thread instead (see [`FileSource::inline_io`]). Frames are read into recycled buffers.
/// The version token is the device, inode, size and
/// modification time to the nanosecond (size and modification time off Unix).
///
/// After each read, the reader checks the open file's metadata against what the response
/// headers promised (size, modification time and, on Unix, change time) and fails with
/// [`ErrorKind::Modified`](crate::ErrorKind::Modified) if it differs. A file that is deleted,
/// or replaced by a rename, keeps its old inode behind the open handle; its change time moves
/// (its link count drops to zero) but its bytes cannot, so such a response completes with the
/// old version. Change detection relies on the file system's timestamps: a write within the
/// same timestamp tick that keeps the size is not visible to `fstat`.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// Shared, so that a request clones a pointer rather than the path.
    path: Arc<Path>,
    content_type: HeaderValue,
    inline_io: bool,
    /// Set once a miss has been logged at `WARN`, cleared by the next successful open.
    warned: Arc<AtomicBool>,
    open_cache: Option<OpenFileCache>,
}

impl FileSource {
    /// A source for the file at `path`, typed by its extension
    /// (see [`content_type_for_path`](crate::content_type_for_path)).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path: PathBuf = path.into();
        let content_type = content_type_for_path(&path);
        Self {
            path: path.into(),
            content_type,
            inline_io: cfg!(target_os = "linux"),
            warned: Arc::new(AtomicBool::new(false)),
            open_cache: None,
        }
    }

    /// Whether to open and read on the async thread what the kernel can serve from its caches
    /// (default: on, Linux only). Opens use `openat2` with `RESOLVE_CACHED` and reads
    /// `preadv2` with `RWF_NOWAIT`: both fail rather than wait for a disk, and then the work
    /// goes to the blocking pool as it does with this off. It saves two thread hand-offs per
    /// request and one per frame for hot files. Turn it off for network file systems, whose
    /// metadata calls may wait on the network even when their data is cached.
    pub fn inline_io(mut self, enabled: bool) -> Self {
        self.inline_io = enabled && cfg!(target_os = "linux");
        self
    }

    /// Keeps the file open between requests, for at most `window` after each open (nginx's
    /// `open_file_cache`; default off, and `Duration::ZERO` turns it off): a request then
    /// costs one `fstat` of the held handle instead of an open, an `fstat` and a close.
    ///
    /// That `fstat` revalidates the handle on every request: a file written in place,
    /// truncated, deleted or replaced by a rename is opened afresh at once. Only a change
    /// that leaves the old file intact and linked — a parent directory renamed, a symlink on
    /// the path retargeted — is seen up to `window` late. The handle of a file deleted while
    /// nothing asks for it stays open, and its blocks allocated, until the next request. On a
    /// network file system `fstat` may come from the client's attribute cache, so a change
    /// made from another machine can be seen up to its attribute timeout late. Unix only:
    /// elsewhere this keeps nothing.
    pub fn open_file_cache(mut self, window: Duration) -> Self {
        // Off Unix no link count tells a deleted or renamed-over file: no cache there.
        self.open_cache = (!window.is_zero() && cfg!(unix)).then(|| OpenFileCache::new(window, 1));
        self
    }

    /// The path served.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Source for FileSource {
    type Reader = FileReader;

    fn open(
        &self,
        resources: &Resources,
    ) -> impl Future<Output = Result<Opened<FileReader>, OpenError>> + Send {
        let path = self.path.clone();
        let warned = self.warned.clone();
        let opening = {
            let path = path.clone();
            let cached = self.open_cache.clone().map(|cache| (cache, path.clone()));
            open_file(
                move |walk| open_regular(&path, walk),
                self.content_type.clone(),
                self.inline_io,
                resources,
                cached,
            )
        };
        async move {
            let opened = opening.await;
            match &opened {
                // Read first: a shared flag written on every request would bounce its cache
                // line between the threads that serve it.
                Ok(_) if warned.load(Ordering::Relaxed) => warned.store(false, Ordering::Relaxed),
                Ok(_) => {}
                // A configured path that cannot be served (missing, forbidden, not a file) is
                // a misconfiguration: say so once, loudly, rather than on every request or
                // only at DEBUG. I/O failures are logged by the pipeline every time.
                Err(error) if error.kind().is_miss() && !warned.swap(true, Ordering::Relaxed) => {
                    tracing::warn!(%error, path = %path.display(), "cannot serve the file");
                }
                Err(_) => {}
            }
            opened
        }
    }
}

/// Opens a regular file with `open` and describes it: first inline with [`Walk::Cached`]
/// when `inline_io` allows, else (or when that would wait) with [`Walk::Blocking`] on the
/// blocking pool under the resources' limit. With `cached`, a handle the cache holds for the
/// path and that is still current is used instead, and a new one is kept there.
pub(crate) fn open_file<F>(
    open: F,
    content_type: HeaderValue,
    inline_io: bool,
    resources: &Resources,
    cached: Option<(OpenFileCache, Arc<Path>)>,
) -> impl Future<Output = Result<Opened<FileReader>, OpenError>> + Send
where
    F: Fn(Walk) -> Attempt<Result<OpenedFile, OpenError>> + Send + 'static,
{
    let limit = resources.blocking_limit().clone();
    let pool = resources.buffer_pool().clone();
    async move {
        if let Some((cache, path)) = &cached {
            if let Some((metadata, handle)) = cache.get(path) {
                // `fstat` of an open handle waits on no disk; on a network file system
                // (inline I/O off) it may wait on the server, so it goes to the pool there.
                let current = match inline_io {
                    true => handle.is_current(),
                    false => {
                        let check = handle.clone();
                        limit.run(move || check.is_current()).await.unwrap_or(false)
                    }
                };
                if current {
                    // This request's limit and pool, whoever opened the handle.
                    return Ok(Opened::new(metadata, FileReader::new(handle, limit, pool)));
                }
                cache.forget(path, &handle);
            }
        }
        let inline = match inline_io {
            true => open(Walk::Cached),
            false => Attempt::Unsupported,
        };
        let (file, meta) = match inline {
            Attempt::Done(opened) => opened?,
            Attempt::WouldBlock | Attempt::Unsupported => {
                match limit.run(move || open(Walk::Blocking)).await {
                    Ok(Attempt::Done(opened)) => opened?,
                    Ok(_) => return Err(OpenErrorKind::Other.into()),
                    Err(error) => return Err(OpenError::new(OpenErrorKind::Other, error)),
                }
            }
        };
        let stamp = Stamp::of(&meta);
        let (token, used) = stamp.version_token();
        let mut metadata = Metadata::new(stamp.len)
            .with_version(&token[..used])
            .with_content_type(content_type);
        if let Some(modified) = stamp.modified {
            metadata = metadata.with_modified(modified);
        }
        let handle = Arc::new(OpenHandle::new(file, stamp, inline_io));
        if let Some((cache, path)) = cached {
            cache.insert(path, metadata.clone(), handle.clone());
        }
        Ok(Opened::new(metadata, FileReader::new(handle, limit, pool)))
    }
}

impl FileSource {
    /// Checks, once and blocking, that the path can be served now: a regular file that can be
    /// opened for reading. For start-up, so that a wrong path fails fast instead of answering
    /// `404` to every request; the service still opens the file per request.
    pub fn check(&self) -> Result<(), OpenError> {
        match open_regular(&self.path, Walk::Blocking) {
            Attempt::Done(opened) => opened.map(drop),
            Attempt::WouldBlock | Attempt::Unsupported => Err(OpenErrorKind::Other.into()),
        }
    }
}

/// Reads an open file with positional reads on tokio's blocking pool.
///
/// The file is closed when the reader and every read still running are dropped.
#[derive(Debug, Clone)]
pub struct FileReader {
    /// One pointer, so that a reader is cheap to clone for each region.
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    handle: Arc<OpenHandle>,
    limit: BlockingLimit,
    pool: BufferPool,
}

impl FileReader {
    /// Reads through `handle`, under this request's blocking limit, into its pool's buffers.
    fn new(handle: Arc<OpenHandle>, limit: BlockingLimit, pool: BufferPool) -> Self {
        Self {
            shared: Arc::new(Shared {
                handle,
                limit,
                pool,
            }),
        }
    }

    /// The open file this reader reads.
    #[cfg(test)]
    pub(crate) fn handle(&self) -> &Arc<OpenHandle> {
        &self.shared.handle
    }
}

impl SourceReader for FileReader {
    type Read = FileRead;

    fn read_at(&self, offset: u64, len: usize) -> FileRead {
        let mut buffer = self.shared.pool.take(len);
        if self.shared.handle.inline_io() {
            match self.shared.handle.read_cached(&mut buffer[..len], offset) {
                Some(Ok(())) => {
                    return FileRead {
                        state: ReadState::Done(Some(self.shared.checked(buffer, len))),
                    }
                }
                Some(Err(error)) => {
                    return FileRead {
                        state: ReadState::Done(Some(Err(error.into()))),
                    }
                }
                None => {}
            }
        }
        let shared = self.shared.clone();
        FileRead {
            state: ReadState::Blocking(self.shared.limit.run(move || {
                let filled = read_full_at(&shared.handle.file, &mut buffer[..len], offset)?;
                shared.checked(buffer, filled)
            })),
        }
    }

    fn held_by_read(&self, len: usize) -> usize {
        self.shared.pool.held_by(len)
    }
}

impl Shared {
    /// The first `filled` bytes of `buffer` as a frame, if the file still holds the version
    /// that was opened (checked after the read).
    fn checked(&self, buffer: Buffer, filled: usize) -> Result<Bytes, Error> {
        self.handle.check_unchanged()?;
        Ok(self.pool.freeze(buffer, filled))
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match positional_read(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(unix)]
fn positional_read(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn positional_read(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// The future of one [`FileReader`] read.
#[derive(Debug)]
pub struct FileRead {
    state: ReadState,
}

#[derive(Debug)]
enum ReadState {
    /// Read on the async thread, from the page cache.
    Done(Option<Result<Bytes, Error>>),
    /// Reading on the blocking pool.
    Blocking(BlockingTask<Result<Bytes, Error>>),
}

impl Future for FileRead {
    type Output = Result<Bytes, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            ReadState::Done(result) => {
                Poll::Ready(result.take().expect("FileRead polled after completion"))
            }
            ReadState::Blocking(task) => Poll::Ready(ready!(Pin::new(task).poll(cx))?),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn temp_file(name: &str, content: &[u8]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tower-range-file-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[tokio::test]
    async fn reads_are_positional_and_exact() {
        let path = temp_file("exact.bin", b"0123456789");
        let opened = FileSource::new(&path)
            .open(&Resources::global())
            .await
            .unwrap();
        assert_eq!(opened.metadata.len(), 10);
        assert_eq!(opened.reader.read_at(3, 4).await.unwrap(), "3456");
        assert_eq!(opened.reader.read_at(0, 2).await.unwrap(), "01");
        assert_eq!(opened.reader.read_at(8, 10).await.unwrap(), "89");
    }

    #[tokio::test]
    async fn a_missing_file_and_a_directory_are_not_found() {
        let missing = FileSource::new("/nonexistent/tower-range/x.mp4")
            .open(&Resources::global())
            .await;
        assert_eq!(missing.unwrap_err().kind(), OpenErrorKind::NotFound);
        let dir = FileSource::new(std::env::temp_dir())
            .open(&Resources::global())
            .await;
        assert_eq!(dir.unwrap_err().kind(), OpenErrorKind::NotRegularFile);
    }

    /// Collects what a test logs at `WARN` on its own thread.
    #[derive(Clone, Default)]
    struct Warnings(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Warnings {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Warnings {
        fn count(&self) -> usize {
            String::from_utf8_lossy(&self.0.lock().unwrap())
                .lines()
                .count()
        }
    }

    #[tokio::test]
    async fn a_missing_file_is_logged_once_at_warn_until_it_is_served_again() {
        let warnings = Warnings::default();
        let writer = warnings.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let path = temp_file("missing.bin", b"").with_file_name("not-there.bin");
        let source = FileSource::new(&path);
        for _ in 0..3 {
            let missing = source.open(&Resources::global()).await.unwrap_err();
            assert_eq!(missing.kind(), OpenErrorKind::NotFound);
        }
        assert_eq!(warnings.count(), 1);
        std::fs::write(&path, b"back").unwrap();
        source.open(&Resources::global()).await.unwrap();
        std::fs::remove_file(&path).unwrap();
        source.open(&Resources::global()).await.unwrap_err();
        source.open(&Resources::global()).await.unwrap_err();
        assert_eq!(warnings.count(), 2);
    }

    #[test]
    fn check_fails_fast_on_a_missing_path_and_a_directory() {
        let missing = FileSource::new("/nonexistent/tower-range/x.mp4").check();
        assert_eq!(missing.unwrap_err().kind(), OpenErrorKind::NotFound);
        let dir = FileSource::new(std::env::temp_dir()).check();
        assert_eq!(dir.unwrap_err().kind(), OpenErrorKind::NotRegularFile);
        let file = temp_file("checked.bin", b"x");
        FileSource::new(file).check().unwrap();
    }

    #[tokio::test]
    async fn a_file_grown_after_open_fails_the_next_read() {
        let path = temp_file("grown.bin", b"0123456789");
        let opened = FileSource::new(&path)
            .open(&Resources::global())
            .await
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more")
            .unwrap();
        let err = opened.reader.read_at(0, 4).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Modified);
    }

    #[tokio::test]
    async fn a_file_deleted_after_open_still_reads_its_old_bytes() {
        let path = temp_file("deleted.bin", b"0123456789");
        let opened = FileSource::new(&path)
            .open(&Resources::global())
            .await
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(opened.reader.read_at(0, 10).await.unwrap(), "0123456789");
    }

    #[tokio::test]
    async fn reads_beyond_the_blocking_limit_wait_for_a_slot() {
        let path = temp_file("limited.bin", b"0123456789");
        let limit = BlockingLimit::new(1);
        let source = FileSource::new(&path).inline_io(false);
        let resources = Resources::global().with_blocking_limit(limit.clone());
        let opened = source.open(&resources).await.unwrap();
        // A hung operation holds the only slot.
        let hung = limit.hold();
        let read = opened.reader.read_at(0, 4);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(200), read).await;
        assert!(waited.is_err(), "the read ran although the limit was taken");
        assert_eq!(limit.available(), 0);
        drop(hung);
        let read = opened.reader.read_at(0, 4);
        let bytes = tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("the read runs once the slot is free")
            .unwrap();
        assert_eq!(bytes, "0123");
        assert_eq!(limit.available(), 1);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn cached_opens_and_reads_do_not_wait_for_the_blocking_pool() {
        let path = temp_file("cached.bin", b"0123456789");
        let limit = BlockingLimit::new(1);
        let _hung = limit.hold();
        let source = FileSource::new(&path);
        let resources = Resources::global().with_blocking_limit(limit.clone());
        // Just written, so its path and bytes are in the kernel's caches: served inline.
        let opened =
            tokio::time::timeout(std::time::Duration::from_secs(5), source.open(&resources))
                .await
                .expect("the open went to the (hung) blocking pool")
                .unwrap();
        let read = opened.reader.read_at(2, 5);
        let bytes = tokio::time::timeout(std::time::Duration::from_secs(5), read)
            .await
            .expect("the read went to the (hung) blocking pool")
            .unwrap();
        assert_eq!(bytes, "23456");
        // Past the end, a short read is left to the blocking path, which tells EOF apart.
        let tail = opened.reader.read_at(8, 5);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), tail)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn the_etag_changes_when_the_file_is_replaced() {
        let path = temp_file("replaced.bin", b"0123456789");
        let before = FileSource::new(&path)
            .open(&Resources::global())
            .await
            .unwrap()
            .metadata;
        let again = FileSource::new(&path)
            .open(&Resources::global())
            .await
            .unwrap()
            .metadata;
        assert_eq!(before.etag(), again.etag());
        let next = path.with_extension("next");
        std::fs::write(&next, b"9876543210").unwrap();
        std::fs::rename(&next, &path).unwrap();
        let after = FileSource::new(&path)
            .open(&Resources::global())
            .await
            .unwrap()
            .metadata;
        assert_ne!(before.etag(), after.etag());
    }
}
