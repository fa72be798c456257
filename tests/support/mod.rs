//! Shared by the integration tests (each test file has `mod support;`): a real server on
//! 127.0.0.1:0 and real clients over TCP, the example binaries as child processes, other
//! programs run with a deadline, a throttling proxy, and the media and files the tests serve.
//! Everything is re-exported here, so a test writes `use support::{serve, fetch, …};`.
//!
//! Every wait here has a deadline; every missing program is a panic with the command that
//! installs it, never a silent skip.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

mod access_log;
mod client;
mod example_server;
mod fs;
mod media;
mod multipart;
mod process;
mod proxy;
mod server;

// A test file uses part of this, and the rest would be reported as unused in it.
#[allow(unused_imports)]
pub use self::{
    access_log::*, client::*, example_server::*, fs::*, media::*, multipart::*, process::*,
    proxy::*, server::*,
};

// The support code's own tests; like the rest of this module, they are compiled into, and
// run by, every test binary that has `mod support;`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_access_lines() {
        let line = "2026-01-01T00:00:00.000000Z  INFO access: GET /video HTTP/1.1 \
                    range=bytes=0-1, 5-6 status=206 bytes=1097903 complete in 2.2ms \
                    if=none-match,range";
        let a = Access::parse(line).unwrap();
        assert_eq!(a.method, "GET");
        assert_eq!(a.path, "/video");
        assert_eq!(a.version, "HTTP/1.1");
        assert_eq!(a.range.as_deref(), Some("bytes=0-1, 5-6"));
        assert_eq!(a.status, 206);
        assert_eq!(a.bytes, 1097903);
        assert_eq!(a.outcome, "complete");
        assert_eq!(a.conditions, ["none-match", "range"]);
        let b = Access::parse(
            "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2maccess\u{1b}[0m\u{1b}[2m:\u{1b}[0m \
             HEAD / HTTP/2.0 range=- status=200 bytes=0 aborted in 1ms if=-",
        )
        .unwrap();
        assert_eq!(b.range, None);
        assert!(b.conditions.is_empty());
        assert_eq!(b.version, "HTTP/2.0");
        assert_eq!(b.outcome, "aborted");
    }

    #[test]
    fn parses_multipart() {
        let body = b"\r\n--XYZ\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/10\r\n\r\nab\r\n--XYZ\r\nContent-Range: bytes 5-6/10\r\n\r\nfg\r\n--XYZ--\r\n";
        let parts = parse_multipart(body, "XYZ");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            header_in(&parts[0].0, "content-range"),
            Some("bytes 0-1/10")
        );
        assert_eq!(parts[1].1, b"fg");
    }
}
