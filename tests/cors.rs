//! Cross-origin playback from the example server (`--cors-origin`), over real TCP without a
//! browser: the preflight a browser sends before a conditional or non-simple range request,
//! the CORS headers on `206`, `304` and error answers, a disallowed origin, the `Vary`
//! handling (none with `*` or one origin, `Vary: Origin` with several), and a server without
//! the option that sends no CORS headers at all. The browser side is `tests/browser_cors.rs`.

mod support;

use std::net::SocketAddr;
use std::process::Command;

use http::Method;
use support::{
    assert_same_bytes, example_binary, http1_client, http2_client, run, sample, sample_path, send,
    url_request, HttpClient, Reply, Server, LIMIT,
};

/// The origin of the page in these tests. Only a name: nothing listens there.
const PAGE: &str = "http://127.0.0.1:8081";
const OTHER_PAGE: &str = "http://127.0.0.1:8082";
const STRANGER: &str = "http://127.0.0.1:9999";

/// The example server with the bundled video at `/video` and `--cors-origin` for each origin.
fn start(origins: &[&str]) -> Server {
    let mut args = Vec::new();
    for origin in origins {
        args.extend(["--cors-origin", origin]);
    }
    Server::start_with_args(&sample_path(), &args)
}

async fn request(
    client: &HttpClient,
    method: Method,
    addr: SocketAddr,
    headers: &[(&str, &str)],
) -> Reply {
    send(client, url_request(method, addr, "/video", headers)).await
}

/// The preflight Chromium sends before a `GET` with `Range` and `If-None-Match` from `origin`.
async fn preflight(client: &HttpClient, addr: SocketAddr, origin: &str) -> Reply {
    request(
        client,
        Method::OPTIONS,
        addr,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range, if-none-match"),
        ],
    )
    .await
}

/// The elements of a comma-separated header, lower-cased, over all its field lines.
fn list(reply: &Reply, name: &str) -> Vec<String> {
    reply
        .headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.to_str().unwrap().split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

/// Asserts that `reply` carries no CORS header and no `Vary`.
#[track_caller]
fn assert_no_cors_headers(reply: &Reply) {
    let cors: Vec<_> = reply
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-") || *name == "vary")
        .collect();
    assert!(cors.is_empty(), "unexpected headers {cors:?} in {reply:?}");
}

#[tokio::test]
async fn a_preflight_is_answered_with_the_methods_headers_and_max_age_allowed() {
    let server = start(&[PAGE]);
    let client = http1_client();
    let reply = preflight(&client, server.addr, PAGE).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    let methods = list(&reply, "access-control-allow-methods");
    assert!(methods.contains(&"get".into()), "{methods:?}");
    assert!(methods.contains(&"head".into()), "{methods:?}");
    let headers = list(&reply, "access-control-allow-headers");
    for asked in ["range", "if-none-match", "if-range", "if-modified-since"] {
        assert!(headers.contains(&asked.into()), "{asked} in {headers:?}");
    }
    assert_eq!(reply.header("access-control-max-age"), Some("7200"));
    assert!(reply.body.is_empty());
    // One fixed origin: nothing in the answer depends on the request.
    assert_eq!(reply.header("vary"), None, "{reply:?}");
    // The preflight reached the access log; the routes never saw it.
    let logged = server.wait_for_accesses("/video", 1, LIMIT);
    assert_eq!(
        (logged[0].method.as_str(), logged[0].status),
        ("OPTIONS", 200)
    );
}

#[tokio::test]
async fn a_cross_origin_range_is_206_with_the_origin_allowed_and_its_headers_exposed() {
    let server = start(&[PAGE]);
    let sample = sample();
    for client in [http1_client(), http2_client()] {
        let reply = request(
            &client,
            Method::GET,
            server.addr,
            &[("Origin", PAGE), ("Range", "bytes=1000-1999")],
        )
        .await;
        assert_eq!(reply.status, 206, "{reply:?}");
        assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
        let exposed = list(&reply, "access-control-expose-headers");
        for name in ["content-range", "content-length", "accept-ranges", "etag"] {
            assert!(exposed.contains(&name.into()), "{name} in {exposed:?}");
        }
        let length = sample.len();
        assert_eq!(
            reply.header("content-range"),
            Some(format!("bytes 1000-1999/{length}").as_str())
        );
        assert_same_bytes("the range", &reply.body, &sample[1000..2000]);
        assert_eq!(reply.header("vary"), None, "{reply:?}");

        // Revalidation from the page: a 304 must carry the origin too, or the browser
        // refuses the cached copy it revalidated.
        let etag = reply.header("etag").expect("an ETag").to_owned();
        let reply = request(
            &client,
            Method::GET,
            server.addr,
            &[("Origin", PAGE), ("If-None-Match", &etag)],
        )
        .await;
        assert_eq!(reply.status, 304, "{reply:?}");
        assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    }
    // Errors too: a page can tell a missing file from a refused one.
    let reply = send(
        &http1_client(),
        url_request(Method::GET, server.addr, "/missing", &[("Origin", PAGE)]),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
}

#[tokio::test]
async fn with_one_origin_another_origin_is_never_named_and_nothing_varies() {
    let server = start(&[PAGE]);
    let client = http1_client();
    // The answer is the same for everyone: it names the one origin allowed, which a browser
    // on another origin does not accept; so one cached copy serves every client.
    for headers in [
        &[("Origin", STRANGER), ("Range", "bytes=0-99")][..],
        &[("Range", "bytes=0-99")][..],
    ] {
        let reply = request(&client, Method::GET, server.addr, headers).await;
        assert_eq!(reply.status, 206);
        assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
        assert_eq!(reply.header("vary"), None, "{reply:?}");
    }
    let reply = preflight(&client, server.addr, STRANGER).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
}

#[tokio::test]
async fn with_several_origins_the_origin_is_mirrored_and_varies() {
    let server = start(&[PAGE, OTHER_PAGE]);
    let client = http1_client();
    for origin in [PAGE, OTHER_PAGE] {
        let reply = request(
            &client,
            Method::GET,
            server.addr,
            &[("Origin", origin), ("Range", "bytes=0-99")],
        )
        .await;
        assert_eq!(reply.status, 206);
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        assert_eq!(list(&reply, "vary"), ["origin"], "{reply:?}");
        let reply = preflight(&client, server.addr, origin).await;
        assert_eq!(reply.header("access-control-allow-origin"), Some(origin));
        assert_eq!(list(&reply, "vary"), ["origin"], "{reply:?}");
    }
    // A disallowed origin gets the media (CORS is the browser's check) but no permission,
    // and the answer still says that it depends on Origin.
    let reply = request(
        &client,
        Method::GET,
        server.addr,
        &[("Origin", STRANGER), ("Range", "bytes=0-99")],
    )
    .await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("access-control-allow-origin"), None);
    assert_eq!(list(&reply, "vary"), ["origin"], "{reply:?}");
    let reply = preflight(&client, server.addr, STRANGER).await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn any_origin_is_a_star_on_every_answer_and_nothing_varies() {
    let server = start(&["*"]);
    let client = http1_client();
    let reply = request(
        &client,
        Method::GET,
        server.addr,
        &[("Origin", STRANGER), ("Range", "bytes=0-99")],
    )
    .await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(list(&reply, "access-control-expose-headers").contains(&"content-range".into()));
    assert_eq!(reply.header("vary"), None, "{reply:?}");
    let reply = preflight(&client, server.addr, STRANGER).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(list(&reply, "access-control-allow-headers").contains(&"range".into()));
    assert_eq!(reply.header("vary"), None, "{reply:?}");
}

#[tokio::test]
async fn without_the_option_there_are_no_cors_headers_and_options_is_405() {
    let server = Server::start(&sample_path());
    let client = http1_client();
    let reply = request(
        &client,
        Method::GET,
        server.addr,
        &[("Origin", PAGE), ("Range", "bytes=0-99")],
    )
    .await;
    assert_eq!(reply.status, 206);
    assert_no_cors_headers(&reply);
    let reply = preflight(&client, server.addr, PAGE).await;
    assert_eq!(reply.status, 405, "{reply:?}");
    assert_no_cors_headers(&reply);
}

#[test]
fn an_origin_with_a_path_is_refused_before_binding() {
    for origin in ["http://127.0.0.1:8081/", "127.0.0.1:8081", "http://"] {
        let output = run(
            Command::new(example_binary("server"))
                .args(["--cors-origin", origin, "--addr", "127.0.0.1:0"])
                .env("RUST_LOG", "warn"),
            LIMIT,
        );
        assert_eq!(output.status.code(), Some(1), "{origin}");
        assert!(output.stdout.is_empty(), "it must not print a URL");
        let stderr = output.stderr_text();
        assert!(
            stderr.starts_with(&format!("error: --cors-origin {origin:?}")),
            "{stderr}"
        );
    }
}
