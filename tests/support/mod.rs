//! Shared by the integration tests (each test file has `mod support;`): a real server on
//! 127.0.0.1:0 and real clients over TCP, the example binaries as child processes, other
//! programs run with a deadline, a throttling proxy, the media and files the tests serve, and
//! for the object-store tests a real S3 (moto) with a counting, fault-injecting proxy.
//! Everything is re-exported here, so a test writes `use support::{serve, fetch, …};`.
//!
//! Every wait here has a deadline; every missing program is a panic with the command that
//! installs it, never a silent skip (but for moto outside CI: `Moto::start_or_skip`).

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

mod access_log;
mod browser;
mod client;
mod dir_policy;
mod example_server;
mod fs;
mod media;
mod moto;
mod moto_iam;
mod multipart;
mod process;
mod proxy;
mod server;
mod sigv4;
mod store_forward;
mod store_proxy;

// A test file uses part of this, and the rest would be reported as unused in it.
#[allow(unused_imports)]
pub use self::dir_policy::hls_policy;
#[allow(unused_imports)]
pub use self::{
    access_log::*, browser::*, client::*, example_server::*, fs::*, media::*, moto::*,
    multipart::*, process::*, proxy::*, server::*, sigv4::*, store_proxy::*,
};
