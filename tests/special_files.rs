//! Special files and bad paths at a served path, over real TCP on a two-worker runtime: a FIFO
//! without a writer, a FIFO swapped in while the server runs, a Unix socket, a character
//! device, a path through a regular file, a symlink loop and an overlong name. Each is answered
//! at once with its status, and another route of the same server keeps answering throughout,
//! with the inline fast path on and off. The example server refuses a FIFO at start-up.
#![cfg(unix)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use http_body_util::{BodyExt, Either};
use hyper::body::Incoming;
use support::{bounded, example_binary, request, serve, temp_dir, Client, Protocol};
use tower::Service;
use tower_range::{FileSource, MemorySource, RangeFileService};

/// Serves `/ping` from memory and everything else from `file`.
async fn serve_routes(file: FileSource) -> SocketAddr {
    let file = RangeFileService::from_source(file);
    let ping = RangeFileService::from_source(MemorySource::new("pong"));
    serve(tower::service_fn(move |req: http::Request<Incoming>| {
        let (mut file, mut ping) = (file.clone(), ping.clone());
        async move {
            if req.uri().path() == "/ping" {
                ping.call(req).await.map(|r| r.map(Either::Left))
            } else {
                file.call(req).await.map(|r| r.map(Either::Right))
            }
        }
    }))
    .await
}

async fn get(addr: SocketAddr, path: &str) -> (StatusCode, bytes::Bytes) {
    let mut client = Client::connect(addr, Protocol::Http1).await;
    let response = client.send(request("GET", path, &[])).await;
    let status = response.status();
    let body = bounded(response.into_body().collect()).await.unwrap();
    (status, body.to_bytes())
}

/// Sends more requests for the special file than the runtime has workers, checks that
/// `/ping` answers meanwhile, then that each of them got `expected`.
async fn answered_without_blocking(source: FileSource, expected: StatusCode) {
    let addr = serve_routes(source).await;
    let special: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async move { get(addr, "/file").await }))
        .collect();
    for _ in 0..3 {
        assert_eq!(get(addr, "/ping").await, (StatusCode::OK, "pong".into()));
    }
    for request in special {
        let (status, body) = bounded(request).await.unwrap();
        assert_eq!(status, expected);
        assert_eq!(
            body,
            expected.canonical_reason().unwrap().to_lowercase() + "\n"
        );
    }
}

fn make_fifo(path: &Path) {
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    mknodat(CWD, path, FileType::Fifo, Mode::from(0o644), 0).unwrap();
}

/// Wakes whatever still waits to open the FIFO for reading (an open that blocks has a
/// writer paired with it), so that a failing test ends instead of hanging its runtime.
struct FifoGuard(PathBuf);

impl Drop for FifoGuard {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        for _ in 0..16 {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(&self.0);
        }
    }
}

macro_rules! inline_on_and_off {
    ($($name:ident($inline:ident) $body:block)*) => {$(
        mod $name {
            use super::*;
            async fn run($inline: bool) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn inline_io_on() {
                run(true).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn inline_io_off() {
                run(false).await
            }
        }
    )*};
}

inline_on_and_off! {
    a_fifo_without_a_writer_is_404(inline) {
        let fifo = temp_dir(&format!("fifo-{inline}")).join("clip.mp4");
        make_fifo(&fifo);
        let _guard = FifoGuard(fifo.clone());
        answered_without_blocking(FileSource::new(&fifo).inline_io(inline), StatusCode::NOT_FOUND)
            .await;
    }

    a_fifo_swapped_in_while_serving_is_404(inline) {
        let dir = temp_dir(&format!("fifo-swap-{inline}"));
        let path = dir.join("clip.mp4");
        std::fs::write(&path, b"the old bytes").unwrap();
        let addr = serve_routes(FileSource::new(&path).inline_io(inline)).await;
        assert_eq!(get(addr, "/file").await, (StatusCode::OK, "the old bytes".into()));
        let fifo = dir.join("next");
        make_fifo(&fifo);
        std::fs::rename(&fifo, &path).unwrap();
        let _guard = FifoGuard(path.clone());
        for _ in 0..4 {
            assert_eq!(get(addr, "/file").await.0, StatusCode::NOT_FOUND);
            assert_eq!(get(addr, "/ping").await.0, StatusCode::OK);
        }
    }

    a_unix_socket_is_404(inline) {
        let socket = temp_dir(&format!("socket-{inline}")).join("clip.mp4");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        answered_without_blocking(FileSource::new(&socket).inline_io(inline), StatusCode::NOT_FOUND)
            .await;
    }

    a_character_device_is_404(inline) {
        // Read, /dev/zero would never end; it is never opened for reading.
        let source = FileSource::new("/dev/zero").inline_io(inline);
        answered_without_blocking(source, StatusCode::NOT_FOUND).await;
    }

    a_path_through_a_regular_file_is_404(inline) {
        let file = temp_dir(&format!("notdir-{inline}")).join("clip.mp4");
        std::fs::write(&file, b"bytes").unwrap();
        let source = FileSource::new(file.join("x")).inline_io(inline);
        answered_without_blocking(source, StatusCode::NOT_FOUND).await;
    }

    a_symlink_loop_is_404(inline) {
        let dir = temp_dir(&format!("loop-{inline}"));
        std::os::unix::fs::symlink(dir.join("b"), dir.join("a")).unwrap();
        std::os::unix::fs::symlink(dir.join("a"), dir.join("b")).unwrap();
        let source = FileSource::new(dir.join("a")).inline_io(inline);
        answered_without_blocking(source, StatusCode::NOT_FOUND).await;
    }

    an_overlong_name_is_414(inline) {
        let dir = temp_dir(&format!("long-{inline}"));
        let source = FileSource::new(dir.join("x".repeat(300))).inline_io(inline);
        answered_without_blocking(source, StatusCode::URI_TOO_LONG).await;
    }
}

#[test]
fn the_example_server_refuses_a_fifo_at_once() {
    let fifo = temp_dir("example-fifo").join("clip.mp4");
    make_fifo(&fifo);
    let _guard = FifoGuard(fifo.clone());
    let mut child = Command::new(example_binary("server"))
        .arg(&fifo)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server waited on the FIFO instead of refusing it");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not a regular file") && stderr.lines().count() == 1,
        "{stderr}"
    );
}
