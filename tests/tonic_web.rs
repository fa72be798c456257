//! tower-range beside tonic-web on one port, over real TCP: gRPC-web calls made by hand over
//! HTTP/1.1, native gRPC over h2c, and the page and `/video` with ranges. The router is the
//! example's own (`examples/support/tonic_web_app.rs`); the last test runs the example binary.

mod support;

#[path = "../examples/support/tonic_web_app.rs"]
#[allow(dead_code)]
mod tonic_web_app;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::Full;

use support::{
    get, http1_client, http2_client, sample, sample_path, send, serve_router, temp_file, Server,
    LIMIT,
};
use tonic_web_app::{grpc_web_frame, health_check_request, VIDEO_HEALTH};

const SERVING: u64 = 1;
const NOT_SERVING: u64 = 2;

/// What a gRPC-web call returned.
#[derive(Debug)]
struct GrpcWebReply {
    version: Version,
    http_status: StatusCode,
    messages: Vec<Vec<u8>>,
    /// From the trailer frame, or from the headers for a trailers-only answer.
    grpc_status: Option<String>,
}

/// Calls `method` of the health service as a browser's gRPC-web client does, over HTTP/1.1.
async fn grpc_web_call(addr: SocketAddr, path: &str, message: &[u8]) -> GrpcWebReply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc-web+proto")
        .header("accept", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(Full::new(Bytes::from(grpc_web_frame(message))))
        .unwrap();
    let reply = send(&http1_client(), request).await;
    let mut messages = Vec::new();
    let mut trailers = HashMap::new();
    let mut rest = &reply.body[..];
    while !rest.is_empty() {
        assert!(rest.len() >= 5, "a frame header: {rest:?}");
        let flag = rest[0];
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let payload = &rest[5..5 + len];
        if flag & 0x80 == 0 {
            messages.push(payload.to_vec());
        } else {
            for line in std::str::from_utf8(payload).unwrap().split("\r\n") {
                if let Some((name, value)) = line.split_once(':') {
                    trailers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
        }
        rest = &rest[5 + len..];
    }
    if reply.status == StatusCode::OK {
        assert!(reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web"));
    }
    let grpc_status = trailers.get("grpc-status").cloned().or_else(|| {
        reply
            .headers
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned())
    });
    GrpcWebReply {
        version: reply.version,
        http_status: reply.status,
        messages,
        grpc_status,
    }
}

/// The `status` (field 1, a varint) of a `HealthCheckResponse`; absent means 0, `UNKNOWN`.
fn health_status(message: &[u8]) -> u64 {
    match message {
        [] => 0,
        [0x08, status] if *status < 0x80 => u64::from(*status),
        other => panic!("not a HealthCheckResponse: {other:?}"),
    }
}

async fn health_check(addr: SocketAddr, service: &str) -> GrpcWebReply {
    grpc_web_call(
        addr,
        "/grpc.health.v1.Health/Check",
        &health_check_request(service),
    )
    .await
}

#[tokio::test]
async fn a_grpc_web_health_check_and_a_video_range_share_one_port() {
    let (app, _reporter) = tonic_web_app::app(&sample_path()).await;
    let addr = serve_router(app).await;
    let sample = sample();

    for service in ["", VIDEO_HEALTH] {
        let reply = health_check(addr, service).await;
        assert_eq!(reply.version, Version::HTTP_11);
        assert_eq!(reply.http_status, StatusCode::OK);
        assert_eq!(reply.grpc_status.as_deref(), Some("0"), "{reply:?}");
        assert_eq!(reply.messages.len(), 1, "{reply:?}");
        assert_eq!(health_status(&reply.messages[0]), SERVING);
    }

    let client = http1_client();
    let range = get(&client, addr, "/video", &[("range", "bytes=1000-1999")]).await;
    assert_eq!(range.version, Version::HTTP_11);
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        range.headers["content-range"],
        format!("bytes 1000-1999/{}", sample.len()).as_str()
    );
    assert_eq!(range.body, sample[1000..2000]);

    let whole = get(&client, addr, "/video", &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body, sample);

    let page = get(&client, addr, "/", &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(html.contains("<source src=\"/video\" type=\"video/mp4\">"));
    assert!(html.contains("/grpc.health.v1.Health/Check"));
    // The page's hand-made request is the one the test sends.
    let js_request = grpc_web_frame(&health_check_request(VIDEO_HEALTH))
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",");
    assert!(html.contains(&format!("new Uint8Array([{js_request}])")));
}

#[tokio::test]
async fn grpc_errors_and_http_errors_stay_in_their_lanes() {
    let (app, _reporter) = tonic_web_app::app(&sample_path()).await;
    let addr = serve_router(app).await;

    // An unknown health entry: gRPC NOT_FOUND (5).
    let unknown = health_check(addr, "nope").await;
    assert_eq!(unknown.http_status, StatusCode::OK);
    assert_eq!(unknown.grpc_status.as_deref(), Some("5"), "{unknown:?}");
    assert!(unknown.messages.is_empty());

    // An unknown method: gRPC UNIMPLEMENTED (12), from our fallback.
    let unimplemented = grpc_web_call(addr, "/pkg.Nope/Call", &[]).await;
    assert_eq!(unimplemented.grpc_status.as_deref(), Some("12"));

    // Plain HTTP/1.1 to the gRPC route gets tonic-web's 400: the reason the file routes are
    // mounted beside the layer and not behind it.
    let client = http1_client();
    let plain = get(&client, addr, "/grpc.health.v1.Health/Check", &[]).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);

    // A browser's unknown path: a plain 404, not a gRPC answer.
    let missing = get(&client, addr, "/nope", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.headers.get("grpc-status").is_none());

    // The video's own errors are the service's.
    let unsatisfiable = get(&client, addr, "/video", &[("range", "bytes=99999999-")]).await;
    assert_eq!(unsatisfiable.status, StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn native_grpc_over_h2c_on_the_same_port() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let (app, _reporter) = tonic_web_app::app(&sample_path()).await;
    let addr = serve_router(app).await;

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(LIMIT)
        .timeout(LIMIT)
        .connect()
        .await
        .expect("an h2c connection");
    let mut health = HealthClient::new(channel);
    let response = tokio::time::timeout(
        LIMIT,
        health.check(HealthCheckRequest {
            service: VIDEO_HEALTH.into(),
        }),
    )
    .await
    .unwrap()
    .expect("a health answer");
    assert_eq!(response.into_inner().status, SERVING as i32);

    let range = get(&http2_client(), addr, "/video", &[("range", "bytes=-100")]).await;
    assert_eq!(range.version, Version::HTTP_2);
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    let sample = sample();
    assert_eq!(range.body, sample[sample.len() - 100..]);
}

#[tokio::test]
async fn the_video_health_follows_the_file() {
    let video = temp_file("video-health", "clip.mp4", b"not really a video");
    let (app, _reporter) = tonic_web_app::app(&video).await;
    let addr = serve_router(app).await;

    let reply = health_check(addr, VIDEO_HEALTH).await;
    assert_eq!(health_status(&reply.messages[0]), SERVING);

    std::fs::remove_file(&video).unwrap();
    let missing = get(&http1_client(), addr, "/video", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // The status is checked every 5 s.
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let reply = health_check(addr, VIDEO_HEALTH).await;
        if health_status(&reply.messages[0]) == NOT_SERVING {
            break;
        }
        assert!(Instant::now() < deadline, "still {reply:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_example_prints_its_url_serves_both_and_stops_on_sigterm() {
    let example = Server::start_example("tonic_web", &[], &[]);
    example.assert_serving(&sample_path());
    let addr = example.addr;
    let second = &example.stdout_lines(2, LIMIT)[1];
    assert!(
        second.starts_with("gRPC and gRPC-web: grpc.health.v1.Health at http://"),
        "{second}"
    );

    let reply = health_check(addr, "").await;
    assert_eq!(health_status(&reply.messages[0]), SERVING);
    let range = get(&http1_client(), addr, "/video", &[("range", "bytes=0-99")]).await;
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.body, sample()[..100]);

    let status = example
        .stop_with_async(libc::SIGTERM, LIMIT)
        .await
        .expect("the example did not stop on SIGTERM");
    assert!(status.success(), "{status}");
}
