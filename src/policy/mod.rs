//! What a service of many files sends with each one besides its bytes: the per-file policy
//! hook ([`FilePolicy`]: extra headers, the content type, the disposition, a rate limit) and
//! `Content-Disposition` ([`Disposition`]), shared by the directory service and the
//! bucket-prefix resolver of object storage, so both present a file the same way.

// Used by the directory service (Unix) and the store (a feature); a build with neither keeps
// the public types and no user of the rest.
#![cfg_attr(not(any(unix, feature = "object-store")), allow(dead_code))]

use std::path::Path;
use std::sync::Arc;

use http::request::Parts;
use http::HeaderValue;

mod disposition;

use disposition::content_disposition;
pub use disposition::Disposition;

use crate::metadata::Metadata;
use crate::rate::RateLimit;
use crate::resolve::Opened;

/// How a service of many files presents each one: the policy hook, and whether it is sent as
/// a download (always, or when the request's query asks). Set once on a resolver.
#[derive(Clone, Default)]
pub(crate) struct Presentation {
    pub(crate) attachments: bool,
    pub(crate) download_query: Option<Arc<str>>,
    pub(crate) policy: Option<Arc<PolicyFn>>,
}

impl std::fmt::Debug for Presentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presentation")
            .field("attachments", &self.attachments)
            .field("download_query", &self.download_query)
            .field("policy", &self.policy.is_some())
            .finish()
    }
}

impl Presentation {
    /// Sets the hook.
    pub(crate) fn set_policy(
        &mut self,
        policy: impl Fn(&Path, &Metadata) -> FilePolicy + Send + Sync + 'static,
    ) {
        self.policy = Some(Arc::new(policy));
    }

    /// What applies to `request`'s file.
    pub(crate) fn for_request(&self, request: &Parts) -> Describe {
        Describe {
            policy: self.policy.clone(),
            attachment: self.attachments || self.download_asked(request),
        }
    }

    /// Whether the request's query asks for a download.
    fn download_asked(&self, request: &Parts) -> bool {
        let (Some(name), Some(query)) = (self.download_query.as_deref(), request.uri.query())
        else {
            return false;
        };
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    }
}

/// The per-file policy hook: the file's path relative to the root and its metadata in,
/// what to send with it out.
type PolicyFn = dyn Fn(&Path, &Metadata) -> FilePolicy + Send + Sync;

/// What a directory or bucket-prefix service sends with one file, as its `policy` hook
/// decides (`DirResolver::policy`, `StoreResolver::policy`).
///
/// ```
/// use http::header::CACHE_CONTROL;
/// use http::HeaderValue;
/// # #[cfg(unix)]
/// use tower_range::dir::DirResolver;
/// use tower_range::policy::FilePolicy;
///
/// // HLS and DASH: playlists are revalidated, segments cached for good.
/// let policy = |path: &std::path::Path, _: &tower_range::Metadata| {
///     let cache = match path.extension().and_then(|e| e.to_str()) {
///         Some("m3u8" | "mpd") => "no-cache",
///         Some("ts" | "m4s") => "public, max-age=31536000, immutable",
///         _ => "public, max-age=3600",
///     };
///     FilePolicy::default().header(CACHE_CONTROL, HeaderValue::from_static(cache))
/// };
/// # #[cfg(unix)]
/// # fn demo(policy: impl Fn(&std::path::Path, &tower_range::Metadata) -> FilePolicy + Send + Sync + 'static) {
/// let resolver = DirResolver::new("/srv/media").unwrap().policy(policy);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct FilePolicy {
    headers: http::HeaderMap,
    content_type: Option<HeaderValue>,
    disposition: Option<Disposition>,
    rate_limit: Option<RateLimit>,
}

impl FilePolicy {
    /// Adds a header to the file's `200`, `206` and `304` answers.
    ///
    /// # Panics
    ///
    /// For a header the service sets itself, as
    /// [`RangeService::header`](crate::RangeService::header) does.
    /// `Content-Disposition` is refused too: set it with [`disposition`](Self::disposition),
    /// so that an answer never carries two (Chrome refuses such a response).
    pub fn header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        assert!(
            !crate::response::OWNED_HEADERS.contains(&name)
                && name != http::header::CONTENT_DISPOSITION,
            "FilePolicy::header({name}): the service sets {name} itself"
        );
        self.headers.append(name, value);
        self
    }

    /// Overrides the content type the file's name gives.
    pub fn content_type(mut self, content_type: HeaderValue) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// Sets the file's `Content-Disposition`.
    pub fn disposition(mut self, disposition: Disposition) -> Self {
        self.disposition = Some(disposition);
        self
    }

    /// Throttles the file's responses by `limit`, over the service's limit (a request's own
    /// limit wins over both), e.g. 1.5 × the file's bitrate with
    /// [`RateLimit::for_media`]; see [`rate`](crate::rate).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }
}

/// What is decided about one request's file once it is open: the policy and the
/// disposition.
pub(crate) struct Describe {
    policy: Option<Arc<PolicyFn>>,
    /// Sent as a download, by option or by the request's query.
    attachment: bool,
}

impl Describe {
    /// The file's metadata as the policy and the disposition make it, and its rate limit.
    pub(crate) fn apply(
        &self,
        relative: &Path,
        metadata: Metadata,
    ) -> (Metadata, Option<RateLimit>) {
        let policy = match &self.policy {
            Some(policy) => policy(relative, &metadata),
            None => FilePolicy::default(),
        };
        let mut metadata = metadata;
        if let Some(content_type) = policy.content_type {
            metadata = metadata.with_content_type(content_type);
        }
        // Decided on the type that is sent, the policy's included.
        let disposition = match self.attachment {
            true => Some(Disposition::Attachment),
            false => policy
                .disposition
                .or_else(|| is_media(&metadata).then_some(Disposition::Inline)),
        };
        for (name, value) in &policy.headers {
            metadata = metadata.with_header(name.clone(), value.clone());
        }
        if let Some(disposition) = disposition {
            let name = relative.file_name().unwrap_or_default().to_string_lossy();
            let value = content_disposition(disposition, &name);
            metadata = metadata.with_header(http::header::CONTENT_DISPOSITION, value);
        }
        (metadata, policy.rate_limit)
    }

    /// `opened` as the policy and the disposition make it: its metadata, and the file's rate
    /// limit.
    pub(crate) fn apply_to<R>(&self, relative: &Path, opened: Opened<R>) -> Opened<R> {
        let Opened {
            metadata, reader, ..
        } = opened;
        let (metadata, rate_limit) = self.apply(relative, metadata);
        let mut opened = Opened::new(metadata, reader);
        opened.rate_limit = rate_limit;
        opened
    }
}

/// Video, audio and images but SVG (which can carry scripts): shown inline by default.
fn is_media(metadata: &Metadata) -> bool {
    metadata.content_type().is_some_and(|t| {
        let t = t.as_bytes();
        (t.starts_with(b"video/") || t.starts_with(b"audio/") || t.starts_with(b"image/"))
            && !t.starts_with(b"image/svg")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "the service sets content-disposition itself")]
    fn a_policy_sets_the_disposition_through_disposition_only() {
        let _ = FilePolicy::default().header(
            http::header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }

    #[test]
    #[should_panic(expected = "the service sets content-length itself")]
    fn a_policy_cannot_set_a_header_the_service_owns() {
        let _ = FilePolicy::default()
            .header(http::header::CONTENT_LENGTH, HeaderValue::from_static("1"));
    }

    fn parts(uri: &str) -> Parts {
        http::Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_download_query_is_a_whole_parameter_name() {
        let presentation = Presentation {
            download_query: Some("download".into()),
            ..Presentation::default()
        };
        for (uri, asked) in [
            ("/a.mp4?download", true),
            ("/a.mp4?x=1&download=1", true),
            ("/a.mp4?downloads", false),
            ("/a.mp4?x=download", false),
            ("/a.mp4", false),
        ] {
            assert_eq!(presentation.download_asked(&parts(uri)), asked, "{uri}");
        }
    }

    #[test]
    fn media_are_inline_and_other_files_carry_no_disposition() {
        let describe = Presentation::default().for_request(&parts("/x"));
        let typed =
            |t: &'static str| Metadata::new(1).with_content_type(HeaderValue::from_static(t));
        let (video, _) = describe.apply(Path::new("a/film.mp4"), typed("video/mp4"));
        assert_eq!(
            video.headers()[http::header::CONTENT_DISPOSITION],
            "inline; filename=\"film.mp4\"; filename*=UTF-8''film.mp4"
        );
        let (svg, _) = describe.apply(Path::new("logo.svg"), typed("image/svg+xml"));
        assert!(svg
            .headers()
            .get(http::header::CONTENT_DISPOSITION)
            .is_none());
    }
}
