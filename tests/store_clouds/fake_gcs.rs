//! fake-gcs-server (the Go emulator of Google Cloud Storage's JSON and XML APIs, from the PyPI
//! wheel that bundles it), in memory on a free port: buckets and objects made with its JSON
//! API (`object_store`'s uploads do not work against it), and `object_store` clients for it,
//! configured in code or through the environment variables `from_url` reads.
//!
//! Every client here carries a service-account key with `disable_oauth`: without one,
//! `object_store` asks the GCE metadata server (169.254.169.254) for a token, traffic that
//! must never leave a test.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use tower_range::store::object_store::gcp::GoogleCloudStorageBuilder;
use tower_range::store::object_store::ObjectStore;
use tower_range::store::streaming_client_options;

use crate::emulator::{self, Emulator};
use crate::support::{http1_client, percent_encode, send, Reply};

/// A service-account key that makes `object_store` send no token at all.
pub const NO_OAUTH_KEY: &str =
    r#"{"private_key":"","private_key_id":"","client_email":"","disable_oauth":true}"#;

/// A running fake-gcs-server.
pub struct FakeGcs {
    emulator: Emulator,
}

impl FakeGcs {
    /// Starts fake-gcs-server, or `None` (the test skipped) when it is not installed and not
    /// on CI.
    pub async fn start() -> Option<FakeGcs> {
        let program = emulator::program("TOWER_RANGE_FAKE_GCS", "fake-gcs-server")?;
        let emulator = Emulator::start(
            "fake-gcs-server",
            |port| fake_gcs_command(&program, port),
            "/_internal/healthcheck",
            |status| status.is_success(),
        )
        .await;
        Some(FakeGcs { emulator })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.emulator.port())
    }

    /// Makes the bucket `name`.
    pub async fn create_bucket(&self, name: &str) {
        let body = format!(r#"{{"name":"{name}"}}"#);
        let reply = self
            .call(
                Method::POST,
                "/storage/v1/b",
                "application/json",
                body.into(),
            )
            .await;
        self.expect_success(&reply, &format!("creating the bucket {name}"));
    }

    /// Writes `bytes` to `key` of `bucket` (a new generation when it exists).
    pub async fn upload(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let path = format!(
            "/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            percent_encode(key)
        );
        let reply = self
            .call(
                Method::POST,
                &path,
                "application/octet-stream",
                bytes.into(),
            )
            .await;
        self.expect_success(&reply, &format!("uploading {bucket}/{key}"));
    }

    /// Deletes `key` of `bucket`.
    pub async fn delete(&self, bucket: &str, key: &str) {
        let path = format!("/storage/v1/b/{bucket}/o/{}", percent_encode(key));
        let reply = self.call(Method::DELETE, &path, "", Bytes::new()).await;
        self.expect_success(&reply, &format!("deleting {bucket}/{key}"));
    }

    /// A new `object_store` client for `bucket`, configured in code: the emulator's URL, the
    /// key without OAuth, and the crate's streaming client options with plain HTTP allowed
    /// (the GCS builder allows it by default, but `with_client_options` replaces that default).
    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        let store = GoogleCloudStorageBuilder::new()
            .with_client_options(streaming_client_options().with_allow_http(true))
            .with_base_url(&self.base_url())
            .with_service_account_key(NO_OAUTH_KEY)
            .with_bucket_name(bucket)
            .build()
            .expect("a GCS client for fake-gcs-server");
        Arc::new(store)
    }

    /// The environment variables that configure `from_url("gs://BUCKET/KEY")` for this
    /// emulator: a key that turns OAuth off, and the emulator's plain-HTTP base URL (no
    /// `GOOGLE_ALLOW_HTTP`: `from_url` keeps the GCS builder's default of allowing it).
    pub fn environment(&self) -> Vec<(String, String)> {
        vec![
            (
                "GOOGLE_SERVICE_ACCOUNT_KEY".to_owned(),
                NO_OAUTH_KEY.to_owned(),
            ),
            ("GOOGLE_BASE_URL".to_owned(), self.base_url()),
        ]
    }

    async fn call(&self, method: Method, path: &str, content_type: &str, body: Bytes) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url()));
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        send(&http1_client(), request.body(Full::new(body)).unwrap()).await
    }

    #[track_caller]
    fn expect_success(&self, reply: &Reply, what: &str) {
        assert!(
            reply.status.is_success(),
            "{what}: {reply:?} {}\nfake-gcs-server's output:\n{}",
            String::from_utf8_lossy(&reply.body),
            self.emulator.output()
        );
    }
}

/// fake-gcs-server on `port`, in memory, over plain HTTP. `-public-host` must name the
/// address clients use: the emulator routes the XML API's path-style URLs (`/BUCKET/KEY`,
/// what `object_store` reads with) only for requests whose Host is its public host, and
/// answers 404 to every other (the default is `storage.googleapis.com`).
fn fake_gcs_command(program: &Path, port: u16) -> Command {
    let mut command = Command::new(program);
    command
        .args([
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
        ])
        .args(["-port", &port.to_string()])
        .args(["-public-host", &format!("127.0.0.1:{port}")])
        .args(["-log-level", "warn"]);
    command
}
