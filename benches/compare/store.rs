//! The object-store workloads' S3 server (issue 13): s3s-fs, a small S3 server on the s3s
//! crate that keeps objects as files and streams a GET from disk, installed from crates.io
//! into `target/bench-tools/` when missing (as the bench builds its own binaries), run for
//! the whole bench pinned to CPU 1 with the load generators, behind the counting proxy
//! (`proxy.rs`), so that the server under test alone has CPU 0.
//!
//! The object is the bench's data file, hard-linked into s3s-fs's root as
//! `bench/range-<N>MiB.bin` (no copy; the page cache holds it once for every workload). s3s-fs
//! computes an object's ETag by reading the whole file with MD5 on every HEAD and GET unless
//! a PutObject left it in the object's `.internal.json` beside the bucket: the bench writes
//! that file itself, with an ETag of its own, and checks through the store client
//! (`store_copy --probe`) that s3s-fs answers with it, so no request pays for an MD5 of 1 GiB.
//!
//! Why s3s-fs and not moto (which the tests use): moto holds an object in memory and answers a
//! GET by copying it from there, so a 1 GiB object costs gigabytes and each ranged GET a copy;
//! s3s-fs serves any size from disk. Its GETs ignore `If-Match` (the tests check that
//! against moto and the emulators); every request is signed (SigV4) and checked.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::children::{output_tracked, pinned, track, untrack};
use crate::config::{Config, ServerSpec};
use crate::proxy::{Proxy, Upstream};
use crate::{env, MIB};

/// The s3s-fs release the bench installs (the last one that builds with rustc 1.92; the
/// newer ones ask for 1.96). Its `.internal.json` format is what this file writes.
pub const S3S_FS_VERSION: &str = "0.14.0";
const BUCKET: &str = "bench";
const ACCESS_KEY: &str = "tower-range-bench";
const SECRET_KEY: &str = "tower-range-bench-secret";

/// The workloads of the object store: W1's and W2's shapes and W4's slow clients.
pub const WORKLOADS: [&str; 3] = ["ws1", "ws2", "ws4"];

/// Whether `workload` is one of the object store's.
pub fn is_store_workload(workload: &str) -> bool {
    WORKLOADS.contains(&workload)
}

/// The cargo features our server needs to serve from the store: its own and `aws`.
pub fn server_features(spec: &ServerSpec) -> String {
    match &spec.features {
        Some(features) => format!("{features},aws"),
        None => "aws".into(),
    }
}

/// The S3 server, the proxy in front of it, and the object, for the whole bench.
pub struct Store {
    s3s: Child,
    proxy: Mutex<Proxy>,
    /// `s3://bench/KEY`: what the server serves and the floor reads.
    pub url: String,
    pub size: u64,
    /// Where s3s-fs listens (the proxy's upstream).
    pub s3s_addr: SocketAddr,
}

impl Store {
    /// Installs s3s-fs if needed, lays out the object, starts s3s-fs and the proxy, and checks
    /// that the store answers for the object with the ETag laid out.
    pub fn start(config: &Config, file: &Path) -> Self {
        let binary = s3s_fs_binary(config);
        let root = config.target_dir.join("bench-data").join("s3");
        let key = file.file_name().unwrap().to_str().unwrap().to_string();
        let e_tag = lay_out(&root, file, &key);
        let dir = config.out_dir.join("run").join("s3s-fs");
        std::fs::create_dir_all(&dir).unwrap();
        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let [port, _] = crate::servers::free_ports();
        let s3s_addr = SocketAddr::from(([127, 0, 0, 1], port));
        let args: Vec<String> = [
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
            root.to_str().unwrap(),
        ]
        .map(String::from)
        .into();
        let s3s = pinned("1", &binary, &args)
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        track(s3s.id());
        wait_for_port(s3s_addr, Duration::from_secs(10));
        let proxy = Proxy::start(s3s_addr, log("proxy.log"));
        let store = Store {
            s3s,
            proxy: Mutex::new(proxy),
            url: format!("s3://{BUCKET}/{key}"),
            size: config.file_size,
            s3s_addr,
        };
        store.probe(config, &e_tag);
        eprintln!(
            "object store: s3s-fs {S3S_FS_VERSION} at {s3s_addr} serving {} ({} MiB), through the counting proxy at {}",
            store.url,
            store.size / MIB,
            store.proxy_addr()
        );
        store
    }

    /// What the results record about the store.
    pub fn describe(&self) -> String {
        format!(
            "s3s-fs {S3S_FS_VERSION} on CPU 1 at {}, {} ({} MiB, the data file hard-linked), through the bench's counting proxy on CPU 1",
            self.s3s_addr,
            self.url,
            self.size / MIB
        )
    }

    fn proxy_addr(&self) -> SocketAddr {
        self.proxy.lock().unwrap().addr
    }

    /// The environment a store client of the bench runs with: the `AWS_*` variables of the
    /// bench's own environment removed (a profile or session token there must not reach the
    /// local store), the local store's set, its endpoint the proxy.
    pub fn client_env(&self, command: &mut Command) {
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("AWS_")) {
                command.env_remove(key);
            }
        }
        command
            .env("AWS_ENDPOINT_URL", format!("http://{}", self.proxy_addr()))
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    }

    /// The store's requests counted by the proxy so far.
    pub fn upstream(&self) -> Upstream {
        self.proxy.lock().unwrap().counts()
    }

    /// The processes that serve the store (s3s-fs, the proxy): their CPU is the store's, not
    /// the server's, and not another process disturbing the run.
    pub fn pids(&self) -> Vec<u32> {
        vec![self.s3s.id(), self.proxy.lock().unwrap().pid()]
    }

    /// `store_copy --probe` through the proxy: the object's size and the ETag laid out.
    fn probe(&self, config: &Config, e_tag: &str) {
        let mut command = Command::new(floor_binary(config));
        command.arg(&self.url).arg("--probe");
        self.client_env(&mut command);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let output = output_tracked(&mut command, "running store_copy --probe");
        let said = String::from_utf8_lossy(&output.stdout);
        let json: serde_json::Value = serde_json::from_str(said.trim()).unwrap_or_else(|_| {
            panic!(
                "the store's probe failed: {said} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert_eq!(json["size"].as_u64(), Some(self.size), "the object's size");
        assert_eq!(
            json["e_tag"].as_str(),
            Some(format!("\"{e_tag}\"").as_str()),
            "s3s-fs does not serve the ETag of the object's .internal.json: another s3s-fs \
             version? It would read the whole object with MD5 on every request"
        );
    }

    pub fn stop(mut self) {
        let _ = self.s3s.kill();
        let _ = self.s3s.wait();
        untrack(self.s3s.id());
        self.proxy.into_inner().unwrap().stop();
    }
}

/// The floor program, built and copied aside with the `aws` server (`binaries.rs`).
pub fn floor_binary(config: &Config) -> PathBuf {
    config.out_dir.join("bin").join("store_copy")
}

/// s3s-fs: `BENCH_S3S_FS`, or `target/bench-tools/bin/s3s-fs` at [`S3S_FS_VERSION`],
/// installed there with `cargo install` when missing or of another version (two minutes).
fn s3s_fs_binary(config: &Config) -> PathBuf {
    if let Some(path) = env::value("BENCH_S3S_FS") {
        return path.into();
    }
    let root = config.target_dir.join("bench-tools");
    let binary = root.join("bin").join("s3s-fs");
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if version == format!("s3s-fs {S3S_FS_VERSION}") {
        return binary;
    }
    eprintln!(
        "installing s3s-fs {S3S_FS_VERSION} into {}: cargo install s3s-fs@{S3S_FS_VERSION} --features binary --locked",
        root.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["install", &format!("s3s-fs@{S3S_FS_VERSION}")])
        .args(["--features", "binary", "--locked", "--force", "--root"])
        .arg(&root)
        .arg("--target-dir")
        .arg(root.join("build"))
        .current_dir(&config.target_dir)
        .status()
        .expect("running cargo install");
    assert!(status.success(), "installing s3s-fs failed");
    binary
}

/// The object in s3s-fs's `root`: the data file hard-linked (copied where it cannot be) as
/// `bench/KEY`, and its ETag in s3s-fs's `.internal.json`; returns that ETag.
fn lay_out(root: &Path, file: &Path, key: &str) -> String {
    let object = root.join(BUCKET).join(key);
    std::fs::create_dir_all(object.parent().unwrap()).expect("creating the bucket");
    // Always anew: the data file may have been rewritten (a new inode) since the last run.
    let _ = std::fs::remove_file(&object);
    if std::fs::hard_link(file, &object).is_err() {
        std::fs::copy(file, &object).expect("copying the data file into the bucket");
    }
    let size = std::fs::metadata(file).unwrap().len();
    let e_tag = format!("tower-range-bench-{size}");
    let info = root.join(format!(
        ".bucket-{}.object-{}.internal.json",
        base64_url(BUCKET.as_bytes()),
        base64_url(key.as_bytes())
    ));
    std::fs::write(info, serde_json::json!({ "e_tag": e_tag }).to_string())
        .expect("writing the object's ETag for s3s-fs");
    e_tag
}

/// URL-safe base64 without padding (RFC 4648 §5), as s3s-fs names its metadata files.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=group.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Waits until something accepts connections at `addr`.
fn wait_for_port(addr: SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "s3s-fs is not listening at {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
