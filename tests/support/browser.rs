//! Driving Debian's headless Chromium through chromedriver (WebDriver, with fantoccini): the
//! driver process, a session on a fresh profile, and a page's media element (play, seek,
//! wait for a state, the event log, how much the current frame varies).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

use super::{ChildGuard, Server};

/// The longest any single wait for the browser may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(25);
/// The longest a single WebDriver command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

const CHROMIUM_HINT: &str = "chromium";
const CHROMEDRIVER_HINT: &str = "chromium-driver";

/// A media element's state, as read through WebDriver.
#[derive(Debug)]
pub struct State {
    pub time: f64,
    pub duration: Option<f64>,
    pub paused: bool,
    pub ended: bool,
    pub seeking: bool,
    pub error: Value,
    pub raw: Value,
}

/// A page in the browser and one media element on it (`element`: a JavaScript expression
/// that finds it, such as `document.getElementById('video')`).
pub struct Page<'a> {
    pub client: &'a Client,
    pub server: &'a Server,
    pub element: String,
}

impl Page<'_> {
    pub async fn js(&self, script: &str) -> Value {
        cmd(self.client.execute(script, vec![]), script).await
    }

    /// Records media events in `window.__ev` (cleared by the test between steps).
    pub async fn install_event_log(&self) {
        let el = &self.element;
        self.js(&format!(
            "const v = {el}; window.__ev = [];
             for (const type of ['loadedmetadata', 'canplay', 'playing', 'waiting', 'seeking',
                                 'seeked', 'timeupdate', 'ended', 'pause', 'error', 'stalled']) {{
               v.addEventListener(type, () => window.__ev.push(
                 {{type, t: v.currentTime, rs: v.readyState, at: Math.round(performance.now())}}));
             }}
             return null;"
        ))
        .await;
    }

    pub async fn event_log(&self) -> Vec<Value> {
        match self.js("return window.__ev || [];").await {
            Value::Array(events) => events,
            other => panic!("event log: {other}"),
        }
    }

    pub async fn play(&self) {
        let el = &self.element;
        let script = format!(
            "const done = arguments[arguments.length - 1];
             {el}.play().then(() => done('ok'), e => done('play() failed: ' + e));"
        );
        let result = cmd(self.client.execute_async(&script, vec![]), "play()").await;
        assert_eq!(result, json!("ok"), "{result}");
    }

    pub async fn state(&self) -> State {
        let el = &self.element;
        let raw = self
            .js(&format!(
                "const v = {el};
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
    pub async fn wait(&self, what: &str, done: impl Fn(&State) -> bool) -> State {
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

    /// Polls the JavaScript expression `condition` (on this page, which may read the element
    /// as `el`) until it is truthy, and returns its value; fails after [`STEP_TIMEOUT`] with
    /// its last value and the element's state. Unlike [`Page::wait`], a media error is no
    /// failure here: it may be what the test waits for.
    pub async fn wait_until(&self, what: &str, condition: &str) -> Value {
        let script = format!("const el = {}; return ({condition});", self.element);
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let value = self.js(&script).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {STEP_TIMEOUT:?} waiting for {what} ({condition}): last {value}\nstate: {}\nserver:\n{}",
                    self.state().await.raw,
                    self.server.stderr_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Draws the current frame on a canvas and measures how much its pixels vary.
    pub async fn frame_stats(&self) -> Value {
        let el = &self.element;
        self.js(&format!(
            "const v = {el};
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
pub async fn cmd<T, E: std::fmt::Debug>(
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
pub struct Programs {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Programs {
    pub fn require() -> Programs {
        Programs {
            chromium: find_chromium(),
            chromedriver: super::require_program("chromedriver", CHROMEDRIVER_HINT),
        }
    }
}

fn find_chromium() -> PathBuf {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return super::require_program(&path, CHROMIUM_HINT);
    }
    ["chromium", "chromium-browser"]
        .iter()
        .find_map(|p| super::find_program(p))
        .unwrap_or_else(|| {
            super::require_program("chromium", CHROMIUM_HINT);
            unreachable!()
        })
}

/// `chromedriver --port=0`, in its own process group so that the browsers it starts die
/// with it.
pub struct ChromeDriver {
    child: ChildGuard,
    port: u16,
    _output: Arc<Mutex<Vec<String>>>,
}

impl ChromeDriver {
    pub fn start(binary: &Path) -> ChromeDriver {
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
            super::first_line_matching(stdout, Duration::from_secs(20), output.clone(), |line| {
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
    pub async fn session(&self, chromium: &Path, profile: &Path) -> Client {
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
            super::signal_group(pid, libc::SIGKILL);
        }
    }
}
