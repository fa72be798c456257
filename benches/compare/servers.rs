//! The servers under test as child processes pinned to CPU 0: tower-range's and
//! tower-http's example binaries, or nginx from a generated configuration; ready once they
//! serve the right bytes, stopped after each run.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::children::{pinned, track, untrack};
use crate::config::{Config, Kind, ServerSpec};
use crate::data_file::expected_bytes;
use crate::example_server;

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

pub fn start_server(config: &Config, spec: &ServerSpec, file: &Path) -> Running {
    let dir = config.out_dir.join("run").join(&spec.name);
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let examples = config.out_dir.join("bin");
    let mut running = match spec.kind {
        Kind::Ours | Kind::TowerHttp => {
            let binary = spec.binary.clone().unwrap_or_else(|| {
                examples.join(if spec.kind == Kind::Ours {
                    "server"
                } else {
                    "peer_tower_http"
                })
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
        Kind::Nginx { sendfile } => {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let conf = include_str!("../support/nginx.conf.template")
                .replace("{{PREFIX}}", dir.to_str().unwrap())
                .replace("{{PORT}}", &port.to_string())
                .replace("{{SENDFILE}}", if sendfile { "on" } else { "off" })
                .replace("{{FILE}}", file.to_str().unwrap());
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
        match check_range(running.addr, config.file_size) {
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

/// GETs a few ranges (the last bytes among them) and compares them with the data file.
fn check_range(addr: SocketAddr, file_size: u64) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    for (offset, len) in [(12_345u64, 70_000usize), (file_size - 1000, 1000), (0, 1)] {
        let request = format!(
            "GET /video HTTP/1.1\r\nHost: {addr}\r\nRange: bytes={}-{}\r\n\r\n",
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
        if buf[head_end..] != expected_bytes(offset, len)[..] {
            return Err(format!("wrong bytes for {offset}+{len}"));
        }
    }
    Ok(())
}
