//! The servers under test as child processes pinned to CPU 0: tower-range's and
//! tower-http's example binaries, or nginx from a generated configuration; ready once they
//! serve the right bytes, stopped after each run. Each serves either the one data file at
//! `/video` (W1–W4) or W7's tree at `/media/…`.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::binaries;
use crate::children::{pinned, track, untrack};
use crate::config::{Config, Kind, ServerSpec};
use crate::data_file::expected_bytes;
use crate::example_server;
use crate::many_files;

/// What a server serves: the data file at `/video`, or W7's tree at `/media/`.
#[derive(Clone, Copy)]
pub enum Served<'a> {
    File(&'a Path),
    Tree(&'a Path),
}

pub struct Running {
    child: Child,
    pub addr: SocketAddr,
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

pub fn start_server(config: &Config, spec: &ServerSpec, served: Served) -> Running {
    let file = match served {
        Served::File(path) | Served::Tree(path) => path,
    };
    let dir = config.out_dir.join("run").join(&spec.name);
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let examples = config.out_dir.join("bin");
    let mut running = match spec.kind {
        Kind::Ours | Kind::TowerHttp => {
            let binary = spec.binary.clone().unwrap_or_else(|| match &spec.features {
                Some(features) => binaries::server_with_features(config, features),
                None => examples.join(if spec.kind == Kind::Ours {
                    "server"
                } else {
                    "peer_tower_http"
                }),
            });
            let mut args = vec![
                file.display().to_string(),
                "--addr".into(),
                "127.0.0.1:0".into(),
            ];
            args.extend(spec.args.iter().cloned());
            let mut command = pinned("0", &binary, &args);
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
                _stdout: Some(stdout),
            }
        }
        Kind::Nginx { .. } | Kind::NginxFiles { .. } => {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let conf = nginx_conf(spec.kind, &dir, port, file);
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
                _stdout: None,
            }
        }
    };
    track(running.child.id());
    // Ready when it answers a range with the right bytes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let checked = match served {
            Served::File(_) => check_range(running.addr, "/video", config.file_size, &|o, l| {
                expected_bytes(o, l)
            }),
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

/// nginx's configuration for `kind` from the template: `/video` the data file with sendfile
/// off or on, or `/media/` the tree (sendfile off as in the main comparison) with
/// `open_file_cache` off or on.
fn nginx_conf(kind: Kind, dir: &Path, port: u16, path: &Path) -> String {
    let path = path.to_str().unwrap();
    let (sendfile, location) = match kind {
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
    include_str!("../support/nginx.conf.template")
        .replace("{{PREFIX}}", dir.to_str().unwrap())
        .replace("{{PORT}}", &port.to_string())
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
