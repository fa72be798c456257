//! Stores from URLs (`s3://`, `gs://`, `az://`), configured from the provider's standard
//! environment variables and for streaming.

use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore};

/// HTTP client options for serving: no timeout over a whole request (a GET lasts as long as
/// its slowest client reads, which the default 30 s would cut), a read timeout instead (a
/// store that sends nothing for 30 s is dead), and a connect timeout of 5 s.
pub fn streaming_client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout_disabled()
        .with_read_timeout(Duration::from_secs(30))
        .with_connect_timeout(Duration::from_secs(5))
}

/// The store and key (or prefix) of `url`: `s3://BUCKET/KEY`, `gs://BUCKET/KEY`,
/// `az://CONTAINER/KEY` (each with its provider's cargo feature: `aws`, `gcp`, `azure`).
/// Credentials, region and endpoint come from the provider's standard environment
/// variables (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`;
/// `GOOGLE_SERVICE_ACCOUNT`…; `AZURE_STORAGE_ACCOUNT_NAME`…), read as each builder's
/// `from_env` reads them, over [`streaming_client_options`].
pub fn from_url(url: &str) -> Result<(Arc<dyn ObjectStore>, Path), object_store::Error> {
    let unsupported = |scheme: &str| {
        object_store::Error::NotSupported {
        source: format!("`{scheme}` URLs need another cargo feature of tower-range (aws, gcp, azure) or are not object-store URLs").into(),
    }
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| unsupported(url))?;
    let key = rest.split_once('/').map(|(_, key)| key).unwrap_or_default();
    let key = Path::parse(key.trim_end_matches('/'))
        .map_err(|source| object_store::Error::InvalidPath { source })?;
    // The streaming client first, then the environment, as the builders' `from_env` reads
    // it (`from_env` then `with_client_options` would drop `AWS_ALLOW_HTTP` and the like).
    let options = streaming_client_options();
    let store: Arc<dyn ObjectStore> = match scheme {
        #[cfg(feature = "aws")]
        "s3" | "s3a" => {
            use object_store::aws::AmazonS3Builder;
            let builder = AmazonS3Builder::new().with_client_options(options);
            let builder = from_environment("AWS_", builder, AmazonS3Builder::with_config);
            Arc::new(builder.with_url(url).build()?)
        }
        #[cfg(feature = "gcp")]
        "gs" => {
            use object_store::gcp::GoogleCloudStorageBuilder;
            // The GCS builder allows plain HTTP by default (an emulator's base URL decides);
            // client options replace that default, so it is kept here.
            let options = options.with_allow_http(true);
            let builder = GoogleCloudStorageBuilder::new().with_client_options(options);
            let builder =
                from_environment("GOOGLE_", builder, GoogleCloudStorageBuilder::with_config);
            Arc::new(builder.with_url(url).build()?)
        }
        #[cfg(feature = "azure")]
        "az" | "azure" | "abfs" | "abfss" => {
            use object_store::azure::MicrosoftAzureBuilder;
            let builder = MicrosoftAzureBuilder::new().with_client_options(options);
            let builder = from_environment("AZURE_", builder, MicrosoftAzureBuilder::with_config);
            Arc::new(builder.with_url(url).build()?)
        }
        other => {
            let _ = options;
            return Err(unsupported(other));
        }
    };
    Ok((store, key))
}

/// `builder` configured from the process environment's variables that start with `prefix`,
/// each name lowercased as the builders' configuration keys are spelt and set with `set`
/// when it names a key of that builder (others are ignored, as `from_env` ignores them).
#[allow(dead_code)] // Used by whichever provider features are on.
fn from_environment<B, K: std::str::FromStr>(
    prefix: &str,
    builder: B,
    set: impl Fn(B, K, String) -> B,
) -> B {
    std::env::vars_os()
        .filter_map(|(key, value)| {
            let (key, value) = (key.into_string().ok()?, value.into_string().ok()?);
            let key = key.starts_with(prefix).then(|| key.to_ascii_lowercase())?;
            Some((key.parse().ok()?, value))
        })
        .fold(builder, |builder, (key, value)| set(builder, key, value))
}
