//! The example server's object-store mode: `server s3://BUCKET/KEY` serves that object at
//! `/video` with the video page at `/`; `server s3://BUCKET/PREFIX/` (ending with `/`, or a
//! bare bucket) serves the keys under the prefix at `/media/<key relative to the prefix>`
//! through `StoreResolver`, with the library page at `/` built from a listing of the prefix
//! at start-up. `gs://` and `az://` likewise. The store comes from
//! `tower_range::store::from_url`: credentials, region and endpoint from the provider's
//! standard environment variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`,
//! `AWS_ACCESS_KEY_ID`…).
//!
//! Each provider needs its cargo feature (`aws`, `gcp`, `azure`): without it the server
//! still builds, and an URL of that provider exits 1 with one line naming the flag, so that
//! a default build and `cargo test` never compile the object-store client. Everything that
//! touches a store is behind those features; URL detection is not.
//!
//! A wrong bucket, a missing key or refused credentials exit 1 with one line before the
//! server binds: the key is probed with a `HEAD`, a prefix with one delimited listing.

use std::path::Path;

/// The schemes of the URLs `from_url` takes, and the cargo feature each needs.
const SCHEMES: [(&str, &str); 7] = [
    ("s3", "aws"),
    ("s3a", "aws"),
    ("gs", "gcp"),
    ("az", "azure"),
    ("azure", "azure"),
    ("abfs", "azure"),
    ("abfss", "azure"),
];

/// `video` as an object-store URL, and the cargo feature its scheme needs; `None` when it is
/// a path. Only the schemes above are URLs, so any other argument stays a path as before.
pub fn url_and_feature(video: &Path) -> Option<(&str, &'static str)> {
    let url = video.to_str()?;
    let (scheme, _) = url.split_once("://")?;
    let (_, feature) = SCHEMES.iter().find(|(known, _)| *known == scheme)?;
    Some((url, feature))
}

/// The line for a store URL whose provider this build lacks.
fn missing_feature(url: &str, feature: &str) -> String {
    let scheme = url.split_once("://").map_or(url, |(scheme, _)| scheme);
    format!(
        "{url}: {scheme}:// URLs need the server built with --features {feature}: \
         cargo run --release --features {feature} --example server -- {url}"
    )
}

/// Without any provider feature there is no store: the URL exits 1 with one line.
#[cfg(not(any(feature = "aws", feature = "gcp", feature = "azure")))]
pub async fn app(url: &str, feature: &str, _args: &crate::Args) -> crate::App {
    crate::startup::fail(&missing_feature(url, feature))
}

/// Without any provider feature no object is served, but the routes keep one body type: a
/// body that is never built stands in for an object's.
#[cfg(not(any(feature = "aws", feature = "gcp", feature = "azure")))]
pub type Body = tower_range::RangeBody<tower_range::source::MemoryReader>;

#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
pub use self::served::{app, Body, StoreMedia};

/// The store mode itself, built only with a provider feature.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
mod served {
    use std::future::Future;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::StreamExt;
    use http::Request;
    use http_body_util::Either;
    use hyper::body::Incoming;
    use tower::Service;
    use tower_range::store::object_store::path::Path as Key;
    use tower_range::store::object_store::{Error, ObjectStore, ObjectStoreExt};
    use tower_range::store::{
        from_url, ObjectReader, ObjectSource, RangeStoreService, StoreOptions, StoreResolver,
    };
    use tower_range::{RangeBody, RangeFileService};

    use super::missing_feature;
    use crate::library::{self, Entry};
    use crate::startup::fail;
    use crate::{configure, App, Args, Media, RouteFuture};

    /// An object's body.
    pub type Body = RangeBody<ObjectReader>;

    /// How long the store may take to answer each start-up request (the probe, each page of
    /// the listing). The client retries failed requests with backoff for up to 3 minutes (a
    /// wrong endpoint is refused again and again): start-up gives up sooner, with a line.
    const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

    /// The most objects the library page lists, so that a huge prefix cannot stall start-up
    /// (the directory walk has the same kind of bound); the rest are served, not listed.
    const MAX_LISTED: usize = 100_000;

    /// What the server serves from a store besides its page.
    #[derive(Clone)]
    pub enum StoreMedia {
        /// One object at `/video`.
        Object(RangeFileService<ObjectSource>),
        /// The keys under a prefix at `/media/…`.
        Prefix(RangeStoreService),
    }

    impl StoreMedia {
        /// Whether `path` is this media's: `/video`, or a path under `/media/`.
        pub fn serves(&self, path: &str) -> bool {
            match self {
                Self::Object(_) => path == "/video",
                Self::Prefix(_) => library::under_media(path),
            }
        }

        /// Answers a request for one of the paths it [`serves`](Self::serves).
        pub fn call(&mut self, request: Request<Incoming>) -> RouteFuture {
            match self {
                Self::Object(object) => crate::routed(object.call(request), Either::Right),
                Self::Prefix(prefix) => crate::routed(
                    prefix.call(library::strip_media_prefix(request)),
                    Either::Right,
                ),
            }
        }
    }

    /// Whether this build has the provider `feature` (it has at least one).
    pub(super) fn built_with(feature: &str) -> bool {
        let built = [
            ("aws", cfg!(feature = "aws")),
            ("gcp", cfg!(feature = "gcp")),
            ("azure", cfg!(feature = "azure")),
        ];
        built.contains(&(feature, true))
    }

    /// The server for a store URL, after checking the store answers for it; exits 1 with
    /// one line when it cannot.
    pub async fn app(url: &str, feature: &str, args: &Args) -> App {
        // The build may have another provider's feature, but not this one's.
        if !built_with(feature) {
            fail(&missing_feature(url, feature));
        }
        let (store, key) = match from_url(url) {
            Ok(found) => found,
            Err(error) => fail(&format!("{url}: {}", one_line(&error))),
        };
        // `from_url` drops the trailing slash: the URL tells a prefix from a key.
        if url.ends_with('/') || key.as_ref().is_empty() {
            prefix_app(url, store, key, args).await
        } else {
            object_app(url, store, key, args).await
        }
    }

    /// `s3://BUCKET/KEY`: the object at `/video`, the video page at `/`.
    async fn object_app(url: &str, store: Arc<dyn ObjectStore>, key: Key, args: &Args) -> App {
        if let Err(error) = within(url, store.head(&key)).await {
            match error {
                // S3 answers a HEAD in a missing bucket with a bare 404, too.
                Error::NotFound { .. } => fail(&format!(
                    "{url}: no such object (a wrong bucket or key; to serve the keys under \
                     a prefix, end the URL with /)"
                )),
                Error::PermissionDenied { .. } | Error::Unauthenticated { .. } => fail(&format!(
                    "{url}: access refused (check the credentials and the bucket's policy): {}",
                    one_line(&error)
                )),
                error => fail(&format!("{url}: {}", one_line(&error))),
            }
        }
        let page = crate::video_page(std::path::Path::new(key.as_ref()));
        App::assemble(page, args, |budget| {
            let source = ObjectSource::with_options(store, key, StoreOptions::new());
            Media::Store(StoreMedia::Object(configure(
                RangeFileService::from_source(source),
                args,
                budget,
            )))
        })
    }

    /// `s3://BUCKET/PREFIX/`: the keys under the prefix at `/media/…`, the library page of
    /// their listing at `/`.
    async fn prefix_app(url: &str, store: Arc<dyn ObjectStore>, prefix: Key, args: &Args) -> App {
        // One page of one level: a wrong bucket or refused credentials fail here, quickly,
        // before a whole listing is asked for.
        if let Err(error) = within(url, store.list_with_delimiter(Some(&prefix))).await {
            fail(&format!("{url}: {}", one_line(&error)));
        }
        let entries = listing(url, store.as_ref(), &prefix).await;
        tracing::info!(
            "{url}: {} objects listed for the library page",
            entries.len()
        );
        let page = library::library_page(&entries);
        App::assemble(page, args, |budget| {
            let resolver =
                StoreResolver::new(store, prefix, StoreOptions::new()).download_query("download");
            Media::Store(StoreMedia::Prefix(configure(
                RangeStoreService::from_resolver(resolver),
                args,
                budget,
            )))
        })
    }

    /// The objects under `prefix` as the library's entries (at most [`MAX_LISTED`]); exits
    /// 1 with one line when the listing fails.
    async fn listing(url: &str, store: &dyn ObjectStore, prefix: &Key) -> Vec<Entry> {
        let mut listed = store.list(Some(prefix));
        let mut entries = Vec::new();
        while let Some(meta) = within(url, listed.next()).await {
            let meta = meta.unwrap_or_else(|error| fail(&format!("{url}: {}", one_line(&error))));
            if entries.len() == MAX_LISTED {
                tracing::warn!("{url}: more than {MAX_LISTED} objects, the page lists the first");
                break;
            }
            if let Some(path) = relative(&meta.location, prefix) {
                entries.push(Entry {
                    path,
                    size: meta.size,
                });
            }
        }
        entries
    }

    /// `key` below `prefix`, as the library's path; `None` for a key the service would
    /// refuse (a hidden segment) or that is the prefix itself.
    pub(super) fn relative(key: &Key, prefix: &Key) -> Option<PathBuf> {
        let parts: Vec<_> = key.prefix_match(prefix)?.collect();
        let hidden = parts.iter().any(|part| part.as_ref().starts_with('.'));
        (!parts.is_empty() && !hidden).then(|| parts.iter().map(|part| part.as_ref()).collect())
    }

    /// `answer`, or exit 1 with one line when the store has not answered within
    /// [`STARTUP_DEADLINE`].
    async fn within<T>(url: &str, answer: impl Future<Output = T>) -> T {
        match tokio::time::timeout(STARTUP_DEADLINE, answer).await {
            Ok(answer) => answer,
            Err(_) => fail(&format!(
                "{url}: the store did not answer within {} s (check the endpoint, \
                 AWS_ENDPOINT_URL or the like, and the network)",
                STARTUP_DEADLINE.as_secs()
            )),
        }
    }

    /// The store's error on one line: its messages may quote the response body, an XML
    /// document with line breaks, of which the error's code and message are kept.
    pub(super) fn one_line(error: &Error) -> String {
        /// Enough for the store's own words; a body can be long.
        const MAX: usize = 400;
        let text = error.to_string();
        let text = match text.find("<?xml") {
            Some(xml) => {
                let mut short = text[..xml].trim_end().to_owned();
                for tag in ["Code", "Message"] {
                    let open = format!("<{tag}>");
                    let value = text[xml..].split_once(&open).and_then(|(_, rest)| {
                        rest.split_once(&format!("</{tag}>"))
                            .map(|(value, _)| value)
                    });
                    if let Some(value) = value {
                        short.push(' ');
                        short.push_str(value);
                    }
                }
                short
            }
            None => text,
        };
        // A HEAD's refusal has no body to quote: no dangling colon either.
        let text = text.trim_end().trim_end_matches(':');
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match text.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_are_told_from_paths() {
        for (arg, feature) in [
            ("s3://bucket/key.mp4", "aws"),
            ("s3://bucket/films/", "aws"),
            ("s3a://bucket/key", "aws"),
            ("gs://bucket/key", "gcp"),
            ("az://container/key", "azure"),
            (
                "abfss://container@account.dfs.core.windows.net/key",
                "azure",
            ),
        ] {
            assert_eq!(
                url_and_feature(Path::new(arg)),
                Some((arg, feature)),
                "{arg}"
            );
        }
        for path in [
            "video.mp4",
            "/srv/media/",
            "s3:/bucket/key",
            "S3://bucket/key",
            "http://host/video.mp4",
            "./s3://bucket/key",
        ] {
            assert_eq!(url_and_feature(Path::new(path)), None, "{path}");
        }
    }

    #[test]
    fn a_missing_feature_is_named_on_one_line() {
        let line = missing_feature("gs://bucket/a.mp4", "gcp");
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("gs://bucket/a.mp4: gs:// URLs need"),
            "{line}"
        );
        assert!(line.contains("--features gcp"), "{line}");
        assert!(
            line.ends_with(
                "cargo run --release --features gcp --example server -- gs://bucket/a.mp4"
            ),
            "{line}"
        );
    }

    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    #[test]
    fn this_build_has_exactly_its_features() {
        use served::built_with;

        assert_eq!(built_with("aws"), cfg!(feature = "aws"));
        assert_eq!(built_with("gcp"), cfg!(feature = "gcp"));
        assert_eq!(built_with("azure"), cfg!(feature = "azure"));
        assert!(!built_with("metrics"));
    }

    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    #[test]
    fn listed_keys_become_paths_below_the_prefix() {
        use std::path::PathBuf;

        use tower_range::store::object_store::path::Path as Key;

        let prefix = Key::from("films");
        let relative = |key: &str| served::relative(&Key::parse(key).unwrap(), &prefix);
        assert_eq!(relative("films/a b.mp4"), Some(PathBuf::from("a b.mp4")));
        assert_eq!(relative("films/x/y.mp4"), Some(PathBuf::from("x/y.mp4")));
        assert_eq!(relative("films/.hidden/y.mp4"), None);
        assert_eq!(relative("films/x/.y.mp4"), None);
        assert_eq!(relative("films"), None);
        assert_eq!(relative("filmsx/y.mp4"), None);
        let whole = Key::from("");
        assert_eq!(
            served::relative(&Key::parse("a/b.mp4").unwrap(), &whole),
            Some(PathBuf::from("a/b.mp4"))
        );
    }

    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
    #[test]
    fn store_errors_fit_on_one_line() {
        use tower_range::store::object_store::Error;

        let error = |body: String| Error::Generic {
            store: "S3",
            source: body.into(),
        };
        let line = served::one_line(&error(format!(
            "404 Not Found: <?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code>\n\
             <Message>The specified bucket does not exist</Message>{}</Error>",
            "x".repeat(1000)
        )));
        assert_eq!(
            line,
            "Generic S3 error: 404 Not Found: NoSuchBucket The specified bucket does not exist"
        );
        let line = served::one_line(&error(format!("a\n  b {}", "y".repeat(1000))));
        assert!(line.starts_with("Generic S3 error: a b yyy"), "{line}");
        assert_eq!(line.chars().count(), 401, "{line}");
    }
}
