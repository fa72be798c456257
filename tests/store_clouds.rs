//! The object-store source against emulators of the real services, over real TCP: Azure Blob
//! Storage (Azurite) and Google Cloud Storage (fake-gcs-server), each a child process of the
//! test on a free port of 127.0.0.1 (`store_clouds/`). `tests/store.rs` shows the source's
//! logic against an in-memory store; this shows that what it asks of a store (a HEAD, ranged
//! GETs with `If-Match` and the version, the errors it maps) means the same to the real
//! clients and the services' own semantics: exact bytes for every kind of range, our ETag for
//! the conditionals, one ETag across servers, an object replaced or deleted behind the
//! metadata cache, and `from_url` configured from the environment.
//!
//! Install the emulators with `.ci/install-emulators` (needs npm and python3). Without them the
//! tests are skipped with a line on stderr, except on CI (`CI` set), where they fail.
//!
//! Every test runs once per cloud (`azure::NAME`, `gcs::NAME`), each with an emulator of its
//! own, so that the tests run in parallel and none sees another's objects.

#[path = "store_clouds/azurite.rs"]
mod azurite;
#[path = "store_clouds/emulator.rs"]
mod emulator;
#[path = "store_clouds/fake_gcs.rs"]
mod fake_gcs;
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use support::{
    assert_same_answer, bounded, fetch, fetch_path, header, multipart_parts, serve, Client,
    Protocol, LIMIT,
};
use tower_range::rate::RateLimit;
use tower_range::store::object_store::path::Path;
use tower_range::store::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tower_range::store::{ObjectSource, StoreOptions, StoreResolver};
use tower_range::{MemorySource, RangeService};

use azurite::Azurite;
use fake_gcs::FakeGcs;

/// The container (Azure) or bucket (GCS) of every test.
const BUCKET: &str = "media";
/// The key of the object most tests serve; `.mp4` gives it a media type.
const KEY: &str = "films/intro.mp4";
/// The objects' size: small enough to upload in a moment, large enough for ranges far apart
/// to need GETs of their own (the merge gap is 64 KiB).
const LEN: usize = 300 * 1024;

/// One emulated cloud with the bucket [`BUCKET`] made.
enum Cloud {
    Azure(Azurite),
    Gcs(FakeGcs),
}

impl Cloud {
    async fn azure() -> Option<Cloud> {
        let azurite = Azurite::start().await?;
        azurite.create_container(BUCKET).await;
        Some(Cloud::Azure(azurite))
    }

    async fn gcs() -> Option<Cloud> {
        let gcs = FakeGcs::start().await?;
        gcs.create_bucket(BUCKET).await;
        Some(Cloud::Gcs(gcs))
    }

    /// A new client of the bucket, independent of every other (its own connection pool).
    fn store(&self) -> Arc<dyn ObjectStore> {
        match self {
            Cloud::Azure(azurite) => azurite.store(BUCKET),
            Cloud::Gcs(gcs) => gcs.store(BUCKET),
        }
    }

    /// Writes (or replaces) `key`: through `object_store` on Azure, the JSON API on GCS
    /// (fake-gcs-server does not take `object_store`'s uploads).
    async fn put(&self, key: &str, bytes: Vec<u8>) {
        match self {
            Cloud::Azure(_) => {
                self.store()
                    .put(&Path::from(key), PutPayload::from(bytes))
                    .await
                    .unwrap_or_else(|e| panic!("putting {key}: {e}"));
            }
            Cloud::Gcs(gcs) => gcs.upload(BUCKET, key, bytes).await,
        }
    }

    async fn delete(&self, key: &str) {
        match self {
            Cloud::Azure(_) => {
                self.store()
                    .delete(&Path::from(key))
                    .await
                    .unwrap_or_else(|e| panic!("deleting {key}: {e}"));
            }
            Cloud::Gcs(gcs) => gcs.delete(BUCKET, key).await,
        }
    }

    /// `key`'s URL for `from_url`, and the environment variables that configure it.
    fn url_and_environment(&self, key: &str) -> (String, Vec<(String, String)>) {
        match self {
            Cloud::Azure(azurite) => (format!("az://{BUCKET}/{key}"), azurite.environment()),
            Cloud::Gcs(gcs) => (format!("gs://{BUCKET}/{key}"), gcs.environment()),
        }
    }

    /// A source serving `key` from a client of its own.
    fn source(&self, key: &str, options: StoreOptions) -> ObjectSource {
        ObjectSource::with_options(self.store(), Path::from(key), options)
    }
}

/// Runs each named check once per cloud, as `azure::NAME` and `gcs::NAME`: the check is an
/// `async fn NAME(cloud: &Cloud)` of this file. A cloud whose emulator is not installed skips
/// the test (except on CI; see `emulator::program`).
macro_rules! on_each_cloud {
    ($($check:ident),* $(,)?) => {
        mod azure {
            $(
                #[tokio::test]
                async fn $check() {
                    if let Some(cloud) = super::Cloud::azure().await {
                        super::$check(&cloud).await;
                    }
                }
            )*
        }
        mod gcs {
            $(
                #[tokio::test]
                async fn $check() {
                    if let Some(cloud) = super::Cloud::gcs().await {
                        super::$check(&cloud).await;
                    }
                }
            )*
        }
    };
}

on_each_cloud!(
    every_answer_is_the_one_the_same_bytes_get_from_memory,
    single_suffix_open_and_past_the_end_ranges_are_byte_exact,
    multipart_parts_are_the_objects_bytes_from_few_gets,
    conditionals_are_evaluated_against_our_etag,
    two_servers_give_the_same_object_the_same_etag,
    an_object_replaced_between_requests_is_served_new_despite_the_cache,
    a_multipart_answer_across_a_replacement_is_cut_never_mixed,
    missing_and_deleted_keys_are_404,
    from_url_reads_the_providers_environment,
);

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + seed as usize) % 251) as u8)
        .collect()
}

/// The Range headers the differential check asks both sources: single, open, suffix, past
/// the end, unsatisfiable, multipart (close parts, far parts, descending), malformed.
const RANGES: &[&str] = &[
    "bytes=0-0",
    "bytes=1000-1999",
    "bytes=100-",
    "bytes=-500",
    "bytes=-0",
    "bytes=307000-999999",
    "bytes=307200-",
    "bytes=0-9,20-29,40-49",
    "bytes=0-9,150000-150099,307190-307199",
    "bytes=250000-250099,10-19",
    "bytes=5-1",
    "bytes=x",
];

/// Every answer, GET and HEAD, HTTP/1.1 and HTTP/2, for every kind of Range, is the one a
/// memory source of the same bytes gives: status, Content-Range, Content-Length, body (each
/// part of a multipart body).
async fn every_answer_is_the_one_the_same_bytes_get_from_memory(cloud: &Cloud) {
    let bytes = pattern(LEN, 1);
    cloud.put(KEY, bytes.clone()).await;
    let from_store = serve(RangeService::from_source(
        cloud.source(KEY, StoreOptions::new()),
    ))
    .await;
    let memory = RangeService::from_source(MemorySource::new(bytes))
        .content_type(http::HeaderValue::from_static("video/mp4"));
    let from_memory = serve(memory).await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        for method in ["GET", "HEAD"] {
            for range in [None].into_iter().chain(RANGES.iter().map(Some)) {
                let asked = range.map(|r| ("range", *r));
                let asked = asked.as_slice();
                let (a, a_body) = fetch(from_store, protocol, method, asked).await;
                let (b, b_body) = fetch(from_memory, protocol, method, asked).await;
                let what = format!("{protocol:?} {method} {range:?}");
                assert_same_answer((&a, &a_body), (&b, &b_body), &what);
            }
        }
    }
}

/// The same answers spelt out against the source bytes, and HEAD: the headers of a GET and no
/// body.
async fn single_suffix_open_and_past_the_end_ranges_are_byte_exact(cloud: &Cloud) {
    let bytes = pattern(LEN, 2);
    cloud.put(KEY, bytes.clone()).await;
    let addr = serve(RangeService::from_source(
        cloud.source(KEY, StoreOptions::new()),
    ))
    .await;
    let get = |range: &'static str| async move {
        fetch(addr, Protocol::Http1, "GET", &[("range", range)]).await
    };
    let total = format!("/{LEN}");
    let cases: &[(&'static str, std::ops::Range<usize>)] = &[
        ("bytes=1000-1999", 1000..2000),
        ("bytes=-500", LEN - 500..LEN),
        ("bytes=100-", 100..LEN),
        ("bytes=307000-999999", 307_000..LEN),
    ];
    for (range, expected) in cases {
        let (parts, body) = get(range).await;
        assert_eq!(parts.status, 206, "{range}");
        assert_eq!(
            header(&parts, "content-range"),
            Some(&*format!(
                "bytes {}-{}{total}",
                expected.start,
                expected.end - 1
            )),
            "{range}"
        );
        assert!(body[..] == bytes[expected.clone()], "{range}: other bytes");
    }
    let (parts, body) = get("bytes=307200-").await;
    assert_eq!(parts.status, 416);
    assert_eq!(
        header(&parts, "content-range"),
        Some(&*format!("bytes */{LEN}"))
    );
    assert!(!body.starts_with(&bytes[..16]));
    let (whole, body) = fetch(addr, Protocol::Http1, "GET", &[]).await;
    assert_eq!(whole.status, 200);
    assert!(body[..] == bytes[..]);
    let (head, body) = fetch(addr, Protocol::Http1, "HEAD", &[]).await;
    assert_eq!(head.status, 200);
    assert!(body.is_empty());
    for name in [
        "content-length",
        "etag",
        "last-modified",
        "content-type",
        "accept-ranges",
    ] {
        assert!(header(&head, name).is_some(), "HEAD without {name}");
        assert_eq!(header(&head, name), header(&whole, name), "{name}");
    }
    let etag = header(&head, "etag").unwrap();
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");
}

/// A multipart answer's parts are the object's bytes; parts close together share a GET, far
/// ones get their own.
async fn multipart_parts_are_the_objects_bytes_from_few_gets(cloud: &Cloud) {
    let bytes = pattern(LEN, 3);
    cloud.put(KEY, bytes.clone()).await;
    let source = cloud.source(KEY, StoreOptions::new());
    let stats = source.clone();
    let addr = serve(RangeService::from_source(source)).await;
    // Warm the metadata cache, so that the GETs counted are the answer's alone.
    fetch(addr, Protocol::Http1, "HEAD", &[]).await;
    let before = stats.stats().gets();
    let asked = "bytes=0-9,1000-1099,150000-150999,300000-307199";
    let (parts, body) = fetch(addr, Protocol::Http2, "GET", &[("range", asked)]).await;
    assert_eq!(parts.status, 206);
    let parts = multipart_parts(header(&parts, "content-type").unwrap(), &body);
    let expected = [0..10, 1000..1100, 150_000..151_000, 300_000..307_200];
    assert_eq!(parts.len(), expected.len());
    for ((range, part), expected) in parts.iter().zip(expected) {
        let content_range = format!("bytes {}-{}/{LEN}", expected.start, expected.end - 1);
        assert_eq!(range, &content_range);
        assert!(part[..] == bytes[expected], "{range}: other bytes");
    }
    // 0-9 and 1000-1099 are within the merge gap: one GET; the others one each.
    assert_eq!(stats.stats().gets() - before, 3);
}

/// The conditionals against the ETag the source makes from the store's validators.
async fn conditionals_are_evaluated_against_our_etag(cloud: &Cloud) {
    cloud.put(KEY, pattern(LEN, 4)).await;
    let addr = serve(RangeService::from_source(
        cloud.source(KEY, StoreOptions::new()),
    ))
    .await;
    let (whole, _) = fetch(addr, Protocol::Http1, "HEAD", &[]).await;
    let etag = header(&whole, "etag").unwrap().to_owned();
    let modified = header(&whole, "last-modified").unwrap().to_owned();
    let weak = format!("W/{etag}");
    let cases: &[(&[(&str, &str)], u16)] = &[
        (&[("if-none-match", &etag)], 304),
        (&[("if-none-match", "\"other\"")], 200),
        (&[("if-match", &etag)], 200),
        (&[("if-match", "\"other\"")], 412),
        (&[("if-range", &etag), ("range", "bytes=0-9")], 206),
        (&[("if-range", "\"other\""), ("range", "bytes=0-9")], 200),
        // A weak validator never matches for If-Range.
        (&[("if-range", &weak), ("range", "bytes=0-9")], 200),
        (&[("if-modified-since", &modified)], 304),
    ];
    for (headers, status) in cases {
        let (parts, body) = fetch(addr, Protocol::Http1, "GET", headers).await;
        assert_eq!(parts.status.as_u16(), *status, "{headers:?}");
        match status {
            304 => {
                assert!(body.is_empty());
                assert_eq!(header(&parts, "etag"), Some(&*etag), "{headers:?}");
            }
            206 => assert_eq!(body.len(), 10),
            200 => assert_eq!(body.len(), LEN),
            _ => {}
        }
    }
}

/// Two servers, each with its own client and source, give the same object the same ETag and
/// Last-Modified, so a CDN in front of both sees one validator; and a third serving it
/// through a prefix too.
async fn two_servers_give_the_same_object_the_same_etag(cloud: &Cloud) {
    cloud.put(KEY, pattern(LEN, 5)).await;
    let one = serve(RangeService::from_source(
        cloud.source(KEY, StoreOptions::new()),
    ))
    .await;
    let two = serve(RangeService::from_source(
        cloud.source(KEY, StoreOptions::new()),
    ))
    .await;
    let resolver = StoreResolver::new(cloud.store(), Path::from("films"), StoreOptions::new());
    let three = serve(RangeService::from_resolver(resolver)).await;
    let (a, _) = fetch(one, Protocol::Http1, "HEAD", &[]).await;
    let (b, _) = fetch(two, Protocol::Http2, "HEAD", &[]).await;
    let (c, _) = fetch_path(three, Protocol::Http1, "HEAD", "/intro.mp4", &[]).await;
    assert_eq!(c.status, 200);
    for name in ["etag", "last-modified"] {
        assert!(header(&a, name).is_some(), "no {name}");
        assert_eq!(header(&a, name), header(&b, name), "{name}");
        assert_eq!(header(&a, name), header(&c, name), "{name}");
    }
    // And the ETag one server gave is a validator the other honours.
    let etag = header(&a, "etag").unwrap();
    let (parts, _) = fetch(two, Protocol::Http1, "GET", &[("if-none-match", etag)]).await;
    assert_eq!(parts.status, 304);
}

/// The metadata cache holds the old version for a minute, yet the next answer after a
/// replacement is the new object, whole: the GET that the source starts before the head is
/// refused for the old version (Azure: `If-Match` fails with 412; GCS: the old generation is
/// gone, 404), and the request is planned again from a fresh HEAD. Once with the same length
/// (only the validators tell the versions apart), once with another.
async fn an_object_replaced_between_requests_is_served_new_despite_the_cache(cloud: &Cloud) {
    let options = StoreOptions::new().metadata_ttl(Duration::from_secs(60));
    cloud.put(KEY, pattern(LEN, 6)).await;
    let source = cloud.source(KEY, options);
    let stats = source.clone();
    let addr = serve(RangeService::from_source(source)).await;
    let (first, body) = fetch(addr, Protocol::Http1, "GET", &[("range", "bytes=0-9")]).await;
    assert_eq!(
        (first.status.as_u16(), &body[..]),
        (206, &pattern(10, 6)[..])
    );
    let mut etags = vec![header(&first, "etag").unwrap().to_owned()];
    for (new, heads) in [(pattern(LEN, 7), 2), (pattern(100_000, 8), 3)] {
        cloud.put(KEY, new.clone()).await;
        let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[("range", "bytes=0-")]).await;
        assert_eq!(parts.status, 206);
        let content_range = format!("bytes 0-{}/{}", new.len() - 1, new.len());
        assert_eq!(header(&parts, "content-range"), Some(&*content_range));
        assert!(body[..] == new[..], "not the new bytes");
        let etag = header(&parts, "etag").unwrap().to_owned();
        assert!(
            !etags.contains(&etag),
            "an old ETag for a new version: {etag}"
        );
        etags.push(etag);
        assert_eq!(
            stats.stats().heads(),
            heads,
            "one fresh HEAD per replacement"
        );
        // A conditional with the old ETag is no longer a match.
        let old = &etags[etags.len() - 2];
        let (parts, _) = fetch(addr, Protocol::Http1, "GET", &[("if-none-match", old)]).await;
        assert_eq!(parts.status, 200);
    }
}

/// A multipart answer whose second part needs a GET of its own, with the object replaced
/// after the head: the first part comes from the GET started before the head (the old
/// version), the second GET is refused for the old version, and the body is cut. Every byte
/// that came is the old object's. The answer is throttled to 100 kB/s so that its first part
/// of 100 kB lasts a second: the replacement lands before the body reaches the second GET
/// (without it, the sockets would take the whole answer at once).
async fn a_multipart_answer_across_a_replacement_is_cut_never_mixed(cloud: &Cloud) {
    let old = pattern(LEN, 9);
    cloud.put(KEY, old.clone()).await;
    let service = RangeService::from_source(cloud.source(KEY, StoreOptions::new()))
        .rate_limit(RateLimit::new(100_000));
    let addr = serve(service).await;
    let mut client = Client::connect(addr, Protocol::Http1).await;
    let asked = [("range", "bytes=0-99999,250000-250099")];
    let response = client.send(support::request("GET", "/", &asked)).await;
    assert_eq!(response.status(), 206);
    let new = pattern(LEN, 10);
    cloud.put(KEY, new.clone()).await;
    let mut body = response.into_body();
    let mut got = Vec::new();
    let complete = loop {
        match bounded(body.frame()).await {
            Some(Ok(frame)) => got.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d)),
            Some(Err(_)) => break false,
            None => break true,
        }
    };
    assert!(!complete, "a body across two versions must be cut");
    // The old and the new object differ at every offset, so a byte's offset says whose it is.
    let head_end = |from: usize| {
        got[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| from + at + 4)
    };
    let start = head_end(0).expect("the first part's headers");
    let first = &got[start..(start + 100_000).min(got.len())];
    assert!(first == &old[..first.len()], "not the old object's bytes");
    // If the second part's headers came, whatever came after them is the old object's too.
    if let Some(second) = got
        .get(start + 100_000..)
        .and_then(|_| head_end(start + 100_000))
    {
        let part = &got[second..];
        assert!(
            part == &old[250_000..250_000 + part.len()],
            "bytes of the new version"
        );
    }
    // The next answer is the new object.
    let (parts, body) = fetch(
        addr,
        Protocol::Http1,
        "GET",
        &[("range", "bytes=250000-250099")],
    )
    .await;
    assert_eq!(parts.status, 206);
    assert!(body[..] == new[250_000..250_100]);
}

/// A key that was never written is 404 (one source, and under a prefix), and so is one
/// deleted while its metadata is cached: the GET before the head finds it gone, the fresh
/// HEAD too.
async fn missing_and_deleted_keys_are_404(cloud: &Cloud) {
    let missing = serve(RangeService::from_source(
        cloud.source("films/missing.mp4", StoreOptions::new()),
    ))
    .await;
    let (parts, _) = fetch(missing, Protocol::Http1, "GET", &[]).await;
    assert_eq!(parts.status, 404);
    cloud.put(KEY, pattern(1000, 11)).await;
    cloud.put("elsewhere/intro.mp4", pattern(1000, 12)).await;
    let options = StoreOptions::new().metadata_ttl(Duration::from_secs(60));
    let resolver = StoreResolver::new(cloud.store(), Path::from("films"), options);
    let addr = serve(RangeService::from_resolver(resolver)).await;
    let get = |path: &'static str| fetch_path(addr, Protocol::Http1, "GET", path, &[]);
    let (parts, body) = get("/intro.mp4").await;
    assert_eq!(
        (parts.status.as_u16(), &body[..]),
        (200, &pattern(1000, 11)[..])
    );
    for path in [
        "/missing.mp4",
        "/../elsewhere/intro.mp4",
        "/films/intro.mp4",
    ] {
        assert_eq!(get(path).await.0.status, 404, "{path}");
    }
    cloud.delete(KEY).await;
    let (parts, _) = get("/intro.mp4").await;
    assert_eq!(parts.status, 404, "deleted behind the cache");
}

/// The variable that tells the test binary, run again as a child, which URL to serve.
const CHILD_URL: &str = "TOWER_RANGE_STORE_CLOUDS_URL";

/// `from_url` reads the provider's credentials and endpoint from the process environment.
/// Setting variables in this multi-threaded test process would race with every other test,
/// so the test binary runs again as a child, with the variables set for it alone, and runs
/// only [`from_url_in_a_child_process`], which serves the URL and checks the answers.
async fn from_url_reads_the_providers_environment(cloud: &Cloud) {
    cloud.put(KEY, pattern(LEN, 13)).await;
    let (url, environment) = cloud.url_and_environment(KEY);
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "from_url_in_a_child_process", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD_URL, &url);
    // Only the variables set here configure the child's store.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if ["AZURE_", "GOOGLE_", "AWS_"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            command.env_remove(&*name);
        }
    }
    command.envs(environment);
    let output = tokio::task::spawn_blocking(move || support::run(&mut command, LIMIT))
        .await
        .unwrap();
    let (stdout, stderr) = (output.stdout_text(), output.stderr_text());
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child for {url} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// The child's side of [`from_url_reads_the_providers_environment`]: skipped unless run by it.
#[tokio::test]
#[ignore = "run by from_url_reads_the_providers_environment in a child with the environment set"]
async fn from_url_in_a_child_process() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        eprintln!("skipped: {CHILD_URL} is not set (run by the from_url tests)");
        return;
    };
    let bytes = pattern(LEN, 13);
    let (store, key) =
        tower_range::store::from_url(&url).unwrap_or_else(|e| panic!("from_url({url}): {e}"));
    assert_eq!(key.as_ref(), KEY);
    let addr = serve(RangeService::from_source(ObjectSource::new(store, key))).await;
    let (parts, body) = fetch(addr, Protocol::Http1, "GET", &[("range", "bytes=-500")]).await;
    assert_eq!(parts.status, 206, "{url}");
    assert!(body[..] == bytes[LEN - 500..]);
    let (parts, body) = fetch(addr, Protocol::Http2, "GET", &[]).await;
    assert_eq!(parts.status, 200, "{url}");
    assert!(body[..] == bytes[..]);
}
