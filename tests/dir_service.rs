//! The directory service over real TCP: awkward names served byte-exact at their
//! percent-encoded URLs with ranges and conditionals, the per-file policy and
//! `Content-Disposition` on 200, 206 and 304, `nosniff`, files replaced and added while the
//! server runs, and mounting under a prefix with axum's `nest_service`.
#![cfg(target_os = "linux")]

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use support::{
    bounded, content, header, percent_encode, request, serve, temp_dir, Client, Protocol,
};
use tower_range::dir::{DirResolver, RangeDirService};

async fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (http::response::Parts, Bytes) {
    support::fetch_path(addr, Protocol::Http1, "GET", path, headers).await
}

#[tokio::test]
async fn awkward_names_are_served_exactly_with_ranges_and_conditionals() {
    let root = temp_dir("dir-names");
    // NFC and NFD spellings of the same word are two files.
    let names = [
        "with space.mp4",
        "100%.mp4",
        "hash#tag.mp4",
        "what?.mp4",
        "a+b.mp4",
        "quote\"d'.mp4",
        "caf\u{e9}.mp4",
        "cafe\u{301}.mp4",
        "日本語.mp4",
    ];
    for (i, name) in names.iter().enumerate() {
        std::fs::write(root.join(name), content(10_000 + i)).unwrap();
    }
    let addr = serve(RangeDirService::from_resolver(
        DirResolver::new(&root).unwrap(),
    ))
    .await;
    for (i, name) in names.iter().enumerate() {
        let bytes = content(10_000 + i);
        let url = format!("/{}", percent_encode(name));
        let (parts, body) = get(addr, &url, &[]).await;
        assert_eq!(parts.status, StatusCode::OK, "{name}");
        assert_eq!(body, bytes, "{name}");
        let (parts, body) = get(addr, &url, &[("range", "bytes=100-199")]).await;
        assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT, "{name}");
        assert_eq!(body, bytes[100..200], "{name}");
        let etag = header(&parts, "etag").unwrap().to_owned();
        let (parts, _) = get(addr, &url, &[("if-none-match", &etag)]).await;
        assert_eq!(parts.status, StatusCode::NOT_MODIFIED, "{name}");
    }
}

#[tokio::test]
async fn the_policy_and_the_disposition_reach_200_206_and_304() {
    let root = temp_dir("dir-policy");
    std::fs::write(root.join("master.m3u8"), b"#EXTM3U\n").unwrap();
    std::fs::write(root.join("seg 1.ts"), content(5000)).unwrap();
    std::fs::write(root.join("notes.txt"), b"notes").unwrap();
    let resolver = DirResolver::new(&root)
        .unwrap()
        .policy(support::hls_policy)
        .download_query("download");
    let addr = serve(RangeDirService::from_resolver(resolver)).await;

    let (parts, _) = get(addr, "/master.m3u8", &[]).await;
    assert_eq!(header(&parts, "cache-control"), Some("no-cache"));
    assert_eq!(header(&parts, "x-content-type-options"), Some("nosniff"));
    assert_eq!(
        header(&parts, "content-type"),
        Some("application/vnd.apple.mpegurl")
    );

    let immutable = Some("public, max-age=31536000, immutable");
    let inline = Some("inline; filename=\"seg 1.ts\"; filename*=UTF-8''seg%201.ts");
    let (parts, _) = get(addr, "/seg%201.ts", &[]).await;
    assert_eq!(header(&parts, "cache-control"), immutable);
    assert_eq!(header(&parts, "content-disposition"), inline);
    let etag = header(&parts, "etag").unwrap().to_owned();
    let (parts, _) = get(addr, "/seg%201.ts", &[("range", "bytes=0-9")]).await;
    assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&parts, "cache-control"), immutable);
    assert_eq!(header(&parts, "content-disposition"), inline);
    let (parts, _) = get(addr, "/seg%201.ts", &[("if-none-match", &etag)]).await;
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
    assert_eq!(header(&parts, "cache-control"), immutable);
    assert_eq!(header(&parts, "content-disposition"), inline);

    let (parts, _) = get(addr, "/seg%201.ts?download", &[]).await;
    assert_eq!(
        header(&parts, "content-disposition"),
        Some("attachment; filename=\"seg 1.ts\"; filename*=UTF-8''seg%201.ts")
    );
    // Not media: no disposition unless asked for.
    let (parts, _) = get(addr, "/notes.txt", &[]).await;
    assert_eq!(header(&parts, "content-disposition"), None);
}

#[tokio::test]
async fn a_file_replaced_while_it_streams_completes_old_and_then_serves_new() {
    replaced_while_streaming("dir-replace", |resolver| resolver).await;
}

#[tokio::test]
async fn with_the_open_file_cache_a_replaced_file_is_served_new_at_once() {
    // An hour: what the cache holds is seen to be stale by its `fstat`, not by its age.
    let hour = std::time::Duration::from_secs(3600);
    replaced_while_streaming("dir-replace-cached", |resolver| {
        resolver.open_file_cache(hour, 100)
    })
    .await;
}

#[tokio::test]
async fn with_the_open_file_cache_a_download_asked_once_stays_with_its_request() {
    let root = temp_dir("dir-cache-download");
    std::fs::write(root.join("film.mp4"), b"film").unwrap();
    let hour = std::time::Duration::from_secs(3600);
    let resolver = DirResolver::new(&root)
        .unwrap()
        .download_query("download")
        .open_file_cache(hour, 10);
    let addr = serve(RangeDirService::from_resolver(resolver)).await;
    let disposition = |parts: &http::response::Parts| {
        header(parts, "content-disposition")
            .unwrap_or_default()
            .to_owned()
    };
    // The cache keeps the file's metadata before the request's disposition is applied.
    let (download, _) = get(addr, "/film.mp4?download", &[]).await;
    assert!(disposition(&download).starts_with("attachment;"));
    let (plain, _) = get(addr, "/film.mp4", &[]).await;
    assert!(disposition(&plain).starts_with("inline;"), "{plain:?}");
    let (again, _) = get(addr, "/film.mp4?download", &[]).await;
    assert!(disposition(&again).starts_with("attachment;"));
}

/// A file replaced by a rename while a response streams it: that response completes with
/// the old bytes, the next request gets the new ones, and a file added is served.
async fn replaced_while_streaming(name: &str, configure: impl Fn(DirResolver) -> DirResolver) {
    let root = temp_dir(name);
    let old = content(4 * 1024 * 1024);
    std::fs::write(root.join("clip.mp4"), &old).unwrap();
    let addr = serve(RangeDirService::from_resolver(configure(
        DirResolver::new(&root).unwrap(),
    )))
    .await;
    let mut client = Client::connect(addr, Protocol::Http1).await;
    let response = client.send(request("GET", "/clip.mp4", &[])).await;
    let old_etag = response.headers()["etag"].to_str().unwrap().to_owned();
    // Replaced by an atomic rename while the response is under way.
    let new: Vec<u8> = old.iter().map(|b| b.wrapping_add(1)).collect();
    std::fs::write(root.join("next"), &new).unwrap();
    std::fs::rename(root.join("next"), root.join("clip.mp4")).unwrap();
    let body = bounded(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, old, "the running response keeps the old bytes");
    let (parts, body) = get(addr, "/clip.mp4", &[]).await;
    assert_eq!(body, new);
    assert_ne!(header(&parts, "etag"), Some(old_etag.as_str()));
    // A file added while the server runs is served on the next request.
    std::fs::write(root.join("added.mp4"), b"added").unwrap();
    assert_eq!(get(addr, "/added.mp4", &[]).await.1, "added");
}

#[tokio::test]
async fn it_mounts_under_a_prefix_with_nest_service() {
    let root = temp_dir("dir-nest");
    std::fs::create_dir_all(root.join("films")).unwrap();
    std::fs::write(root.join("films/a.mp4"), b"film a").unwrap();
    let media = RangeDirService::from_resolver(DirResolver::new(&root).unwrap());
    let router = axum::Router::new().nest_service("/media", media);
    let addr = serve(router).await;
    assert_eq!(get(addr, "/media/films/a.mp4", &[]).await.1, "film a");
    assert_eq!(
        get(addr, "/films/a.mp4", &[]).await.0.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(addr, "/media/../media/films/a.mp4", &[]).await.0.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn directories_redirect_to_their_slash_form_and_serve_their_index() {
    let root = temp_dir("dir-index");
    std::fs::create_dir_all(root.join("show")).unwrap();
    std::fs::write(root.join("show/index.html"), b"<p>show</p>").unwrap();
    std::fs::create_dir_all(root.join("bare")).unwrap();
    let resolver = DirResolver::new(&root)
        .unwrap()
        .redirect_directories(true)
        .index_file("index.html");
    let addr = serve(RangeDirService::from_resolver(resolver)).await;
    let (parts, _) = get(addr, "/show?x=1", &[]).await;
    assert_eq!(parts.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&parts, "location"), Some("./show/?x=1"));
    let (parts, body) = get(addr, "/show/", &[]).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(body, "<p>show</p>");
    assert_eq!(
        header(&parts, "content-type"),
        Some("text/html; charset=utf-8")
    );
    // A directory without an index: no listing.
    let (parts, _) = get(addr, "/bare/", &[]).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    assert_eq!(
        header(&parts, "x-content-type-options"),
        Some("nosniff"),
        "on misses too"
    );
    // A file is never redirected.
    std::fs::write(root.join("a.mp4"), b"a").unwrap();
    assert_eq!(get(addr, "/a.mp4", &[]).await.0.status, StatusCode::OK);
    assert_eq!(
        get(addr, "/nothing", &[]).await.0.status,
        StatusCode::NOT_FOUND
    );
    // Without the options, directories are 404.
    let plain = serve(RangeDirService::from_resolver(
        DirResolver::new(&root).unwrap(),
    ))
    .await;
    assert_eq!(
        get(plain, "/show", &[]).await.0.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(plain, "/show/", &[]).await.0.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn misses_go_to_the_fallback_and_other_answers_stay() {
    let root = temp_dir("dir-fallback");
    std::fs::write(root.join("a.mp4"), b"film a").unwrap();
    let not_found = tower::service_fn(|request: http::Request<hyper::body::Incoming>| async move {
        let text = format!("app 404 for {}", request.uri().path());
        let mut response = http::Response::new(http_body_util::Full::new(Bytes::from(text)));
        *response.status_mut() = StatusCode::NOT_FOUND;
        Ok::<_, std::convert::Infallible>(response)
    });
    let service =
        RangeDirService::from_resolver(DirResolver::new(&root).unwrap()).fallback(not_found);
    let addr = serve(service).await;
    assert_eq!(get(addr, "/a.mp4", &[]).await.1, "film a");
    let (parts, body) = get(addr, "/missing.mp4", &[]).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    assert_eq!(body, "app 404 for /missing.mp4");
    assert_eq!(header(&parts, "x-content-type-options"), Some("nosniff"));
    assert_eq!(get(addr, "/../a.mp4", &[]).await.1, "app 404 for /../a.mp4");
    // Not a miss: the service's own answers.
    let (parts, body) = get(addr, "/%zz", &[]).await;
    assert_eq!(
        (parts.status, body),
        (StatusCode::BAD_REQUEST, Bytes::from("bad request\n"))
    );
    let mut client = Client::connect(addr, Protocol::Http1).await;
    let response = client.send(request("POST", "/missing.mp4", &[])).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn dispositions_name_quoted_and_non_ascii_files_on_200_206_and_304() {
    let root = temp_dir("dir-disposition");
    let name = "le \"film\" d'été.mp4";
    std::fs::write(root.join(name), content(3000)).unwrap();
    let addr = serve(RangeDirService::from_resolver(
        DirResolver::new(&root).unwrap(),
    ))
    .await;
    let url = format!("/{}", percent_encode(name));
    let expected = "inline; filename=\"le \\\"film\\\" d'_t_.mp4\"; \
                    filename*=UTF-8''le%20%22film%22%20d%27%C3%A9t%C3%A9.mp4";
    let (parts, _) = get(addr, &url, &[]).await;
    assert_eq!(header(&parts, "content-disposition"), Some(expected));
    let etag = header(&parts, "etag").unwrap().to_owned();
    let (parts, _) = get(addr, &url, &[("range", "bytes=5-9")]).await;
    assert_eq!(parts.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&parts, "content-disposition"), Some(expected));
    let (parts, _) = get(addr, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
    assert_eq!(header(&parts, "content-disposition"), Some(expected));
}
