//! Headless Chromium on the example server's library page (`server DIR`): a tree with an MP4,
//! a WebM and an audio file, behind the throttling proxy of the browser tests. Each player on
//! the page plays, then seeks past what it has buffered, so that a range starting past 0
//! reaches the server; every media request reached it as a `206` (or a `304` revalidation).
//! Needs chromium, chromium-driver and ffmpeg: `cargo test --test browser_library -- --ignored`.
#![cfg(target_os = "linux")]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{cmd, Access, ChromeDriver, Page, Programs, Server, ThrottleProxy, COMMAND_TIMEOUT};

/// As in the browser tests: playback keeps up, but a file takes seconds to arrive.
const THROTTLE_BYTES_PER_SEC: u64 = 300_000;

/// films/sample.mp4, films/clip webm.webm (a space in the name), music/tone.m4a.
fn library() -> PathBuf {
    let media = support::test_media();
    let root = support::temp_dir("browser-library");
    std::fs::create_dir_all(root.join("films")).unwrap();
    std::fs::create_dir_all(root.join("music")).unwrap();
    std::fs::copy(&media.faststart_mp4, root.join("films/sample.mp4")).unwrap();
    std::fs::copy(&media.vp9_opus_webm, root.join("films/clip webm.webm")).unwrap();
    let ffmpeg = support::require_program("ffmpeg", "ffmpeg");
    support::run_ok(
        Command::new(ffmpeg)
            .args(["-v", "error", "-y", "-f", "lavfi"])
            .args([
                "-i",
                "sine=frequency=440:duration=40",
                "-c:a",
                "aac",
                "-b:a",
                "256k",
            ])
            .arg(root.join("music/tone.m4a")),
        Duration::from_secs(60),
    );
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver, ffmpeg: cargo test --test browser_library -- --ignored"]
async fn every_player_on_the_library_page_plays_and_seeks_past_its_buffer() {
    let programs = Programs::require();
    let root = library();
    let server = Server::start(&root);
    let proxy = ThrottleProxy::start(server.addr, THROTTLE_BYTES_PER_SEC);
    let driver = ChromeDriver::start(&programs.chromedriver);
    let profile = support::temp_dir("browser-library-profile");
    let client = driver.session(&programs.chromium, &profile).await;

    cmd(client.goto(&proxy.url("/")), "goto /").await;
    let page = |i: usize| Page {
        client: &client,
        server: &server,
        element: format!("document.querySelectorAll('video, audio')[{i}]"),
    };
    let players = page(0)
        .js("return document.querySelectorAll('video, audio').length;")
        .await;
    assert_eq!(players, 3, "three players on the page");
    for i in 0..3 {
        let player = page(i);
        let src = player
            .js(&format!("return {}.currentSrc;", player.element))
            .await;
        player.install_event_log().await;
        player.play().await;
        let state = player
            .wait("currentTime > 1 s", |s| s.time > 1.0 && !s.paused)
            .await;
        let duration = state.duration.expect("a playing element has a duration");
        // Past what is buffered, so that the browser must ask for a range further on.
        let buffered_end = state.raw["buffered"]
            .as_array()
            .and_then(|ranges| ranges.last())
            .and_then(|range| range[1].as_f64())
            .unwrap_or(0.0);
        let target = (buffered_end + 1.0).min(duration - 1.5);
        player
            .js(&format!(
                "{}.currentTime = {target}; return null;",
                player.element
            ))
            .await;
        player
            .wait(&format!("{src}: playing past {target:.1} s"), |s| {
                !s.seeking && s.time > target + 0.3 && !s.paused
            })
            .await;
        player
            .js(&format!("{}.pause(); return null;", player.element))
            .await;
        let state = player.state().await;
        assert!(state.error.is_null(), "{src}: {}", state.error);
    }
    let png = cmd(client.screenshot(), "screenshot").await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    support::write(&shots.join("library.png"), &png);

    let _ = tokio::time::timeout(COMMAND_TIMEOUT, client.close()).await;
    drop(driver);
    proxy.wait_idle(Duration::from_secs(10));
    drop(proxy);
    let accesses = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    let media: Vec<&Access> = accesses
        .iter()
        .filter(|a| a.path.starts_with("/media/"))
        .collect();
    for file in [
        "/media/films/sample.mp4",
        "/media/films/clip%20webm.webm",
        "/media/music/tone.m4a",
    ] {
        let asked: Vec<&&Access> = media.iter().filter(|a| a.path == file).collect();
        assert!(!asked.is_empty(), "{file} was never asked for: {media:?}");
        let past_zero = asked.iter().any(|a| {
            a.range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.split('-').next())
                .and_then(|start| start.parse::<u64>().ok())
                .is_some_and(|start| start > 0)
        });
        assert!(past_zero, "no range past 0 for {file}: {asked:?}");
    }
    let revalidation = |a: &Access| {
        a.status == 304
            && a.conditions
                .iter()
                .any(|c| c == "none-match" || c == "modified-since")
    };
    let wrong: Vec<&&Access> = media
        .iter()
        .filter(|a| a.status != 206 && !revalidation(a))
        .collect();
    assert!(
        wrong.is_empty(),
        "media requests not answered 206: {wrong:?}"
    );
}
