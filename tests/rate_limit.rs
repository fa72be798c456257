//! Per-stream rate limits: the rate measured over real TCP (HTTP/1.1 and HTTP/2) through the
//! example server's `--limit-rate` and `--limit-rate-after`, a throttled stream beside a free
//! one on one HTTP/2 connection, the send timeout of a slow throttled stream, and which limit
//! wins (request, file, service) on tokio's paused clock.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

use support::{bounded, content, request, serve, temp_file, Client, Protocol, Server};
use tower_range::rate::{RateLimit, SetRateLimitLayer};
use tower_range::{MemorySource, OpenError, Opened, RangeService, Resolver, Resources, Source};

/// The window the rate is measured over, after the allowance.
const WINDOW: Duration = Duration::from_secs(5);

/// When each piece of a body arrived, and the bytes received by then.
struct Arrivals(Vec<(Duration, u64)>);

impl Arrivals {
    /// Reads `response`'s body to its end, noting when each piece arrived (from `start`).
    async fn of(response: hyper::Response<Incoming>, start: Instant) -> Arrivals {
        let mut body = response.into_body();
        let mut received = 0;
        let mut arrivals = Vec::new();
        let deadline = start + Duration::from_secs(60);
        while let Some(frame) = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("the body took over a minute")
        {
            if let Ok(data) = frame.expect("the body failed").into_data() {
                received += data.len() as u64;
                arrivals.push((start.elapsed(), received));
            }
        }
        Arrivals(arrivals)
    }

    fn total(&self) -> u64 {
        self.0.last().map_or(0, |&(_, bytes)| bytes)
    }

    /// When the first `bytes` bytes had all arrived.
    fn time_to(&self, bytes: u64) -> Duration {
        self.0
            .iter()
            .find(|&&(_, received)| received >= bytes)
            .expect("the body is shorter")
            .0
    }

    /// Bytes a second from the first piece past `from` bytes, over [`WINDOW`].
    fn rate_after(&self, from: u64) -> f64 {
        let start = self
            .0
            .iter()
            .position(|&(_, received)| received > from)
            .expect("nothing arrived past the allowance");
        let (t0, b0) = self.0[start];
        let (t1, b1) = self.0[start..]
            .iter()
            .copied()
            .take_while(|&(t, _)| t <= t0 + WINDOW + Duration::from_millis(500))
            .last()
            .unwrap();
        assert!(
            t1 - t0 >= WINDOW - Duration::from_millis(500),
            "the throttled part lasted {:?}, not a {WINDOW:?} window",
            t1 - t0
        );
        (b1 - b0) as f64 / (t1 - t0).as_secs_f64()
    }
}

fn assert_rate_near(what: &str, measured: f64, rate: u64) {
    let ratio = measured / rate as f64;
    eprintln!("{what}: {measured:.0} B/s, {ratio:.4} × the limit");
    assert!(
        (0.9..=1.1).contains(&ratio),
        "{what}: {measured:.0} B/s is {ratio:.3} × the limit {rate} B/s (±10 % allowed)"
    );
}

/// Downloads `path` over a new connection of `protocol`, timing its pieces.
async fn timed_get(addr: SocketAddr, protocol: Protocol, path: &str) -> Arrivals {
    let mut client = Client::connect(addr, protocol).await;
    let start = Instant::now();
    let response = client.send(request("GET", path, &[])).await;
    assert_eq!(response.status(), 200);
    Arrivals::of(response, start).await
}

#[tokio::test]
async fn the_example_server_holds_each_stream_to_its_rate_after_a_full_speed_allowance() {
    const ALLOWANCE: u64 = 400 * 1024;
    // Two rates from 200 kB/s up, each over HTTP/1.1 and HTTP/2, at once (each a stream
    // of its own); the file holds the allowance and a little over the window at the rate.
    for rate in [200_000_u64, 1_000_000] {
        let len = ALLOWANCE + rate * (WINDOW.as_secs() + 1);
        let file = temp_file(
            "rate_limit_example",
            &format!("video-{rate}.mp4"),
            &content(len as usize),
        );
        let server = Server::start_with_args(
            &file,
            &[
                "--limit-rate",
                &rate.to_string(),
                "--limit-rate-after",
                "400k",
            ],
        );
        let (h1, h2) = tokio::join!(
            timed_get(server.addr, Protocol::Http1, "/video"),
            timed_get(server.addr, Protocol::Http2, "/video"),
        );
        for (protocol, arrivals) in [("HTTP/1.1", h1), ("HTTP/2", h2)] {
            let what = format!("{protocol} at {rate} B/s");
            assert_eq!(arrivals.total(), len, "{what}");
            // At the rate, the allowance would take two seconds or more.
            let allowance_time = arrivals.time_to(ALLOWANCE);
            assert!(
                allowance_time < Duration::from_millis(500),
                "{what}: the allowance took {allowance_time:?}, not full speed"
            );
            assert_rate_near(&what, arrivals.rate_after(ALLOWANCE), rate);
        }
    }
}

/// Serves 16 MiB at `/…`; a request with `?slow` is held to `rate`.
async fn one_slow_one_free(rate: u64) -> SocketAddr {
    let service = RangeService::from_source(MemorySource::new(content(16 << 20)));
    let choose =
        move |head: &Parts| (head.uri.query() == Some("slow")).then_some(RateLimit::new(rate));
    serve(SetRateLimitLayer::new(choose).layer(service)).await
}

#[tokio::test]
async fn a_throttled_stream_does_not_slow_another_on_the_same_http2_connection() {
    const RATE: u64 = 200_000;
    let addr = one_slow_one_free(RATE).await;
    let mut client = Client::connect(addr, Protocol::Http2).await;
    let start = Instant::now();
    let slow = client.send(request("GET", "/v?slow", &[])).await;
    let free = client.send(request("GET", "/v", &[])).await;
    // The slow stream is read for the window only: its body holds 80 s at the rate.
    let slow = tokio::spawn(async move {
        let mut body = slow.into_body();
        let mut arrivals = Vec::new();
        let mut received = 0;
        while start.elapsed() < WINDOW + Duration::from_secs(1) {
            let frame = bounded(body.frame()).await.unwrap().unwrap();
            received += frame.into_data().unwrap().len() as u64;
            arrivals.push((start.elapsed(), received));
        }
        Arrivals(arrivals)
    });
    let free = Arrivals::of(free, start).await;
    let free_time = free.time_to(16 << 20);
    let free_rate = (16 << 20) as f64 / free_time.as_secs_f64();
    let slow = slow.await.unwrap();
    // The free stream ran at many times the limit while the slow one was still going.
    assert!(
        free_rate > 10.0 * RATE as f64,
        "the free stream got {free_rate:.0} B/s beside a stream limited to {RATE}"
    );
    assert!(free_time < WINDOW, "the free stream took {free_time:?}");
    assert_rate_near("the slow stream", slow.rate_after(0), RATE);
}

#[tokio::test]
async fn a_stream_throttled_below_a_frame_per_send_timeout_is_not_cut() {
    // 1 KiB/s in frames of 4 KiB: a frame every 4 s, twice the send timeout. The server
    // counts a poll of the body as progress (hyper polls only when the connection has room),
    // and its watchdog's own wake-ups poll the connection; counting only frames handed on
    // cuts this stream after 2 s.
    let file = temp_file("rate_limit_slow", "video.mp4", &content(8 * 1024));
    let server = Server::start_with_args(&file, &["--limit-rate", "1k", "--send-timeout", "2"]);
    let arrivals = timed_get(server.addr, Protocol::Http1, "/video").await;
    assert_eq!(arrivals.total(), 8 * 1024, "the throttled stream was cut");
    let took = arrivals.time_to(8 * 1024);
    assert!(
        took >= Duration::from_secs(3),
        "the body came in {took:?}: it was not throttled, so the test proves nothing"
    );
    let log = server.stop();
    assert!(log.iter().all(|a| a.outcome == "complete"), "{log:?}");
}

/// A memory resolver whose `/limited` file carries a limit of its own.
struct FileLimits {
    source: MemorySource,
    limited: RateLimit,
}

impl Resolver for FileLimits {
    type Reader = <MemorySource as Source>::Reader;

    async fn resolve(
        &self,
        request: &Parts,
        resources: &Resources,
    ) -> Result<Opened<Self::Reader>, OpenError> {
        let opened = self.source.open(resources).await?;
        Ok(match request.uri.path() {
            "/limited" => opened.with_rate_limit(self.limited),
            _ => opened,
        })
    }
}

/// The time (on tokio's clock) the body of `path` takes, with `limit` in the request's
/// extensions if any; and the size of its frames.
async fn body_time(
    service: &RangeService<FileLimits>,
    path: &str,
    limit: Option<RateLimit>,
) -> (Duration, Vec<usize>) {
    let mut request = http::Request::get(path).body(()).unwrap();
    if let Some(limit) = limit {
        request.extensions_mut().insert(limit);
    }
    let start = Instant::now();
    let Ok(response) = service.clone().oneshot(request).await;
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.unwrap().into_data().unwrap().len());
    }
    (start.elapsed(), frames)
}

#[tokio::test(start_paused = true)]
async fn the_request_limit_wins_over_the_file_limit_which_wins_over_the_service_limit() {
    const LEN: usize = 409_600;
    let service = RangeService::from_resolver(FileLimits {
        source: MemorySource::new(Bytes::from(content(LEN))),
        limited: RateLimit::new(163_840),
    })
    .rate_limit(RateLimit::new(65_536));
    // Each rate's frames hold an eighth of a second of it; a body of LEN bytes takes
    // (LEN - one frame) / rate: its first frame goes at once.
    let expect = |rate: f64, frame: usize| Duration::from_secs_f64((LEN - frame) as f64 / rate);
    let cases = [
        ("service", "/plain", None, expect(65_536.0, 8_192), 8_192),
        ("file", "/limited", None, expect(163_840.0, 20_480), 20_480),
        (
            "request",
            "/limited",
            Some(RateLimit::new(131_072)),
            expect(131_072.0, 16_384),
            16_384,
        ),
        (
            "request lifting it",
            "/limited",
            Some(RateLimit::unlimited()),
            Duration::ZERO,
            65_536,
        ),
    ];
    for (which, path, limit, time, frame) in cases {
        let (took, frames) = body_time(&service, path, limit).await;
        assert_eq!(frames.iter().sum::<usize>(), LEN, "{which}");
        assert_eq!(frames[0], frame, "{which}: the frame size of its rate");
        let off = took.abs_diff(time);
        assert!(
            off <= Duration::from_millis(5),
            "{which}: the body took {took:?}, the rate gives {time:?}"
        );
    }
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn the_directory_policy_sets_a_limit_per_file() {
    use tower_range::dir::{DirResolver, FilePolicy, RangeDirService};
    let dir = support::temp_dir("rate_limit_policy");
    support::write(&dir.join("film.mp4"), &content(200_000));
    support::write(&dir.join("poster.jpg"), &content(200_000));
    // Films at 160 KiB/s (frames of 20 KiB); everything else free.
    let policy = |path: &std::path::Path, _: &tower_range::Metadata| match path.extension() {
        Some(ext) if ext == "mp4" => FilePolicy::default().rate_limit(RateLimit::new(163_840)),
        _ => FilePolicy::default(),
    };
    let service = RangeDirService::from_resolver(DirResolver::new(&dir).unwrap().policy(policy));
    for (path, frame, time) in [
        // Each frame waits for the ones before it: all but the last (15,680 bytes) at the rate.
        ("/film.mp4", 20_480, (200_000.0 - 15_680.0) / 163_840.0),
        ("/poster.jpg", 65_536, 0.0),
    ] {
        let start = Instant::now();
        let request = http::Request::get(path).body(()).unwrap();
        let Ok(response) = service.clone().oneshot(request).await;
        let mut body = response.into_body();
        let mut frames = Vec::new();
        while let Some(piece) = body.frame().await {
            frames.push(piece.unwrap().into_data().unwrap().len());
        }
        assert_eq!(frames.iter().sum::<usize>(), 200_000, "{path}");
        assert_eq!(frames[0], frame, "{path}: the frame size of its rate");
        let took = start.elapsed().as_secs_f64();
        assert!(
            (took - time).abs() < 0.01,
            "{path}: took {took} s, the rate gives {time} s"
        );
    }
}
