//! What every example does before it serves: find the video, refuse a bad one with one line
//! before binding, bind, and listen for the stop signals.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::TcpListener;

/// The bundled sample, found from the crate's directory so that the binary works from any
/// working directory.
pub fn sample_video() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/media/sample.mp4"))
}

/// Logs to stderr with `RUST_LOG`, or `default` when it is unset; colours only on a terminal.
///
/// Lines are formatted where they are logged and written by a thread of their own
/// (`tracing-appender`'s non-blocking writer) in batches: the thread takes every line queued,
/// writes them through one buffer and flushes when the queue is empty, so a request never
/// waits on a write to stderr and a busy server makes one write for many lines. When the
/// queue is full, logging waits instead of dropping the line (the writer's default is to
/// drop). Keep the guard until the runtime is gone: lines logged while the runtime drops its
/// last connections are written when the guard is dropped.
///
/// Returns the guard and a handle on the writer, for lines written without the subscriber
/// (the example server's access log).
pub fn init_tracing(
    default: &str,
) -> (
    tracing_appender::non_blocking::WorkerGuard,
    tracing_appender::non_blocking::NonBlocking,
) {
    let stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(stderr);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(writer.clone())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    (guard, writer)
}

/// Exits with status 1 and one line on stderr.
pub fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// Exits unless `file` is a regular file that can be opened. The check never opens anything
/// else for reading, so a FIFO or a device is refused at once rather than waited on.
pub fn check_file(file: &Path) {
    if let Err(error) = tower_range::FileSource::new(file).check() {
        fail(&format!("{}: {error}", file.display()));
    }
}

/// The listen backlog: connections the kernel completes and queues before they are accepted.
/// `TcpListener::bind` asks for 128, which a burst of clients overflows (the kernel then drops
/// handshakes, and clients retry a second later); the kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 4096;

/// Binds `addr` with a deep backlog, or exits.
pub async fn bind(addr: SocketAddr) -> (TcpListener, SocketAddr) {
    let listen = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    let listener = match listen() {
        Ok(listener) => listener,
        Err(error) => fail(&format!("cannot listen on {addr}: {error}")),
    };
    let bound = listener
        .local_addr()
        .expect("a bound listener has an address");
    (listener, bound)
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM. The handlers are installed at once, so
/// call it before announcing the address: a script that stops the server as soon as it has
/// read the URL then stops it gracefully.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
        let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
