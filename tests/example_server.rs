//! The example server binary, run as users run it: its command line, what it prints, its
//! routes over real TCP, and its shutdown on Ctrl-C (SIGINT).

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{content, example_binary, sample, temp_file, Server};

/// The example server with `args`, its access log on.
fn start(args: &[&str]) -> Server {
    let server = Server::start_example("server", args, &[("RUST_LOG", "info")]);
    assert_eq!(server.addr.ip(), Ipv4Addr::LOCALHOST, "{}", server.addr);
    server
}

/// A minimal blocking HTTP/1.1 GET with `Connection: close`; returns head and body.
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (String, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    (head, response[split + 4..].to_vec())
}

#[test]
fn serves_the_page_and_the_bundled_video() {
    let server = start(&[]);
    let (head, body) = get(server.addr, "/", &[]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/html; charset=utf-8"));
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("<video"), "{page}");
    assert!(page.contains("src=\"/video\" type=\"video/mp4\""), "{page}");

    let sample = sample();
    let (head, body) = get(server.addr, "/video", &[]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, sample);
    let (head, body) = get(server.addr, "/video", &[("Range", "bytes=100-199")]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(head.contains(&format!("content-range: bytes 100-199/{}", sample.len())));
    assert_eq!(body, sample[100..200]);
    let (head, _) = get(server.addr, "/nothing-here", &[]);
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[test]
fn the_page_names_the_type_of_the_video_given() {
    let video = temp_file("example-webm", "clip.webm", b"not really webm");
    let server = start(&[
        video.to_str().unwrap(),
        "--frame-size",
        "4",
        "--read-ahead",
        "0",
    ]);
    let (_, body) = get(server.addr, "/", &[]);
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("type=\"video/webm\""));
    let (head, body) = get(server.addr, "/video", &[]);
    assert!(head.contains("content-type: video/webm"), "{head}");
    assert_eq!(body, b"not really webm");
}

#[cfg(target_os = "linux")]
#[test]
fn a_directory_is_served_under_media_with_a_library_page() {
    let root = support::temp_dir("example-library");
    std::fs::create_dir_all(root.join("a <b>")).unwrap();
    std::fs::write(root.join("a <b>/x&y.mp4"), content(5000)).unwrap();
    std::fs::write(root.join("a <b>/x&y.vtt"), "WEBVTT\n").unwrap();
    std::fs::write(root.join("notes.txt"), "notes").unwrap();
    let server = start(&[root.to_str().unwrap()]);
    let (_, body) = get(server.addr, "/", &[]);
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("<h2>a &lt;b&gt;</h2>"), "{page}");
    assert!(
        page.contains("src=\"/media/a%20%3Cb%3E/x%26y.mp4\""),
        "{page}"
    );
    assert!(page.contains("<track kind=\"subtitles\" src=\"/media/a%20%3Cb%3E/x%26y.vtt\""));
    assert!(page.contains("href=\"/media/a%20%3Cb%3E/x%26y.mp4?download\""));
    assert!(
        !page.contains("notes.txt"),
        "only playable files are listed"
    );
    let url = "/media/a%20%3Cb%3E/x%26y.mp4";
    let (head, body) = get(server.addr, url, &[("range", "bytes=10-19")]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body, content(5000)[10..20]);
    let (head, _) = get(server.addr, &format!("{url}?download"), &[]);
    assert!(
        head.contains("content-disposition: attachment; filename=\"x&y.mp4\""),
        "{head}"
    );
    for refused in ["/video", "/media/../notes.txt", "/mediax", "/media/"] {
        let (head, _) = get(server.addr, refused, &[]);
        assert!(head.starts_with("HTTP/1.1 404"), "{refused}: {head}");
    }
}

#[test]
fn a_missing_video_exits_non_zero_with_one_line_before_binding() {
    let output = Command::new(example_binary("server"))
        .args(["/nonexistent/video.mp4", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "it must not print a URL");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: /nonexistent/video.mp4"),
        "{stderr}"
    );
}

#[test]
fn metrics_addr_without_the_metrics_feature_exits_1_with_one_line() {
    // `example_binary` builds the example with the default features, the metrics feature off.
    let output = Command::new(example_binary("server"))
        .args(["--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "it must not print a URL");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--features metrics"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_server() {
    let server = start(&[]);
    let addr = server.addr;
    let status = server
        .stop_with(libc::SIGINT, Duration::from_secs(10))
        .expect("still running 10 s after SIGINT");
    assert!(status.success(), "{status}");
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[cfg(unix)]
#[test]
fn the_access_lines_of_streams_cut_at_shutdown_are_written() {
    // A stream that never reads outlives the 10 s grace period: the runtime drops it as the
    // server exits, and its line is logged then, after the writer's queue was last drained.
    let video = temp_file("shutdown_log", "big.mp4", &content(64 * 1024 * 1024));
    let server = start(&[video.to_str().unwrap()]);
    let (head, body) = get(server.addr, "/video", &[("Range", "bytes=0-9")]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body.len(), 10);
    let mut stalled = std::net::TcpStream::connect(server.addr).unwrap();
    stalled
        .write_all(b"GET /video HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 1];
    stalled.read_exact(&mut first).unwrap();
    let status = server_stop_after_grace(server);
    let lines: Vec<&str> = status.lines().filter(|l| l.contains("access:")).collect();
    assert_eq!(lines.len(), 2, "{status}");
    assert!(
        lines[0].contains("status=206 bytes=10 complete"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("status=200") && lines[1].contains("aborted"),
        "the cut stream's line: {}",
        lines[1]
    );
    drop(stalled);
}

/// Stops `server` with SIGTERM and waits past its grace period; returns its stderr.
fn server_stop_after_grace(server: Server) -> String {
    let (status, stderr) = server.stop_with_stderr(libc::SIGTERM, Duration::from_secs(20));
    let status = status.expect("still running 20 s after SIGTERM");
    assert!(status.success(), "{status}");
    stderr
}

/// Starts the server with short timeouts on a 64 MiB file (too big to sit in socket buffers).
fn start_with_timeouts(test: &str) -> (Server, Vec<u8>) {
    let bytes = content(64 * 1024 * 1024);
    let video = temp_file(test, "big.mp4", &bytes);
    let server = start(&[
        video.to_str().unwrap(),
        "--header-timeout",
        "1",
        "--idle-timeout",
        "1",
        "--send-timeout",
        "1",
    ]);
    (server, bytes)
}

/// Waits until the server closes `stream` (a read returns 0 or fails); returns how long that
/// took. Bounded: fails the test after 10 s.
fn time_until_closed(stream: &mut std::net::TcpStream) -> Duration {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("the server did not close the connection within 10 s")
            }
            Err(_) => return started.elapsed(),
        }
    }
}

fn connect(server: &Server) -> std::net::TcpStream {
    std::net::TcpStream::connect(server.addr).unwrap()
}

#[test]
fn silent_slow_idle_and_stalled_connections_are_dropped_while_others_are_served() {
    use std::io::Write;
    let (server, bytes) = start_with_timeouts("timeouts-http1");

    // Connects and sends nothing.
    let mut silent = connect(&server);
    // Sends its request head one byte a second (slow loris).
    let mut slow = connect(&server);
    let slow_writer = {
        let mut writer = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in b"GET /video HTTP/1.1\r\nHost: x\r\n\r\n" {
                if writer.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    // Asks for the 64 MiB video and stops reading after the first bytes.
    let mut stalled = connect(&server);
    stalled
        .write_all(b"GET /video HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 1024];
    stalled.read_exact(&mut first).unwrap();
    // Keeps a connection open after a complete response (HTTP/1.1 keep-alive).
    let mut idle = connect(&server);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    // Meanwhile others are served normally.
    let (head, body) = get(server.addr, "/video", &[("Range", "bytes=1000-1999")]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert_eq!(body, bytes[1000..2000]);

    assert!(time_until_closed(&mut silent) < Duration::from_secs(5));
    assert!(time_until_closed(&mut slow) < Duration::from_secs(5));
    assert!(time_until_closed(&mut idle) < Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(2500));
    assert!(time_until_closed(&mut stalled) < Duration::from_secs(5));
    slow_writer.join().unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A GET over a new HTTP/2 (prior knowledge) connection: the response, body unread, the
/// handle that keeps the client's side of the connection open (dropping it would close the
/// connection from the client's side), and the task driving the connection, which ends when
/// the server closes it.
async fn h2_get(
    server: &Server,
    path: &str,
) -> (
    http::Response<hyper::body::Incoming>,
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    tokio::task::JoinHandle<hyper::Result<()>>,
) {
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut send, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://x{path}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    (response, send, connection)
}

#[test]
fn an_idle_http2_connection_is_dropped() {
    let (server, _) = start_with_timeouts("timeouts-idle-http2");
    runtime().block_on(async {
        let (response, _send, connection) = h2_get(&server, "/").await;
        assert_eq!(response.status(), 200);
        drop(response);
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), connection)
            .await
            .expect("the idle HTTP/2 connection was not closed within 10 s")
            .unwrap()
            .ok();
        assert!(started.elapsed() >= Duration::from_millis(500));
    });
}

#[test]
fn an_oversized_request_head_is_refused_with_431() {
    let server = start(&[]);
    let huge = format!("bytes={}", "0-1,".repeat(20 * 1024));
    let (head, _) = get(server.addr, "/video", &[("Range", &huge)]);
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
    // And the server still serves.
    let (head, _) = get(server.addr, "/video", &[("Range", "bytes=0-1")]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
}

#[test]
fn silent_slow_and_stalled_http2_connections_are_dropped() {
    use std::io::Write;
    let (server, _) = start_with_timeouts("timeouts-http2");
    // Sends the HTTP/2 preface and nothing more.
    let mut silent = connect(&server);
    silent
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    assert!(time_until_closed(&mut silent) < Duration::from_secs(5));

    // Slow loris over HTTP/2: the preface and SETTINGS, then a HEADERS frame for GET /video
    // one byte every 300 ms. No request is ever in progress, so the idle limit applies.
    let mut slow = connect(&server);
    slow.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let mut headers = vec![0x00, 0x00, 13, 0x01, 0x05, 0x00, 0x00, 0x00, 0x01];
    headers.extend_from_slice(&[0x82, 0x86, 0x44, 6]);
    headers.extend_from_slice(b"/video");
    headers.extend_from_slice(&[0x41, 1, b'x']);
    let dribble = {
        let mut writer = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in headers {
                if writer.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    assert!(time_until_closed(&mut slow) < Duration::from_secs(5));
    dribble.join().unwrap();

    // Opens a stream for the 64 MiB video and never reads it (no WINDOW_UPDATE): the stream
    // stalls once the flow-control window is used up.
    runtime().block_on(async {
        let (response, _send, connection) = h2_get(&server, "/video").await;
        assert_eq!(response.status(), 200);
        // Hold the response without reading its body.
        tokio::time::timeout(Duration::from_secs(10), connection)
            .await
            .expect("the stalled HTTP/2 connection was not closed within 10 s")
            .unwrap()
            .ok();
        drop(response);
    });
}
