//! The raw client sockets of CONNECTIONS: stalled downloads and idle connections, opened in
//! batches the server's accept queue can take, with an Internet-like MSS and a small
//! receive buffer, and their TCP states read back from the kernel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::check::{compare, find, Ctx};
use crate::server::Server;

/// TCP states of client sockets, from `TCP_INFO`.
#[derive(Debug, Default, Clone, Copy)]
pub struct States {
    pub established: usize,
    /// The server closed the connection.
    pub close_wait: usize,
    pub other: usize,
}

impl States {
    pub fn of(streams: &[TcpStream]) -> States {
        use std::os::fd::AsRawFd;
        let mut states = States::default();
        for stream in streams {
            let mut info = [0u8; 256];
            let mut len = info.len() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `info`.
            let rc = unsafe {
                libc::getsockopt(
                    stream.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_INFO,
                    info.as_mut_ptr() as *mut libc::c_void,
                    &mut len,
                )
            };
            // The first byte of struct tcp_info is tcpi_state: 1 ESTABLISHED, 8 CLOSE_WAIT.
            match (rc, info[0]) {
                (0, 1) => states.established += 1,
                (0, 8) => states.close_wait += 1,
                _ => states.other += 1,
            }
        }
        states
    }
}

/// A client socket with an Internet-like MSS and a small receive buffer.
fn client_socket() -> std::io::Result<TcpSocket> {
    use std::os::fd::AsRawFd;
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4 * 1024)?;
    let mss: libc::c_int = 1460;
    // SAFETY: setsockopt on a socket we own, with a c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            &mss as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket)
}

/// Opens a download of the whole file, checks its head and the bytes that came with it,
/// then leaves it unread.
async fn open_stalled(addr: SocketAddr, ctx: &Ctx) -> Result<TcpStream, String> {
    let socket = client_socket().map_err(|e| format!("socket: {e}"))?;
    let mut stream = socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!("GET /video HTTP/1.1\r\nHost: {addr}\r\nRange: bytes=0-\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    loop {
        let r = stream
            .read(&mut buf[n..])
            .await
            .map_err(|e| format!("read: {e}"))?;
        if r == 0 {
            return Err(format!("EOF after {n} bytes of the head"));
        }
        n += r;
        if let Some(end) = find(&buf[..n], b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status = lines.next().unwrap_or_default();
            if !status.starts_with("HTTP/1.1 206") {
                return Err(format!("status line {status:?}"));
            }
            let want = format!("bytes 0-{}/{}", ctx.len - 1, ctx.len);
            let range = lines.find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-range")
                    .then(|| value.trim().to_string())
            });
            if range.as_deref() != Some(&want) {
                return Err(format!("content-range {range:?}, expected {want:?}"));
            }
            compare(&buf[end + 4..n], 0, ctx)?;
            return Ok(stream);
        }
        if n == buf.len() {
            return Err("no end of head in 8 KiB".into());
        }
    }
}

async fn open_idle(addr: SocketAddr) -> Result<TcpStream, String> {
    let socket = client_socket().map_err(|e| format!("socket: {e}"))?;
    socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// Opens `count` connections in batches of 100, waiting after each batch (at most 5 s) for
/// the server to have accepted them. The example server listens with tokio's
/// `TcpListener::bind`, whose backlog is 128 (mio's, as std's): a bigger burst overflows the
/// accept queue, the kernel drops SYNs (retried after 1 s) and, with SYN cookies, the
/// handshake ACKs of idle clients, who then believe themselves connected while the server
/// never hears of them. Returns the connections that opened.
pub async fn open_many(
    count: usize,
    stalled: bool,
    ctx: &Arc<Ctx>,
    server: &Server,
    failures: &mut Vec<String>,
) -> Vec<TcpStream> {
    const BATCH: usize = 100;
    // A stalled download holds its socket and its open file.
    let fds_each = if stalled { 2 } else { 1 };
    let fds_before = server.stats().fds;
    let mut streams = Vec::with_capacity(count);
    let mut opened = 0;
    while opened < count {
        let batch = BATCH.min(count - opened);
        opened += batch;
        let batch_began = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let ctx = ctx.clone();
            set.spawn(async move {
                let open = async {
                    if stalled {
                        open_stalled(ctx.addr, &ctx).await
                    } else {
                        open_idle(ctx.addr).await
                    }
                };
                tokio::time::timeout(Duration::from_secs(20), open)
                    .await
                    .unwrap_or_else(|_| Err("no connection (and head) within 20 s".into()))
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(stream)) => streams.push(stream),
                Ok(Err(e)) => {
                    if failures.len() < 20 {
                        failures.push(format!(
                            "{} connection: {e}",
                            if stalled { "stalled" } else { "idle" }
                        ));
                    }
                }
                Err(e) => failures.push(format!("task: {e}")),
            }
        }
        if batch_began.elapsed() > Duration::from_millis(900) {
            eprintln!(
                "connections: a batch of {batch} {} connections took {:.1?}",
                if stalled { "stalled" } else { "idle" },
                batch_began.elapsed()
            );
        }
        let want = fds_before + (fds_each * streams.len()) as u64;
        // Done when the server holds about that many fds (a few come and go: fresh
        // requests, a closing client connection), or when its count stops growing.
        let began = Instant::now();
        let mut fds = server.stats().fds;
        let mut progress = (fds, Instant::now());
        while fds + 16 < want
            && began.elapsed() < Duration::from_secs(5)
            && progress.1.elapsed() < Duration::from_millis(500)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
            fds = server.stats().fds;
            if fds > progress.0 {
                progress = (fds, Instant::now());
            }
        }
        if fds + 16 < want {
            eprintln!(
                "connections: after {} {} connections the server holds {fds} fds, {want} expected",
                streams.len(),
                if stalled { "stalled" } else { "idle" },
            );
        }
    }
    streams
}
