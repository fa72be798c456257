//! Azurite, Microsoft's Azure Blob Storage emulator (npm `azurite`), in memory on a free port:
//! its well-known development account, a container made with the Blob REST API (the
//! `object_store` client cannot make one), and `object_store` clients for it, configured in
//! code or through the environment variables `from_url` reads.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Method, Request};
use http_body_util::Full;
use sha2::Sha256;
use tower_range::store::object_store::azure::MicrosoftAzureBuilder;
use tower_range::store::object_store::ObjectStore;
use tower_range::store::streaming_client_options;

use crate::emulator::{self, Emulator};
use crate::support::{http1_client, send};

/// Azurite's development account and its key: public, the same in every installation.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite with its blob service only.
pub struct Azurite {
    emulator: Emulator,
}

impl Azurite {
    /// Starts Azurite, or `None` (the test skipped) when it is not installed and not on CI.
    pub async fn start() -> Option<Azurite> {
        let program = emulator::program("TOWER_RANGE_AZURITE", "azurite-blob")?;
        let emulator = Emulator::start(
            "Azurite",
            |port| azurite_command(&program, port),
            "/",
            // Any answer: Azurite answers `/` with an error about the missing account.
            |_| true,
        )
        .await;
        Some(Azurite { emulator })
    }

    /// The blob endpoint of the development account (path style, as Azurite serves it).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.emulator.port())
    }

    /// Makes the container `name` with the Blob REST API's Create Container, signed with the
    /// account key (SharedKey): `object_store` has no call for it.
    pub async fn create_container(&self, name: &str) {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        // The string to sign: the verb, eleven standard headers (all empty: no body, no
        // Content-Type, and a Content-Length of 0 is signed as empty), the x-ms- headers
        // sorted, and the resource. A path-style URL names the account twice in it.
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n\
             /{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&base64_decode(KEY)).unwrap();
        mac.update(to_sign.as_bytes());
        let signature = base64_encode(&mac.finalize().into_bytes());
        let request = Request::builder()
            .method(Method::PUT)
            .uri(format!("{}/{name}?restype=container", self.endpoint()))
            .header("x-ms-date", &date)
            .header("x-ms-version", version)
            .header("authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let reply = send(&http1_client(), request).await;
        assert_eq!(
            reply.status,
            201,
            "creating the container {name}: {reply:?} {}\nAzurite's output:\n{}",
            String::from_utf8_lossy(&reply.body),
            self.emulator.output()
        );
    }

    /// A new `object_store` client for `container`, configured in code: the account and key,
    /// Azurite's endpoint, plain HTTP, and the crate's streaming client options.
    pub fn store(&self, container: &str) -> Arc<dyn ObjectStore> {
        let store = MicrosoftAzureBuilder::new()
            // The client options first: `with_client_options` replaces every client setting,
            // plain HTTP included.
            .with_client_options(streaming_client_options())
            .with_allow_http(true)
            .with_account(ACCOUNT)
            .with_access_key(KEY)
            .with_endpoint(self.endpoint())
            .with_container_name(container)
            .build()
            .expect("an Azure client for Azurite");
        Arc::new(store)
    }

    /// The environment variables that configure `from_url("az://CONTAINER/KEY")` for this
    /// Azurite, as a deployment would set them.
    pub fn environment(&self) -> Vec<(String, String)> {
        [
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.to_owned()),
            ("AZURE_STORAGE_ACCOUNT_KEY", KEY.to_owned()),
            ("AZURE_STORAGE_ENDPOINT", self.endpoint()),
            ("AZURE_ALLOW_HTTP", "true".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

/// Azurite's blob service on `port`: in memory, nothing written to disk; `--loose` and
/// `--skipApiVersionCheck` so that a newer client's API version or headers Azurite does not
/// know are not refused; no telemetry (it would leave the machine).
fn azurite_command(program: &Path, port: u16) -> Command {
    let mut command = Command::new(program);
    command
        .args(["--blobHost", "127.0.0.1", "--blobPort"])
        .arg(port.to_string())
        .args([
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ])
        // Its debug log and extents, were any written, go to a directory of their own.
        .current_dir(std::env::temp_dir());
    command
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), for the signature: no base64 crate among the
/// dev-dependencies for these few lines.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |group, (i, &b)| group | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(group >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (the account key); panics on anything else.
fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut group, mut bits) = (0u32, 0);
    for c in text.bytes().take_while(|&c| c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {text}"));
        group = group << 6 | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((group >> bits) as u8);
        }
    }
    out
}

#[test]
fn base64_round_trips() {
    for bytes in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
        assert_eq!(base64_decode(&base64_encode(bytes)), bytes);
    }
    assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64_encode(b"fooba"), "Zm9vYmE=");
    assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
    assert_eq!(base64_decode(KEY).len(), 64);
}
