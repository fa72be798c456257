//! Cross-origin playback in headless Chromium: a page served on one port (by a
//! `RangeFileService` in this test) holds `<video crossorigin="anonymous">` with a
//! `<track default>`, both from the example server in directory mode on another port (behind
//! the throttling proxy of the browser tests, so that Chromium really asks for ranges).
//!
//! With `--cors-origin <the page's origin>` the video plays, seeks past what it has buffered
//! (a range starting past 0 reaches the server) and the subtitle cue shows; without it the
//! server answers the same requests but Chromium refuses both: the track fails to load
//! (`readyState` 3) and the video reports an error. Needs chromium and chromium-driver:
//! `cargo test --test browser_cors -- --ignored`.
#![cfg(target_os = "linux")]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use http::HeaderValue;
use serde_json::Value;
use support::{cmd, Access, ChromeDriver, Page, Programs, Server, ThrottleProxy, COMMAND_TIMEOUT};
use tokio::net::TcpListener;
use tower_range::{MemorySource, RangeFileService};

/// A little above the sample's bitrate (about 110 KB/s): playback keeps up, but the first
/// response stays only a few seconds ahead of it, so a seek near the end is far past it.
const THROTTLE_BYTES_PER_SEC: u64 = 150_000;
/// The one cue of the subtitle file, shown from 0 s to past the end of the 10 s video.
const CUE: &str = "Subtitles from another origin";
const VIDEO_PATH: &str = "/media/films/sample.mp4";
const TRACK_PATH: &str = "/media/films/sample.vtt";
const VIDEO: &str = "document.getElementById('video')";

/// films/sample.mp4 (the bundled sample) and films/sample.vtt.
fn media_tree() -> PathBuf {
    let root = support::temp_dir("browser-cors");
    std::fs::create_dir_all(root.join("films")).unwrap();
    std::fs::copy(support::sample_path(), root.join("films/sample.mp4")).unwrap();
    support::write(
        &root.join("films/sample.vtt"),
        format!("WEBVTT\n\n00:00:00.000 --> 00:01:00.000\n{CUE}\n").as_bytes(),
    );
    root
}

/// The page, on its own origin, with the video and its subtitles from `media` (an origin).
fn page_html(media: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>cross-origin player</title>\n</head>\n<body>\n\
         <video id=\"video\" crossorigin=\"anonymous\" controls muted playsinline \
         preload=\"metadata\" width=\"640\" src=\"{media}{VIDEO_PATH}\">\n\
         <track kind=\"subtitles\" srclang=\"en\" label=\"English\" \
         src=\"{media}{TRACK_PATH}\" default>\n\
         </video>\n</body>\n</html>\n"
    )
}

/// The page's origin and the media server (with the CORS layer for the page's origin when
/// `cors`), the proxy in front of it, and the page served with the proxy as its media origin.
struct Origins {
    page_url: String,
    server: Server,
    proxy: ThrottleProxy,
}

async fn two_origins(cors: bool) -> Origins {
    // Bound first: the media server must know the page's origin, and the page the media's.
    let page_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!("http://{}", page_listener.local_addr().unwrap());
    let root = media_tree();
    let args: &[&str] = match cors {
        true => &["--cors-origin", &page_origin],
        false => &[],
    };
    let server = Server::start_with_args(&root, args);
    let proxy = ThrottleProxy::start(server.addr, THROTTLE_BYTES_PER_SEC);
    let media_origin = proxy.url("");
    assert_ne!(media_origin, page_origin);
    let page = MemorySource::new(page_html(&media_origin))
        .with_content_type(HeaderValue::from_static("text/html; charset=utf-8"));
    support::serve_on(page_listener, RangeFileService::from_source(page));
    Origins {
        page_url: format!("{page_origin}/"),
        server,
        proxy,
    }
}

/// Everything that reached the media server, once the browser and the proxy are done.
async fn stop(origins: Origins, client: fantoccini::Client, driver: ChromeDriver) -> Vec<Access> {
    let _ = tokio::time::timeout(COMMAND_TIMEOUT, client.close()).await;
    drop(driver);
    origins.proxy.wait_idle(Duration::from_secs(10));
    drop(origins.proxy);
    let server = origins.server;
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver: cargo test --test browser_cors -- --ignored"]
async fn with_the_layer_a_page_on_another_origin_plays_seeks_and_shows_the_subtitle() {
    let programs = Programs::require();
    let origins = two_origins(true).await;
    let driver = ChromeDriver::start(&programs.chromedriver);
    let profile = support::temp_dir("browser-cors-profile-with");
    let client = driver.session(&programs.chromium, &profile).await;
    cmd(client.goto(&origins.page_url), "goto the page").await;
    let video = Page {
        client: &client,
        server: &origins.server,
        element: VIDEO.to_owned(),
    };
    video.install_event_log().await;
    video.play().await;
    let state = video
        .wait("currentTime > 1 s", |s| s.time > 1.0 && !s.paused)
        .await;
    let duration = state.duration.expect("a playing video has a duration");
    let shown = video
        .wait_until(
            "the cross-origin subtitle cue to show",
            "(() => {
               const track = el.querySelector('track'), text = el.textTracks[0];
               if (!text || text.mode !== 'showing' || track.readyState !== 2) return null;
               if (!text.activeCues || text.activeCues.length === 0) return null;
               return {mode: text.mode, readyState: track.readyState,
                       cue: text.activeCues[0].text, t: el.currentTime};
             })()",
        )
        .await;
    assert_eq!(shown["cue"], Value::from(CUE), "{shown}");
    // Near the end, seconds past what is buffered and past what the first response will
    // bring soon, so that Chromium asks for a range further on instead of waiting for it.
    let buffered_end = state.raw["buffered"]
        .as_array()
        .and_then(|ranges| ranges.last())
        .and_then(|range| range[1].as_f64())
        .unwrap_or(0.0);
    let target = duration - 1.5;
    assert!(
        target > buffered_end + 2.0,
        "the video buffered up to {buffered_end} s already: no seek past it is possible"
    );
    video
        .js(&format!("{VIDEO}.currentTime = {target}; return null;"))
        .await;
    video
        .wait(&format!("playing past {target:.1} s"), |s| {
            !s.seeking && s.time > target + 0.3 && !s.paused
        })
        .await;
    video.js(&format!("{VIDEO}.pause(); return null;")).await;
    let state = video.state().await;
    assert!(state.error.is_null(), "{}", state.error);
    eprintln!(
        "[browser_cors] with the layer: {shown}; state {}",
        state.raw
    );

    let accesses = stop(origins, client, driver).await;
    let asked =
        |path: &str| -> Vec<&Access> { accesses.iter().filter(|a| a.path == path).collect() };
    let video_requests = asked(VIDEO_PATH);
    eprintln!("[browser_cors] with the layer, what reached the server: {accesses:?}");
    assert!(
        video_requests
            .iter()
            .any(|a| a.range_start().is_some_and(|start| start > 0)),
        "no range past 0 for the video: {video_requests:?}"
    );
    // The media element's requests (Range, If-Range) are not preflighted, as the README says.
    let preflights: Vec<_> = accesses.iter().filter(|a| a.method == "OPTIONS").collect();
    assert!(
        preflights.is_empty(),
        "Chromium preflighted its media requests (the README says it does not): {preflights:?}"
    );
    let revalidation = |a: &Access| a.status == 304 && !a.conditions.is_empty();
    let wrong: Vec<_> = video_requests
        .iter()
        .filter(|a| !(a.status == 206 || revalidation(a)))
        .collect();
    assert!(
        wrong.is_empty(),
        "video requests not answered 206: {wrong:?}"
    );
    let track = asked(TRACK_PATH);
    assert!(
        track.iter().any(|a| a.method == "GET" && a.status == 200),
        "the subtitles were not served: {track:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver: cargo test --test browser_cors -- --ignored"]
async fn without_the_layer_the_cross_origin_track_and_video_fail() {
    let programs = Programs::require();
    let origins = two_origins(false).await;
    let driver = ChromeDriver::start(&programs.chromedriver);
    let profile = support::temp_dir("browser-cors-profile-without");
    let client = driver.session(&programs.chromium, &profile).await;
    cmd(client.goto(&origins.page_url), "goto the page").await;
    let video = Page {
        client: &client,
        server: &origins.server,
        element: VIDEO.to_owned(),
    };
    // Both refusals are the browser's: TextTrack ERROR (3) and a media error on the video.
    let failed = video
        .wait_until(
            "the cross-origin track and video to fail",
            "(() => {
               const track = el.querySelector('track');
               if (track.readyState !== 3 || !el.error) return null;
               return {trackReadyState: track.readyState, videoError: el.error.code,
                       message: el.error.message, networkState: el.networkState,
                       readyState: el.readyState};
             })()",
        )
        .await;
    eprintln!("[browser_cors] without the layer: {failed}");
    assert_eq!(failed["trackReadyState"], Value::from(3), "{failed}");
    // MEDIA_ERR_SRC_NOT_SUPPORTED: the only source failed its CORS check.
    assert_eq!(failed["videoError"], Value::from(4), "{failed}");
    assert_eq!(failed["readyState"], Value::from(0), "{failed}");

    // The server answered: the failure is the missing permission, not a missing file.
    let accesses = stop(origins, client, driver).await;
    eprintln!("[browser_cors] without the layer, what reached the server: {accesses:?}");
    for path in [VIDEO_PATH, TRACK_PATH] {
        assert!(
            accesses
                .iter()
                .any(|a| a.path == path && (a.status == 200 || a.status == 206)),
            "{path} was not served: {accesses:?}"
        );
    }
}
