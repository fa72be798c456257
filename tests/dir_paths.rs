//! The directory service against hostile request paths, over raw TCP (so that no client
//! normalises the path first), with the inline fast path on and off: `../` in every encoding,
//! `//`, absolute-form targets, NUL, backslashes, 8 KiB paths, symlinks out of the root to a
//! file and to a directory, absolute symlinks, a symlink inside, dotfiles, a FIFO and a socket.
//! A secret outside the root never appears in an answer, no answer is a 5xx, nothing hangs.
#![cfg(target_os = "linux")]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use support::{serve, temp_dir};
use tower_range::dir::{DirResolver, RangeDirService};

const SECRET: &str = "SECRET-7f3a9c";

/// root/ (served) and, beside it, what must never be reached.
fn tree(name: &str) -> std::path::PathBuf {
    let base = temp_dir(name);
    let root = base.join("root");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("films/sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(base.join("secret.txt"), SECRET).unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("a.mp4"), b"film a").unwrap();
    std::fs::write(root.join("films/sub/b.mp4"), b"film b").unwrap();
    std::fs::write(root.join(".env"), SECRET).unwrap();
    std::fs::write(root.join("with space.mp4"), b"spaced").unwrap();
    let link =
        |target: &str, name: &str| std::os::unix::fs::symlink(target, root.join(name)).unwrap();
    link("a.mp4", "inside.mp4");
    link("../secret.txt", "out.txt");
    link("../outside", "outdir");
    link(base.join("secret.txt").to_str().unwrap(), "absolute.txt");
    link("/etc/passwd", "passwd");
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    mknodat(
        CWD,
        root.join("fifo.mp4"),
        FileType::Fifo,
        Mode::from(0o644),
        0,
    )
    .unwrap();
    std::mem::forget(std::os::unix::net::UnixListener::bind(root.join("socket.mp4")).unwrap());
    root
}

/// Sends `target` as the request target, byte for byte; returns the status and the whole
/// response.
fn raw_get(addr: SocketAddr, target: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(&request).unwrap();
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("the server answered within 10 s");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// Request target → the status it must get (`0`: any 4xx).
fn payloads() -> Vec<(Vec<u8>, u16)> {
    let mut cases: Vec<(Vec<u8>, u16)> = [
        ("/a.mp4", 200),
        ("/films/sub/b.mp4", 200),
        ("/with%20space.mp4", 200),
        ("/inside.mp4", 200),
        ("/../secret.txt", 404),
        ("/films/../../secret.txt", 404),
        ("/%2e%2e/secret.txt", 404),
        ("/%2E%2E/secret.txt", 404),
        ("/..%2fsecret.txt", 404),
        ("/..%5csecret.txt", 404),
        ("/%252e%252e/secret.txt", 404),
        ("/%c0%ae%c0%ae/secret.txt", 404),
        ("//secret.txt", 404),
        ("/films//sub/b.mp4", 404),
        ("/out.txt", 404),
        ("/outdir/secret.txt", 404),
        ("/absolute.txt", 404),
        ("/passwd", 404),
        ("/.env", 404),
        ("/%2eenv", 404),
        ("/fifo.mp4", 404),
        ("/socket.mp4", 404),
        ("/films", 404),
        ("/films/", 404),
        ("/", 404),
        ("/a.mp4%00.txt", 404),
        ("/a%5c..%5c..%5csecret.txt", 404),
        ("/%zz", 400),
        ("http://localhost/../secret.txt", 404),
        ("http://localhost/a.mp4", 200),
    ]
    .into_iter()
    .map(|(t, s)| (t.as_bytes().to_vec(), s))
    .collect();
    cases.push((format!("/{}", "a".repeat(8 * 1024)).into_bytes(), 0));
    cases.push((format!("/{}", "a/".repeat(2000)).into_bytes(), 0));
    cases
}

async fn hostile_paths(inline: bool) {
    let root = tree(&format!("dir-hostile-{inline}"));
    let resolver = DirResolver::new(&root).unwrap().inline_io(inline);
    let addr = serve(RangeDirService::from_resolver(resolver)).await;
    for (target, expected) in payloads() {
        let shown = String::from_utf8_lossy(&target[..target.len().min(60)]).into_owned();
        let (status, response) = tokio::task::spawn_blocking(move || raw_get(addr, &target))
            .await
            .unwrap();
        assert!(!response.contains(SECRET), "{shown}: the secret leaked");
        assert!(status < 500, "{shown}: {status}");
        match expected {
            0 => assert!((400..500).contains(&status), "{shown}: {status}"),
            _ => assert_eq!(status, expected, "{shown}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_never_leave_the_root_inline_io_on() {
    hostile_paths(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_never_leave_the_root_inline_io_off() {
    hostile_paths(false).await;
}

#[tokio::test]
async fn a_directory_swapped_for_a_symlink_out_between_requests_is_refused() {
    let root = tree("dir-swap");
    let addr = serve(RangeDirService::from_resolver(
        DirResolver::new(&root).unwrap(),
    ))
    .await;
    let get = |target: &'static str| {
        tokio::task::spawn_blocking(move || raw_get(addr, target.as_bytes()))
    };
    assert_eq!(get("/films/sub/b.mp4").await.unwrap().0, 200);
    let films = root.join("films");
    std::fs::rename(&films, root.join("films-old")).unwrap();
    std::os::unix::fs::symlink("../outside", &films).unwrap();
    std::fs::create_dir_all(root.join("../outside/sub")).unwrap();
    std::fs::write(root.join("../outside/sub/b.mp4"), SECRET).unwrap();
    let (status, response) = get("/films/sub/b.mp4").await.unwrap();
    assert_eq!(status, 404);
    assert!(!response.contains(SECRET));
}

#[tokio::test]
async fn symlinks_can_be_refused_altogether() {
    let root = tree("dir-nofollow");
    let resolver = DirResolver::new(&root).unwrap().follow_symlinks(false);
    let addr = serve(RangeDirService::from_resolver(resolver)).await;
    let (status, _) = tokio::task::spawn_blocking(move || raw_get(addr, b"/inside.mp4"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, _) = tokio::task::spawn_blocking(move || raw_get(addr, b"/a.mp4"))
        .await
        .unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_root_that_is_not_a_directory_is_refused_at_once() {
    let file = temp_dir("dir-not-a-dir").join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(DirResolver::new(&file).is_err());
    assert!(DirResolver::new(Path::new("/nonexistent/tower-range")).is_err());
}

mod property {
    use proptest::prelude::*;
    use tower_range::{Resolver, Resources, SourceReader};

    use super::*;

    /// Pieces a hostile path is made of.
    const ALPHABET: &[&str] = &[
        "..",
        ".",
        "/",
        "//",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "\\",
        "%00",
        "%252e",
        "%c0%ae",
        "%",
        "a.mp4",
        "films",
        "sub",
        "b.mp4",
        "out.txt",
        "outdir",
        "inside.mp4",
        "absolute.txt",
        "passwd",
        "secret.txt",
        ".env",
        "fifo.mp4",
        "~",
        " ",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn a_random_hostile_path_opens_a_file_beneath_the_root_or_gets_a_4xx(
            pieces in proptest::collection::vec(proptest::sample::select(ALPHABET), 1..8)
        ) {
            let root = root();
            let target = format!("/{}", pieces.concat());
            let Ok(uri) = target.parse::<http::Uri>() else {
                return Ok(()); // not a request target a server could receive
            };
            let (parts, ()) = http::Request::get(uri).body(()).unwrap().into_parts();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let resolver = DirResolver::new(&root).unwrap();
            match runtime.block_on(resolver.resolve(&parts, &Resources::global())) {
                Ok(opened) => {
                    let len = opened.metadata.len() as usize;
                    let bytes = runtime.block_on(opened.reader.read_at(0, len)).unwrap();
                    prop_assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
                    prop_assert!(bytes.starts_with(b"film"), "{target}: {bytes:?}");
                }
                Err(miss) => {
                    let status = miss.kind().status().as_u16();
                    prop_assert!((400..500).contains(&status), "{target}: {status}");
                }
            }
        }
    }

    /// One tree for all cases.
    fn root() -> std::path::PathBuf {
        static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
        ROOT.get_or_init(|| tree("dir-property")).clone()
    }
}
