//! Command-line HTTP clients nobody here wrote against the example server, over real TCP,
//! with the bytes they got compared with the file: `curl -r` (single, suffix, open-ended,
//! past-EOF and multiple ranges), `curl -C -` and `wget -c` resuming a partial download,
//! `aria2c -x4 -s4` segmented download, `ffprobe` on an MP4 whose index is at its end, and
//! `ffmpeg -ss 8` decoding the same frame over HTTP as from the local file.
//!
//! These tests need programs a fresh machine lacks, so they are ignored by default:
//!
//! ```text
//! apt-get install -y ffmpeg curl wget aria2
//! cargo test --test clients -- --ignored
//! ```
//!
//! Without those programs they fail with a message naming the package; they never pass by
//! skipping.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{assert_same_bytes, header_in, sample_path, Access, Server, ThrottleProxy};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A response as `curl` saw it.
struct Fetched {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// `curl -sS [args] URL`, headers and body written to files in `dir`.
fn curl(dir: &Path, url: &str, args: &[&str]) -> Fetched {
    let curl = support::require_program("curl", "curl");
    let headers = dir.join("curl-headers");
    let body = dir.join("curl-body");
    let _ = std::fs::remove_file(&body);
    support::run_ok(
        Command::new(curl)
            .args(["-sS", "--max-time", "30", "-D"])
            .arg(&headers)
            .arg("-o")
            .arg(&body)
            .args(args)
            .arg(url),
        TIMEOUT,
    );
    let (status, headers) =
        support::parse_header_dump(&String::from_utf8_lossy(&support::read(&headers)));
    Fetched {
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

/// Checks a single-part `206` against `file[first..=last]`.
#[track_caller]
fn assert_single_part(got: &Fetched, file: &[u8], first: usize, last: usize) {
    let len = file.len();
    assert_eq!(got.status, 206, "headers: {:?}", got.headers);
    assert_eq!(
        got.header("content-range"),
        Some(format!("bytes {first}-{last}/{len}").as_str()),
        "headers: {:?}",
        got.headers
    );
    assert_eq!(
        got.header("content-length"),
        Some((last + 1 - first).to_string().as_str())
    );
    assert_same_bytes("206 body", &got.body, &file[first..=last]);
}

#[test]
#[ignore = "needs curl: cargo test --test clients -- --ignored"]
fn curl_single_range() {
    let dir = support::temp_dir("curl-single");
    let file = support::sample();
    let server = Server::start(&sample_path());
    let got = curl(&dir, &server.url("/video"), &["-r", "1000-20999"]);
    assert_single_part(&got, &file, 1000, 20999);
    assert_eq!(got.header("accept-ranges"), Some("bytes"));
    assert_eq!(got.header("content-type"), Some("video/mp4"));
    let log = server.wait_for_accesses("/video", 1, TIMEOUT);
    assert_eq!(log[0].range.as_deref(), Some("bytes=1000-20999"));
    assert_eq!((log[0].status, log[0].bytes), (206, 20000));
}

#[test]
#[ignore = "needs curl: cargo test --test clients -- --ignored"]
fn curl_suffix_range() {
    let dir = support::temp_dir("curl-suffix");
    let file = support::sample();
    let len = file.len();
    let server = Server::start(&sample_path());
    let got = curl(&dir, &server.url("/video"), &["-r", "-5000"]);
    assert_single_part(&got, &file, len - 5000, len - 1);
    // A suffix longer than the file is the whole file, still as a 206.
    let got = curl(
        &dir,
        &server.url("/video"),
        &["-r", &format!("-{}", len * 2)],
    );
    assert_single_part(&got, &file, 0, len - 1);
}

#[test]
#[ignore = "needs curl: cargo test --test clients -- --ignored"]
fn curl_open_ended_range() {
    let dir = support::temp_dir("curl-open-ended");
    let file = support::sample();
    let len = file.len();
    let server = Server::start(&sample_path());
    let got = curl(&dir, &server.url("/video"), &["-r", "1000000-"]);
    assert_single_part(&got, &file, 1_000_000, len - 1);
    let got = curl(&dir, &server.url("/video"), &["-r", "0-"]);
    assert_single_part(&got, &file, 0, len - 1);
}

#[test]
#[ignore = "needs curl: cargo test --test clients -- --ignored"]
fn curl_past_eof_ranges() {
    let dir = support::temp_dir("curl-past-eof");
    let file = support::sample();
    let len = file.len();
    let server = Server::start(&sample_path());
    // Wholly past the end: 416 with the current length.
    let got = curl(
        &dir,
        &server.url("/video"),
        &["-r", &format!("{}-{}", len + 10, len + 20)],
    );
    assert_eq!(got.status, 416, "headers: {:?}", got.headers);
    assert_eq!(
        got.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // Starting at exactly the length is past the end too.
    let got = curl(&dir, &server.url("/video"), &["-r", &format!("{len}-")]);
    assert_eq!(got.status, 416, "headers: {:?}", got.headers);
    // Ending past the end is clipped to the last byte.
    let got = curl(
        &dir,
        &server.url("/video"),
        &["-r", &format!("{}-{}", len - 100, len + 100_000)],
    );
    assert_single_part(&got, &file, len - 100, len - 1);
}

#[test]
#[ignore = "needs curl: cargo test --test clients -- --ignored"]
fn curl_multiple_ranges_multipart() {
    let dir = support::temp_dir("curl-multi");
    let file = support::sample();
    let len = file.len();
    let server = Server::start(&sample_path());
    let wanted = [(0usize, 99usize), (5000, 5999), (1_000_000, 1_000_499)];
    let spec = wanted
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(",");
    let got = curl(&dir, &server.url("/video"), &["-r", &spec]);
    assert_eq!(got.status, 206, "headers: {:?}", got.headers);
    assert_eq!(got.header("content-range"), None);
    assert_eq!(
        got.header("content-length"),
        Some(got.body.len().to_string().as_str())
    );
    let content_type = got.header("content-type").expect("a Content-Type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("Content-Type {content_type:?}"))
        .trim_matches('"');
    let parts = support::parse_multipart(&got.body, boundary);
    assert_eq!(parts.len(), wanted.len(), "parts: {}", parts.len());
    for ((headers, body), (first, last)) in parts.iter().zip(wanted) {
        assert_eq!(
            header_in(headers, "content-range"),
            Some(format!("bytes {first}-{last}/{len}").as_str())
        );
        assert_eq!(header_in(headers, "content-type"), Some("video/mp4"));
        assert_same_bytes(&format!("part {first}-{last}"), body, &file[first..=last]);
    }
    let log = server.wait_for_accesses("/video", 1, TIMEOUT);
    assert_eq!(
        log[0].range.as_deref(),
        Some(format!("bytes={spec}").as_str())
    );
}

/// Writes the first `have` bytes of `file` to `path`, as an interrupted download would.
fn partial_download(path: &Path, file: &[u8], have: usize) {
    support::write(path, &file[..have]);
}

#[test]
#[ignore = "needs curl: cargo test --test clients -- --ignored"]
fn curl_resumes_a_partial_download() {
    let curl = support::require_program("curl", "curl");
    let dir = support::temp_dir("curl-resume");
    let file = support::sample();
    let server = Server::start(&sample_path());
    let out = dir.join("video.mp4");
    let have = 400_000;
    partial_download(&out, &file, have);
    support::run_ok(
        Command::new(curl)
            .args(["-sS", "--max-time", "30", "-C", "-", "-o"])
            .arg(&out)
            .arg(server.url("/video")),
        TIMEOUT,
    );
    assert_same_bytes("resumed download", &support::read(&out), &file);
    let log = server.wait_for_accesses("/video", 1, TIMEOUT);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].range.as_deref(), Some("bytes=400000-"));
    assert_eq!(
        (log[0].status, log[0].bytes),
        (206, (file.len() - have) as u64)
    );
}

#[test]
#[ignore = "needs wget: cargo test --test clients -- --ignored"]
fn wget_resumes_a_partial_download() {
    let wget = support::require_program("wget", "wget");
    let dir = support::temp_dir("wget-resume");
    let file = support::sample();
    let server = Server::start(&sample_path());
    // wget names the file after the URL's last segment: "video".
    let out = dir.join("video");
    let have = 321_000;
    partial_download(&out, &file, have);
    support::run_ok(
        Command::new(wget)
            .args(["-nv", "-c", "--tries=1", "--timeout=30", "--no-proxy"])
            .arg(server.url("/video"))
            .current_dir(&dir),
        TIMEOUT,
    );
    assert_same_bytes("resumed download", &support::read(&out), &file);
    let log = server.wait_for_accesses("/video", 1, TIMEOUT);
    let ranged: Vec<&Access> = log.iter().filter(|a| a.method == "GET").collect();
    assert_eq!(ranged.len(), 1, "{log:?}");
    assert_eq!(ranged[0].range.as_deref(), Some("bytes=321000-"));
    assert_eq!(
        (ranged[0].status, ranged[0].bytes),
        (206, (file.len() - have) as u64)
    );
}

#[test]
#[ignore = "needs aria2c: cargo test --test clients -- --ignored"]
fn aria2c_segmented_download() {
    let aria2c = support::require_program("aria2c", "aria2");
    let dir = support::temp_dir("aria2c");
    // aria2c splits no finer than 1 MiB (-k), so four segments need a file of several MiB:
    // 8 MiB of deterministic pseudo-random bytes.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let file: Vec<u8> = (0..8 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let source = dir.join("data.bin");
    support::write(&source, &file);
    let server = Server::start(&source);
    // Throttled so that the first connection cannot finish before the others start.
    let proxy = ThrottleProxy::start(server.addr, 2_000_000);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    support::run_ok(
        Command::new(aria2c)
            .args([
                "-x4",
                "-s4",
                "-k1M",
                "--file-allocation=none",
                "--allow-overwrite=true",
                "--auto-file-renaming=false",
                "--console-log-level=warn",
                "--summary-interval=0",
                "--download-result=hide",
                "--max-tries=1",
                "--timeout=30",
                "--no-netrc=true",
                "-o",
                "data.bin",
                "-d",
            ])
            .arg(&out_dir)
            .arg(proxy.url("/video")),
        TIMEOUT,
    );
    assert_same_bytes(
        "aria2c download",
        &support::read(&out_dir.join("data.bin")),
        &file,
    );
    drop(proxy);
    let log: Vec<Access> = server
        .stop()
        .into_iter()
        .filter(|a| a.path == "/video")
        .collect();
    // aria2c's first request has no Range (answered 200, and dropped once the other
    // connections own the rest); the other segments are Range requests answered 206.
    assert!(log.len() >= 4, "expected 4 connections' requests: {log:#?}");
    for a in &log {
        let expected = if a.range.is_some() { 206 } else { 200 };
        assert_eq!(a.status, expected, "{a:?}");
    }
    let starts: std::collections::BTreeSet<u64> = log
        .iter()
        .filter_map(|a| a.range_start())
        .filter(|&s| s > 0)
        .collect();
    assert!(
        starts.len() >= 3,
        "expected aria2c to fetch at least 3 segments by Range, got starts {starts:?}: {log:#?}"
    );
}

/// `ffprobe`'s container duration of `input` (a path or a URL).
fn ffprobe_duration(input: &str) -> String {
    let ffprobe = support::require_program("ffprobe", "ffmpeg");
    let out = support::run_ok(
        Command::new(ffprobe)
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "default=noprint_wrappers=1:nokey=1",
            ])
            .arg(input),
        TIMEOUT,
    );
    out.stdout_text().trim().to_owned()
}

#[test]
#[ignore = "needs ffmpeg: cargo test --test clients -- --ignored"]
fn ffprobe_over_http_reads_moov_at_end_duration() {
    let media = support::test_media();
    let file = &media.moov_at_end_mp4;
    let len = std::fs::metadata(file).unwrap().len();
    let moov = support::moov_offset(file);
    let server = Server::start(file);
    let local = ffprobe_duration(&file.to_string_lossy());
    let remote = ffprobe_duration(&server.url("/video"));
    assert_eq!(remote, local, "duration over HTTP vs local file");
    let seconds: f64 = remote.parse().expect("a number of seconds");
    assert!((9.9..=10.1).contains(&seconds), "duration {seconds}");
    let log: Vec<Access> = server
        .stop()
        .into_iter()
        .filter(|a| a.path == "/video")
        .collect();
    assert!(
        log.iter().all(|a| a.status == 206),
        "every request of ffprobe carries a Range: {log:#?}"
    );
    assert!(
        log.iter().any(|a| a
            .range_start()
            .is_some_and(|start| start > len / 2 && start <= moov)),
        "ffprobe did not fetch the moov at {moov} by a tail Range: {log:#?}"
    );
}

/// The video frame at 8 s of `input`, decoded to raw RGB24.
fn frame_at_8s(input: &str) -> Vec<u8> {
    let ffmpeg = support::require_program("ffmpeg", "ffmpeg");
    support::run_ok(
        Command::new(ffmpeg)
            .args(["-hide_banner", "-v", "error", "-nostdin", "-ss", "8", "-i"])
            .arg(input)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]),
        TIMEOUT,
    )
    .stdout
}

#[test]
#[ignore = "needs ffmpeg: cargo test --test clients -- --ignored"]
fn ffmpeg_seek_over_http_gives_the_local_frame() {
    let media = support::test_media();
    for file in [
        &media.faststart_mp4,
        &media.moov_at_end_mp4,
        &media.vp9_opus_webm,
    ] {
        let server = Server::start(file);
        let local = frame_at_8s(&file.to_string_lossy());
        assert_eq!(local.len(), 640 * 360 * 3, "{}: frame size", file.display());
        assert!(
            local.iter().any(|&b| b != local[0]),
            "{}: the local frame is uniform",
            file.display()
        );
        let remote = frame_at_8s(&server.url("/video"));
        assert_same_bytes(
            &format!("{}: frame at 8 s over HTTP", file.display()),
            &remote,
            &local,
        );
        let log: Vec<Access> = server
            .stop()
            .into_iter()
            .filter(|a| a.path == "/video")
            .collect();
        assert!(
            log.iter().all(|a| a.status == 206),
            "{}: {log:#?}",
            file.display()
        );
        assert!(
            log.iter().any(|a| a.range_start().is_some_and(|s| s > 0)),
            "{}: ffmpeg -ss 8 made no range request past the start: {log:#?}",
            file.display()
        );
    }
}
