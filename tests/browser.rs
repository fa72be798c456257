//! Headless Chromium plays `/video` from the example server and seeks in it.
//!
//! For each of three files (faststart MP4, MP4 with `moov` at the end, VP9/Opus WebM) a test
//! starts the example server on 127.0.0.1:0, puts a throttling TCP proxy in front of it (so
//! that on loopback Chromium really has to issue range requests instead of receiving a small
//! file whole), drives Debian's `chromium` through `chromedriver` (WebDriver, with
//! fantoccini), and checks playback, seeking, the decoded frame, and that every request for
//! `/video` that reached the server was answered `206`.
//!
//! These tests need programs a fresh machine lacks, so they are ignored by default:
//!
//! ```text
//! apt-get install -y chromium chromium-driver ffmpeg
//! cargo test --test browser -- --ignored
//! ```
//!
//! Without those programs they fail with a message naming the package; they never pass by
//! skipping. Set `BROWSER_TEST_VERBOSE=1` to print Chromium's range requests.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{cmd, Access, ChromeDriver, Page, Programs, Server, ThrottleProxy, COMMAND_TIMEOUT};

/// Server→browser bytes per second per connection through the proxy. The files are about
/// 1 MB for 10 s (~110 KB/s), so playback keeps up while a whole file takes ~4 s to arrive.
const THROTTLE_BYTES_PER_SEC: u64 = 300_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver, ffmpeg: cargo test --test browser -- --ignored"]
async fn faststart_mp4_plays_seeks_and_is_served_206() {
    let programs = Programs::require();
    let media = support::test_media();
    let run = play_and_seek(&programs, "faststart-mp4", &media.faststart_mp4).await;
    run.report();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver, ffmpeg: cargo test --test browser -- --ignored"]
async fn moov_at_end_mp4_is_fetched_by_tail_range_and_plays() {
    let programs = Programs::require();
    let media = support::test_media();
    let file = &media.moov_at_end_mp4;
    let moov = support::moov_offset(file);
    let len = std::fs::metadata(file).unwrap().len();
    assert!(
        moov > len / 2,
        "{}: moov at {moov} is not at the end",
        file.display()
    );
    let run = play_and_seek(&programs, "moov-at-end-mp4", file).await;
    run.report();
    // Chromium must have asked for the tail, where the index is, by a Range whose first byte
    // lies at or before the moov box and after the start of the media data.
    let tail = run.video.iter().find(|a| {
        a.range_start()
            .is_some_and(|start| start > len / 2 && start <= moov)
    });
    assert!(
        tail.is_some(),
        "no tail Range request covering moov at {moov} (file length {len}); requests for /video:\n{}",
        run.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver, ffmpeg: cargo test --test browser -- --ignored"]
async fn vp9_opus_webm_plays_seeks_and_is_served_206() {
    let programs = Programs::require();
    let media = support::test_media();
    let run = play_and_seek(&programs, "vp9-opus-webm", &media.vp9_opus_webm).await;
    run.report();
}

/// What one playback test saw.
struct Run {
    name: String,
    /// The server-side access-log entries for `/video`, in the order they ended.
    video: Vec<Access>,
    elapsed: Duration,
    screenshot: PathBuf,
}

impl Run {
    fn describe(&self) -> String {
        self.video
            .iter()
            .map(|a| {
                format!(
                    "  {} range={} status={} bytes={} {} if={}",
                    a.method,
                    a.range.as_deref().unwrap_or("-"),
                    a.status,
                    a.bytes,
                    a.outcome,
                    a.conditions.join(",")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn report(&self) {
        eprintln!(
            "[browser] {}: {} request(s) for /video reached the server in {:.1?}, screenshot {}:\n{}",
            self.name,
            self.video.len(),
            self.elapsed,
            self.screenshot.display(),
            self.describe()
        );
    }
}

/// The whole scenario for one file: play muted until 2 s, seek to `duration - 2` and play to
/// the end, seek to 1 s and play on, check `video.error`, the frame and the server's answers.
async fn play_and_seek(programs: &Programs, name: &str, video: &Path) -> Run {
    let started = Instant::now();
    let dir = support::temp_dir(&format!("browser-{name}"));

    let server = Server::start(video);
    let proxy = ThrottleProxy::start(server.addr, THROTTLE_BYTES_PER_SEC);
    let driver = ChromeDriver::start(&programs.chromedriver);
    let client = driver
        .session(&programs.chromium, &dir.join("profile"))
        .await;
    let page = Page {
        client: &client,
        server: &server,
        element: VIDEO.to_owned(),
    };

    let outcome = async {
        let url = proxy.url("/");
        cmd(client.goto(&url), "goto /").await;
        page.install_event_log().await;

        let mime = if video.extension().is_some_and(|e| e == "webm") {
            r#"video/webm; codecs="vp9, opus""#
        } else {
            r#"video/mp4; codecs="avc1.64001F, mp4a.40.2""#
        };
        let can_play = page
            .js(&format!("return {}.canPlayType({mime:?});", VIDEO))
            .await;
        assert!(
            matches!(can_play.as_str(), Some("probably" | "maybe")),
            "this Chromium cannot play {mime} (canPlayType: {can_play}); Debian's chromium \
             should have proprietary codecs enabled"
        );

        // 1. Play muted until currentTime passes 2 s.
        page.play().await;
        let s = page
            .wait("currentTime > 2 s", |s| s.time > 2.0 && !s.paused)
            .await;
        let duration = s.duration.expect("a playing video has a duration");
        assert!(
            (9.0..=11.0).contains(&duration),
            "duration {duration} s, expected about 10 s"
        );

        // 2. Seek to duration - 2 and see playback reach the end.
        let target = duration - 2.0;
        page.js(&format!("{VIDEO}.currentTime = {target}; return null;"))
            .await;
        let s = page
            .wait("the end after seeking to duration - 2", |s| s.ended)
            .await;
        assert!(
            s.time >= duration - 0.25,
            "ended at currentTime {} of {duration}",
            s.time
        );
        let log = page.event_log().await;
        let played_from_target = log.iter().any(|e| {
            e["type"] == "timeupdate"
                && e["t"]
                    .as_f64()
                    .is_some_and(|t| t > target + 0.5 && t < duration - 0.1)
        });
        assert!(
            played_from_target,
            "no timeupdate between {target} s and the end: playback jumped to the end \
             instead of playing there; events: {log:?}"
        );

        // 3. Seek back to 1 s and see it play from there.
        page.js(&format!(
            "window.__ev = []; {VIDEO}.currentTime = 1; return null;"
        ))
        .await;
        page.wait("the seek to 1 s", |s| {
            !s.seeking && (0.9..1.5).contains(&s.time)
        })
        .await;
        page.play().await;
        let s = page
            .wait("currentTime > 2 s after seeking to 1 s", |s| {
                s.time > 2.0 && !s.paused
            })
            .await;
        assert!(
            s.time < 6.0,
            "after seeking to 1 s, currentTime is {}",
            s.time
        );
        let log = page.event_log().await;
        assert!(
            log.iter().any(|e| e["type"] == "seeked"
                && e["t"].as_f64().is_some_and(|t| (0.9..1.5).contains(&t))),
            "no seeked event at 1 s: {log:?}"
        );

        // 4. No media error, and the decoded frame is not blank.
        page.js(&format!("{VIDEO}.pause(); return null;")).await;
        let state = page.state().await;
        assert!(state.error.is_null(), "video.error = {}", state.error);
        let frame = page.frame_stats().await;
        let (w, h) = (frame["w"].as_u64().unwrap(), frame["h"].as_u64().unwrap());
        assert_eq!((w, h), (640, 360), "video size: {frame}");
        let stddev = frame["stddev"].as_f64().unwrap();
        let distinct = frame["distinct"].as_u64().unwrap();
        assert!(
            stddev > 10.0 && distinct > 16,
            "the current frame is blank or uniform: {frame}"
        );

        // 5. Screenshot.
        let png = cmd(client.screenshot(), "screenshot").await;
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let screenshot = shots.join(format!("{name}.png"));
        support::write(&screenshot, &png);
        screenshot
    }
    .await;

    // Close the browser, so that every connection ends, then stop the server so that each
    // response has been logged, and look at what reached it.
    let _ = tokio::time::timeout(COMMAND_TIMEOUT, client.close()).await;
    drop(driver);
    let idle = proxy.wait_idle(Duration::from_secs(10));
    let accepted = proxy.accepted();
    drop(proxy);
    let accesses = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(
        idle,
        "connections through the proxy stayed open after the browser closed"
    );
    let video: Vec<Access> = accesses
        .into_iter()
        .filter(|a| a.path == "/video")
        .collect();
    let run = Run {
        name: name.to_owned(),
        video,
        elapsed: started.elapsed(),
        screenshot: outcome,
    };
    if std::env::var_os("BROWSER_TEST_VERBOSE").is_some() {
        eprintln!("[browser] {name}: {accepted} connection(s) through the proxy");
    }
    assert!(
        !run.video.is_empty(),
        "no request for /video reached the server"
    );
    // Every request for the video is answered 206, except Chromium's revalidations of ranges
    // it has cached: those carry its validator, and RFC 9110 §13.2.2 answers them 304 (before
    // Range is looked at), as nginx and Go do.
    let revalidation = |a: &Access| {
        a.status == 304
            && a.conditions
                .iter()
                .any(|c| c == "none-match" || c == "modified-since")
    };
    let not_206: Vec<&Access> = run
        .video
        .iter()
        .filter(|a| a.status != 206 && !revalidation(a))
        .collect();
    assert!(
        not_206.is_empty(),
        "requests for /video not answered 206: {not_206:?}\nall:\n{}",
        run.describe()
    );
    assert!(run.video.iter().any(|a| a.status == 206));
    assert!(
        run.video.iter().all(|a| a.range.is_some()),
        "Chromium sent a request for /video without Range:\n{}",
        run.describe()
    );
    run
}

const VIDEO: &str = "document.getElementById('video')";
