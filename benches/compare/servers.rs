//! The servers under test as child processes pinned to CPU 0: tower-range's and
//! tower-http's example binaries, or nginx from a generated configuration; ready once they
//! serve the right bytes, stopped after each run. Each serves either the one data file at
//! `/video` (W1–W4, W6) or W7's tree at `/media/…`, or (ours, built with `aws`) the data
//! file as an object of the bench's S3 server at `/video` (the object-store workloads); for
//! W6 each also answers HTTP/2 with prior knowledge (h2c), nginx on a port of its own.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::binaries;
use crate::children::{pinned, track, untrack};
use crate::config::{AccessLog, Config, Kind, ServerSpec};
use crate::data_file::expected_bytes;
use crate::example_server;
use crate::many_files;
use crate::store::{self, Store};

/// What a server serves: the data file at `/video`, or W7's tree at `/media/`, or the data
/// file from the object store at `/video`.
#[derive(Clone, Copy)]
pub enum Served<'a> {
    File(&'a Path),
    Tree(&'a Path),
    Object(&'a Store),
}

/// A server started for one run.
pub struct Running {
    child: Child,
    /// Where it answers HTTP/1.1.
    pub addr: SocketAddr,
    /// Where it answers HTTP/2 with prior knowledge: the same port for the Rust servers
    /// (hyper-util's auto builder tells the two apart by the connection preface), nginx's
    /// `listen … http2` port when it was started for W6.
    pub h2_addr: SocketAddr,
    _stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        untrack(self.child.id());
    }
}

/// Starts `spec` pinned to CPU 0 serving `served`, with an HTTP/2 listener when `h2` (W6), and
/// returns once it serves the right bytes.
pub fn start_server(config: &Config, spec: &ServerSpec, served: Served, h2: bool) -> Running {
    let file = match served {
        Served::File(path) | Served::Tree(path) => path.display().to_string(),
        Served::Object(store) => store.url.clone(),
    };
    let dir = config.out_dir.join("run").join(&spec.name);
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let examples = config.out_dir.join("bin");
    let mut running = match spec.kind {
        Kind::Ours | Kind::TowerHttp => {
            let binary = spec
                .binary
                .clone()
                .unwrap_or_else(|| match (&spec.features, served) {
                    (_, Served::Object(_)) => {
                        binaries::server_with_features(config, &store::server_features(spec))
                    }
                    (Some(features), _) => binaries::server_with_features(config, features),
                    (None, _) => examples.join(if spec.kind == Kind::Ours {
                        "server"
                    } else {
                        "peer_tower_http"
                    }),
                });
            let mut args = vec![file, "--addr".into(), "127.0.0.1:0".into()];
            args.extend(spec.args.iter().cloned());
            let mut command = pinned("0", &binary, &args);
            if let Served::Object(store) = served {
                store.client_env(&mut command);
            }
            command.envs(spec.env.iter().map(|(k, v)| (k, v)));
            let mut child = command
                .stdout(Stdio::piped())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let (line, stdout) = example_server::first_line(&mut child, Duration::from_secs(10))
                .unwrap_or_else(|| panic!("{} did not say where it serves", spec.name));
            let addr = example_server::announced_addr(&line)
                .unwrap_or_else(|| panic!("{}: unexpected first line {line:?}", spec.name));
            Running {
                child,
                addr,
                h2_addr: addr,
                _stdout: Some(stdout),
            }
        }
        Kind::StoreFloor { .. } => unreachable!("a floor is not a server"),
        Kind::Nginx { .. } | Kind::NginxFiles { .. } => {
            let file = Path::new(&file);
            let [port, second] = free_ports();
            let h2_port = if h2 { second } else { port };
            let conf = nginx_conf(spec, &dir, port, h2.then_some(h2_port), file);
            // A fresh access log per run, as the example server's stderr.log is: nginx
            // appends, and the log of every run together would grow by gigabytes.
            let _ = std::fs::remove_file(dir.join("access.log"));
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let args = vec![
                "-p".to_string(),
                dir.display().to_string(),
                "-c".into(),
                conf_path.display().to_string(),
                "-e".into(),
                dir.join("error.log").display().to_string(),
            ];
            let child = pinned("0", Path::new("nginx"), &args)
                .stdout(Stdio::null())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("starting nginx");
            Running {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                h2_addr: SocketAddr::from(([127, 0, 0, 1], h2_port)),
                _stdout: None,
            }
        }
    };
    track(running.child.id());
    // Ready when it answers a range with the right bytes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let checked = match served {
            Served::File(_) | Served::Object(_) => {
                check_range(running.addr, "/video", config.file_size, &|o, l| {
                    expected_bytes(o, l)
                })
            }
            Served::Tree(_) => {
                // The last file, in the last directory: the whole tree is in place.
                let k = config.many_files - 1;
                let path = format!("/media/{}", many_files::relative(k));
                check_range(running.addr, &path, many_files::FILE_SIZE, &|o, l| {
                    many_files::expected(k, o, l)
                })
            }
        };
        match checked {
            Ok(()) => break,
            Err(error) if Instant::now() > deadline => {
                let _ = running.child.kill();
                panic!("{} is not serving the file right: {error}", spec.name);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    running
}

/// Two distinct ports free now, for nginx to listen on (it cannot announce a port it picked
/// itself); both listeners are held until both ports are known, so they differ.
pub(crate) fn free_ports() -> [u16; 2] {
    let listeners = [(); 2].map(|()| TcpListener::bind("127.0.0.1:0").unwrap());
    listeners.map(|l| l.local_addr().unwrap().port())
}

/// nginx's access log when it is on: the `combined` format into the run directory, buffered
/// as a production server's is (a write per 64 KiB of lines, or per second when quieter),
/// rather than Debian's default of a `write(2)` per request. 64 KiB is also the buffer the
/// example server's log writer fills before a write, so the two pay alike per line.
pub const NGINX_ACCESS_LOG: &str = "combined buffer=64k flush=1s";

/// nginx's configuration for `spec` from the template: `/video` the data file with sendfile
/// off or on, or `/media/` the tree (sendfile off as in the main comparison) with
/// `open_file_cache` off or on; the access log on (buffered, into `dir`) or off; and with
/// `h2_port`, a second listener there speaking HTTP/2 (h2c prior knowledge).
fn nginx_conf(
    spec: &ServerSpec,
    dir: &Path,
    port: u16,
    h2_port: Option<u16>,
    path: &Path,
) -> String {
    let path = path.to_str().unwrap();
    let (sendfile, location) = match spec.kind {
        Kind::Nginx { sendfile } => (
            sendfile,
            format!(
                "location = /video {{\n            alias {path};\n            default_type application/octet-stream;\n        }}"
            ),
        ),
        Kind::NginxFiles { open_file_cache } => {
            let cache = if open_file_cache {
                "open_file_cache max=20000 inactive=60s;\n            open_file_cache_valid 60s;"
            } else {
                "open_file_cache off;"
            };
            (
                false,
                format!(
                    "location /media/ {{\n            alias {path}/;\n            {cache}\n            default_type application/octet-stream;\n        }}"
                ),
            )
        }
        _ => unreachable!("not nginx"),
    };
    let access_log = match spec.access_log {
        AccessLog::On => format!(
            "access_log {}/access.log {NGINX_ACCESS_LOG};",
            dir.display()
        ),
        AccessLog::Off | AccessLog::Absent => "access_log off;".into(),
    };
    let listen_h2 = h2_port.map_or(String::new(), |p| format!("listen 127.0.0.1:{p} http2;"));
    include_str!("../support/nginx.conf.template")
        .replace("{{PREFIX}}", dir.to_str().unwrap())
        .replace("{{PORT}}", &port.to_string())
        .replace("{{ACCESS_LOG}}", &access_log)
        .replace("{{LISTEN_H2}}", &listen_h2)
        .replace("{{SENDFILE}}", if sendfile { "on" } else { "off" })
        .replace("{{LOCATION}}", &location)
}

/// GETs a few ranges of `path` (the last bytes among them) and compares them with what
/// `expected(offset, len)` says they are.
fn check_range(
    addr: SocketAddr,
    path: &str,
    file_size: u64,
    expected: &dyn Fn(u64, usize) -> Vec<u8>,
) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    for (offset, len) in [(12_345u64, 70_000usize), (file_size - 1000, 1000), (0, 1)] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nRange: bytes={}-{}\r\n\r\n",
            offset,
            offset + len as u64 - 1
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        let head_end = loop {
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        if !head.starts_with("HTTP/1.1 206") {
            return Err(format!("expected 206, got {:?}", head.lines().next()));
        }
        while buf.len() < head_end + len {
            let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed in the body".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        if buf[head_end..] != expected(offset, len)[..] {
            return Err(format!("wrong bytes for {offset}+{len}"));
        }
    }
    Ok(())
}
