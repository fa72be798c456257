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
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use support::{Access, ChildGuard, Server, ThrottleProxy};

/// Server→browser bytes per second per connection through the proxy. The files are about
/// 1 MB for 10 s (~110 KB/s), so playback keeps up while a whole file takes ~4 s to arrive.
const THROTTLE_BYTES_PER_SEC: u64 = 300_000;
/// The longest any single wait for the browser may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(25);
/// The longest a single WebDriver command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

const CHROMIUM_HINT: &str = "chromium";
const CHROMEDRIVER_HINT: &str = "chromium-driver";

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

/// The `<video>` element's state, as read through WebDriver.
#[derive(Debug)]
struct State {
    time: f64,
    duration: Option<f64>,
    paused: bool,
    ended: bool,
    seeking: bool,
    error: Value,
    raw: Value,
}

struct Page<'a> {
    client: &'a Client,
    server: &'a Server,
}

impl Page<'_> {
    async fn js(&self, script: &str) -> Value {
        cmd(self.client.execute(script, vec![]), script).await
    }

    /// Records media events in `window.__ev` (cleared by the test between steps).
    async fn install_event_log(&self) {
        self.js(&format!(
            "const v = {VIDEO}; window.__ev = [];
             for (const type of ['loadedmetadata', 'canplay', 'playing', 'waiting', 'seeking',
                                 'seeked', 'timeupdate', 'ended', 'pause', 'error', 'stalled']) {{
               v.addEventListener(type, () => window.__ev.push(
                 {{type, t: v.currentTime, rs: v.readyState, at: Math.round(performance.now())}}));
             }}
             return null;"
        ))
        .await;
    }

    async fn event_log(&self) -> Vec<Value> {
        match self.js("return window.__ev || [];").await {
            Value::Array(events) => events,
            other => panic!("event log: {other}"),
        }
    }

    async fn play(&self) {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             {VIDEO}.play().then(() => done('ok'), e => done('play() failed: ' + e));"
        );
        let result = cmd(self.client.execute_async(&script, vec![]), "play()").await;
        assert_eq!(result, json!("ok"), "{result}");
    }

    async fn state(&self) -> State {
        let raw = self
            .js(&format!(
                "const v = {VIDEO};
                 const b = [];
                 for (let i = 0; i < v.buffered.length; i++) b.push([v.buffered.start(i), v.buffered.end(i)]);
                 return {{t: v.currentTime, d: v.duration, paused: v.paused, ended: v.ended,
                          seeking: v.seeking, rs: v.readyState, ns: v.networkState, buffered: b,
                          error: v.error ? {{code: v.error.code, message: v.error.message}} : null}};"
            ))
            .await;
        State {
            time: raw["t"].as_f64().unwrap_or(f64::NAN),
            duration: raw["d"].as_f64().filter(|d| d.is_finite() && *d > 0.0),
            paused: raw["paused"].as_bool().unwrap_or(true),
            ended: raw["ended"].as_bool().unwrap_or(false),
            seeking: raw["seeking"].as_bool().unwrap_or(false),
            error: raw["error"].clone(),
            raw,
        }
    }

    /// Polls the video until `done` holds, failing on a media error or after [`STEP_TIMEOUT`].
    async fn wait(&self, what: &str, done: impl Fn(&State) -> bool) -> State {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let state = self.state().await;
            if !state.error.is_null() {
                panic!(
                    "media error while waiting for {what}: {}\nstate: {}\nevents: {:?}\nserver:\n{}",
                    state.error,
                    state.raw,
                    self.event_log().await,
                    self.server.stderr_text()
                );
            }
            if done(&state) {
                return state;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {STEP_TIMEOUT:?} waiting for {what}\nstate: {}\nevents: {:?}\nserver:\n{}",
                    state.raw,
                    self.event_log().await,
                    self.server.stderr_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Draws the current frame on a canvas and measures how much its pixels vary.
    async fn frame_stats(&self) -> Value {
        self.js(&format!(
            "const v = {VIDEO};
             const c = document.createElement('canvas');
             c.width = v.videoWidth; c.height = v.videoHeight;
             const ctx = c.getContext('2d');
             ctx.drawImage(v, 0, 0);
             const d = ctx.getImageData(0, 0, c.width, c.height).data;
             let n = 0, sum = 0, sum2 = 0;
             const colours = new Set();
             for (let i = 0; i < d.length; i += 4) {{
               const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
               sum += y; sum2 += y * y; n++;
               if (colours.size < 4096) colours.add((d[i] >> 3) << 10 | (d[i + 1] >> 3) << 5 | (d[i + 2] >> 3));
             }}
             const mean = sum / n;
             return {{w: c.width, h: c.height, mean, stddev: Math.sqrt(Math.max(0, sum2 / n - mean * mean)),
                      distinct: colours.size}};"
        ))
        .await
    }
}

/// Awaits a WebDriver command with a deadline.
async fn cmd<T, E: std::fmt::Debug>(
    fut: impl std::future::Future<Output = Result<T, E>>,
    what: &str,
) -> T {
    match tokio::time::timeout(COMMAND_TIMEOUT, fut).await {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => panic!("WebDriver command {what:?} failed: {error:?}"),
        Err(_) => panic!("WebDriver command {what:?} took more than {COMMAND_TIMEOUT:?}"),
    }
}

/// The browser and its driver, found before anything else so that a machine without them
/// fails with a message that names them.
struct Programs {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Programs {
    fn require() -> Programs {
        Programs {
            chromium: find_chromium(),
            chromedriver: support::require_program("chromedriver", CHROMEDRIVER_HINT),
        }
    }
}

fn find_chromium() -> PathBuf {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return support::require_program(&path, CHROMIUM_HINT);
    }
    ["chromium", "chromium-browser"]
        .iter()
        .find_map(|p| support::find_program(p))
        .unwrap_or_else(|| {
            support::require_program("chromium", CHROMIUM_HINT);
            unreachable!()
        })
}

/// `chromedriver --port=0`, in its own process group so that the browsers it starts die
/// with it.
struct ChromeDriver {
    child: ChildGuard,
    port: u16,
    _output: Arc<Mutex<Vec<String>>>,
}

impl ChromeDriver {
    fn start(binary: &Path) -> ChromeDriver {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(binary)
            .args(["--port=0", "--log-level=WARNING"])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let child = ChildGuard(Some(child));
        let output = Arc::new(Mutex::new(Vec::new()));
        let (port, _reader) =
            support::first_line_matching(stdout, Duration::from_secs(20), output.clone(), |line| {
                line.split("started successfully on port ")
                    .nth(1)
                    .and_then(|p| p.trim_end_matches('.').trim().parse::<u16>().ok())
            });
        let port = port.unwrap_or_else(|| {
            panic!(
                "{} did not report its port within 20 s: {:?}",
                binary.display(),
                output.lock().unwrap()
            )
        });
        ChromeDriver {
            child,
            port,
            _output: output,
        }
    }

    /// A WebDriver session with a headless Chromium on a fresh, empty profile.
    async fn session(&self, chromium: &Path, profile: &Path) -> Client {
        let _ = std::fs::remove_dir_all(profile);
        std::fs::create_dir_all(profile).unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-proxy-server".to_owned(),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            "--mute-audio".to_owned(),
            "--window-size=800,600".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": args,
            },
            "timeouts": { "script": 20_000, "pageLoad": 20_000, "implicit": 0 },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let url = format!("http://127.0.0.1:{}", self.port);
        let connect = async {
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&url)
                .await
        };
        match tokio::time::timeout(Duration::from_secs(40), connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => panic!(
                "chromedriver could not start {}: {error}",
                chromium.display()
            ),
            Err(_) => panic!("starting {} took more than 40 s", chromium.display()),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let pid = self.child.id();
        if pid != 0 {
            // The whole group: chromedriver and any browser it left behind.
            support::signal_group(pid, libc::SIGKILL);
        }
    }
}
