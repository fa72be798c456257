//! An HLS ladder served by the directory service: two renditions and a master playlist made by
//! ffmpeg from synthetic sources, read over HTTP by ffprobe packet for packet (with an MD5 of
//! each packet's data) the same as from the local files, with the policy's cache headers on
//! playlists and segments. Needs ffmpeg: `cargo test --test dir_hls -- --ignored`.
#![cfg(target_os = "linux")]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{header, serve, temp_dir, Protocol};
use tower_range::dir::{DirResolver, RangeDirService};

const TIMEOUT: Duration = Duration::from_secs(120);

/// Two renditions (320×180 and 160×90, H.264 and AAC, 1 s segments) and `master.m3u8`.
fn make_ladder(dir: &Path) {
    let ffmpeg = support::require_program("ffmpeg", "ffmpeg");
    support::run_ok(
        Command::new(ffmpeg)
            .current_dir(dir)
            .args(["-v", "error", "-y"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=320x180:rate=25:duration=4",
            ])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=4"])
            .args([
                "-filter_complex",
                "[0:v]split=2[a][b];[b]scale=160:90[small]",
            ])
            .args([
                "-map", "[a]", "-map", "1:a", "-map", "[small]", "-map", "1:a",
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "25",
                "-c:a",
                "aac",
            ])
            .args(["-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"])
            .args([
                "-var_stream_map",
                "v:0,a:0 v:1,a:1",
                "-master_pl_name",
                "master.m3u8",
            ])
            .args(["-hls_segment_filename", "v%v/seg%d.ts", "v%v/index.m3u8"]),
        TIMEOUT,
    );
}

/// Every packet of `input` (a path or a URL): stream, time stamp, size and the MD5 of its data.
fn packets(input: &str) -> String {
    let ffprobe = support::require_program("ffprobe", "ffmpeg");
    let out = support::run_ok(
        Command::new(ffprobe)
            .args(["-v", "error", "-show_data_hash", "MD5", "-show_entries"])
            .args(["packet=stream_index,pts,size,data_hash", "-of", "csv"])
            .arg(input),
        TIMEOUT,
    );
    out.stdout_text()
}

async fn get(
    addr: std::net::SocketAddr,
    protocol: Protocol,
    path: &str,
) -> (http::response::Parts, bytes::Bytes) {
    support::fetch_path(addr, protocol, "GET", path, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg: cargo test --test dir_hls -- --ignored"]
async fn an_hls_ladder_reads_over_http_exactly_as_from_disk_with_its_cache_headers() {
    let root = temp_dir("dir-hls");
    make_ladder(&root);
    let resolver = DirResolver::new(&root).unwrap().policy(support::hls_policy);
    let addr = serve(RangeDirService::from_resolver(resolver)).await;

    for rendition in ["v0", "v1"] {
        let local = root.join(rendition).join("index.m3u8");
        let url = format!("http://{addr}/{rendition}/index.m3u8");
        let (local, remote) =
            tokio::task::spawn_blocking(move || (packets(local.to_str().unwrap()), packets(&url)))
                .await
                .unwrap();
        assert!(local.lines().count() > 100, "{rendition}: {local}");
        assert_eq!(remote, local, "{rendition}: packets over HTTP differ");
    }
    let url = format!("http://{addr}/master.m3u8");
    let master = tokio::task::spawn_blocking(move || packets(&url))
        .await
        .unwrap();
    assert!(!master.is_empty());

    let (parts, body) = get(addr, Protocol::Http1, "/master.m3u8").await;
    assert_eq!(header(&parts, "cache-control"), Some("no-cache"));
    assert_eq!(
        header(&parts, "content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert!(body.starts_with(b"#EXTM3U"));
    let (parts, _) = get(addr, Protocol::Http2, "/v1/seg0.ts").await;
    assert_eq!(
        header(&parts, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(header(&parts, "content-type"), Some("video/mp2t"));
}
