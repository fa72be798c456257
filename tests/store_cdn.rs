//! The CDN recipe of the README's "Scaling out", as it is: two example servers over one
//! bucket (moto) behind nginx with `docs/cdn/nginx-slice-cache.conf`, only its addresses,
//! cache directory and pid file replaced. nginx fetches each 1 MiB slice with its own Range
//! request, round-robin over the two servers, and refuses to join slices whose ETags differ:
//! byte-exact ranges through the cache, a HIT on repeat, and the same ETag from both servers.
//! Needs moto and nginx (`.ci/run` installs both).

mod support;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{http1_client, manifest_dir, send, temp_dir, url_request, ChildGuard, Moto, Server};

const BUCKET: &str = "media";

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + i / 4099) % 251) as u8)
        .collect()
}

/// An example server (built with `aws`) serving `s3://media/films/a.mp4` from `moto`.
fn origin(moto: &Moto) -> Server {
    let endpoint = moto.endpoint();
    Server::start_example_with_features(
        "server",
        &["aws"],
        &["s3://media/films/a.mp4"],
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("RUST_LOG", "info"),
        ],
    )
}

/// nginx with the documented configuration, in front of `origins`, on a free port; in a
/// process group of its own, all of which (master, worker, cache manager) is killed when
/// dropped.
struct Edge {
    addr: SocketAddr,
    child: ChildGuard,
}

impl Drop for Edge {
    fn drop(&mut self) {
        support::signal_group(self.child.id(), libc::SIGKILL);
    }
}

impl Edge {
    fn start(origins: [SocketAddr; 2], dir: &Path) -> Edge {
        let nginx = support::require_program("nginx", "nginx");
        let addr = free_port();
        let cache = dir.join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        // nginx's workers run as another user when the master is root.
        let _ = Command::new("chmod").arg("0777").arg(&cache).status();
        let template =
            std::fs::read_to_string(manifest_dir().join("docs/cdn/nginx-slice-cache.conf"))
                .expect("docs/cdn/nginx-slice-cache.conf");
        let conf = replace_all(
            &template,
            &[
                ("127.0.0.1:8001", &origins[0].to_string()),
                ("127.0.0.1:8002", &origins[1].to_string()),
                ("127.0.0.1:8080", &addr.to_string()),
                ("/var/cache/nginx/media", cache.to_str().unwrap()),
                (
                    "/run/nginx-edge.pid",
                    dir.join("nginx.pid").to_str().unwrap(),
                ),
            ],
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("starting nginx");
        let child = ChildGuard(Some(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Edge { addr, child }
    }
}

/// `template` with each `(from, to)` replaced; every `from` must occur.
fn replace_all(template: &str, pairs: &[(&str, &str)]) -> String {
    let mut text = template.to_owned();
    for (from, to) in pairs {
        assert!(
            text.contains(from),
            "the configuration no longer has {from}"
        );
        text = text.replace(from, to);
    }
    text
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
#[ignore = "needs moto and nginx; .ci/run installs them"]
async fn two_servers_behind_an_nginx_slice_cache_serve_exact_ranges_with_one_etag() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    moto.create_bucket(BUCKET).await;
    let bytes = pattern(3 * 1024 * 1024 + 12_345);
    moto.put_object(BUCKET, "films/a.mp4", bytes.clone()).await;
    let (one, two) = (origin(&moto), origin(&moto));
    let dir: PathBuf = temp_dir("store-cdn");
    let edge = Edge::start([one.addr, two.addr], &dir);
    let client = http1_client();
    let get = |addr: SocketAddr, method: &'static str, range: Option<&'static str>| {
        let client = client.clone();
        async move {
            let headers: Vec<(&str, &str)> = range.map(|r| vec![("range", r)]).unwrap_or_default();
            let method = http::Method::from_bytes(method.as_bytes()).unwrap();
            send(&client, url_request(method, addr, "/video", &headers)).await
        }
    };
    // The same validators from both servers.
    let (a, b) = (
        get(one.addr, "HEAD", None).await,
        get(two.addr, "HEAD", None).await,
    );
    let etag = a.header("etag").expect("an ETag").to_owned();
    assert_eq!(b.header("etag"), Some(etag.as_str()));
    assert_eq!(a.header("last-modified"), b.header("last-modified"));
    // Through the edge: a range across three slices, then again from the cache.
    let range = "bytes=1000000-2600000";
    let first = get(edge.addr, "GET", Some(range)).await;
    assert_eq!(first.status, 206, "{:?}", first.headers);
    assert_eq!(
        first.header("content-range"),
        Some("bytes 1000000-2600000/3158073")
    );
    assert!(
        first.body[..] == bytes[1_000_000..=2_600_000],
        "the bytes through the edge differ"
    );
    assert_eq!(first.header("etag"), Some(etag.as_str()));
    assert_eq!(first.header("x-cache-status"), Some("MISS"));
    let again = get(edge.addr, "GET", Some(range)).await;
    assert_eq!(again.status, 206);
    assert!(again.body[..] == first.body[..]);
    assert_eq!(again.header("x-cache-status"), Some("HIT"));
    // The whole object: four slices, the uncached ones from either server, joined.
    let whole = get(edge.addr, "GET", None).await;
    assert_eq!(whole.status, 200);
    assert!(
        whole.body[..] == bytes[..],
        "the whole object through the edge differs"
    );
    // Both servers answered slices (round-robin), and nginx joined them: their ETags agree.
    // (Access lines reach the log in batches, within a second.)
    let slices = |server: &Server| {
        let accesses = server.accesses().into_iter();
        accesses
            .filter(|a| a.path == "/video" && a.status == 206)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while slices(&one) + slices(&two) < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (from_one, from_two) = (slices(&one), slices(&two));
    assert!(
        from_one >= 1 && from_two >= 1,
        "slices: {from_one} and {from_two}"
    );
    assert_eq!(from_one + from_two, 4, "one origin request per slice");
}
