//! The example server's `--metrics-addr`: the library's metrics in Prometheus text format at
//! `/metrics`, on a listener of its own so that it can stay private while the media is
//! public. The library records only when built with its `metrics` feature, so the endpoint
//! needs it too: `cargo run --example server --features metrics -- --metrics-addr
//! 127.0.0.1:9100`.

use std::net::SocketAddr;

/// Installs the Prometheus recorder and serves `/metrics` on `addr`; returns the address it
/// is bound to (the real port when `addr` asks for port 0). Exits with one line when it
/// cannot.
#[cfg(feature = "metrics")]
pub async fn start(addr: SocketAddr) -> SocketAddr {
    use metrics_exporter_prometheus::PrometheusBuilder;

    // Buckets, not summaries, so that the histograms of several replicas can be added up.
    let recorder = PrometheusBuilder::new()
        .set_buckets(HEAD_SECONDS_BUCKETS)
        .expect("the buckets are not empty")
        .install_recorder();
    let handle = match recorder {
        Ok(handle) => handle,
        Err(error) => crate::startup::fail(&format!("installing the metrics recorder: {error}")),
    };
    tower_range::metrics::describe();
    let (listener, bound) = crate::startup::bind(addr).await;
    // The recorder keeps histogram samples until upkeep folds them into the buckets; a
    // scrape does it too, but without scrapes they would pile up.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(serve(listener, handle));
    bound
}

/// Without the library's `metrics` feature nothing would be recorded: refuse the flag rather
/// than serve an empty page.
#[cfg(not(feature = "metrics"))]
pub async fn start(_addr: SocketAddr) -> SocketAddr {
    crate::startup::fail(
        "--metrics-addr needs the server built with the metrics feature: \
         cargo run --example server --features metrics -- --metrics-addr HOST:PORT",
    )
}

/// Bucket bounds of `tower_range_response_head_seconds`, in seconds: 100 µs (a cached open)
/// to 10 s (a hung disk or upstream).
#[cfg(feature = "metrics")]
const HEAD_SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Answers `GET /metrics` with the rendered metrics, anything else `404`, over HTTP/1.1.
#[cfg(feature = "metrics")]
async fn serve(
    listener: tokio::net::TcpListener,
    handle: metrics_exporter_prometheus::PrometheusHandle,
) {
    use std::convert::Infallible;
    use std::time::Duration;

    use bytes::Bytes;
    use http::{header, Method, Response, StatusCode};
    use http_body_util::Full;
    use hyper_util::rt::{TokioIo, TokioTimer};

    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handle = handle.clone();
        let service = hyper::service::service_fn(move |request: http::Request<_>| {
            let response = match (request.method(), request.uri().path()) {
                (&Method::GET, "/metrics") => Response::builder()
                    .header(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )
                    .body(Full::new(Bytes::from(handle.render()))),
                _ => Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(Full::new(Bytes::from_static(b"not found\n"))),
            };
            std::future::ready(Ok::<_, Infallible>(response.expect("a valid response")))
        });
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "metrics: connection ended with an error");
            }
        });
    }
}
