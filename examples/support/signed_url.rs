//! Signed, expiring URLs as a tower [`Layer`]: the auth a `<video>` element can carry.
//!
//! A `<video src>` cannot send an `Authorization` header, and every seek is a new `Range`
//! request for the same URL, so the credential has to live in the URL itself. A signed URL is
//! `PATH?exp=UNIX_SECONDS&sig=HEX`, where `sig` is HMAC-SHA256 over `"PATH\nEXP"` keyed with a
//! server secret. The layer checks it before the inner service is called: a request without a
//! valid, unexpired signature gets `403` and a one-line body, and the file is never opened.
//!
//! Expiry: the URL must outlive the page that embeds it, including a video left paused for a
//! while, because resuming (or seeking) sends new `Range` requests for the very same URL and an
//! expired one would break playback mid-video. The examples sign for 6 hours
//! ([`DEFAULT_TTL`]): longer than anyone watches a paused tab, short enough that a leaked URL
//! stops working the same day. Reloading the page signs a fresh URL.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use sha2::Sha256;
use tower::{Layer, Service};

/// How long a signed URL stays valid by default: 6 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(6 * 60 * 60);

/// Signs and checks URLs with one secret. Cheap to clone.
#[derive(Clone)]
pub struct UrlSigner {
    key: Arc<[u8]>,
}

impl fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlSigner").finish_non_exhaustive()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No `exp` or no `sig` in the query.
    Unsigned,
    /// `exp` or `sig` is not well formed.
    Malformed,
    /// The signature does not match the path and expiry.
    BadSignature,
    /// The signature is good but the expiry has passed.
    Expired,
}

impl Rejection {
    fn message(self) -> &'static str {
        match self {
            Rejection::Unsigned => "forbidden: this URL is not signed\n",
            Rejection::Malformed => "forbidden: malformed signature\n",
            Rejection::BadSignature => "forbidden: bad signature\n",
            Rejection::Expired => "forbidden: this URL has expired; reload the page\n",
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl UrlSigner {
    /// A signer keyed with `secret` (use at least 32 random bytes).
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            key: Arc::from(secret.as_ref()),
        }
    }

    /// A signer with a fresh random secret: URLs signed by an earlier run stop working.
    pub fn random() -> Self {
        Self::new(random_secret())
    }

    fn mac(&self, path: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// `path?exp=EXPIRES&sig=HEX`, valid until `expires` (Unix seconds).
    pub fn sign_until(&self, path: &str, expires: u64) -> String {
        let sig = hex::encode(self.mac(path, expires).finalize().into_bytes());
        format!("{path}?exp={expires}&sig={sig}")
    }

    /// `path` signed to stay valid for `ttl` from now.
    pub fn sign(&self, path: &str, ttl: Duration) -> String {
        self.sign_until(path, unix_now().saturating_add(ttl.as_secs()))
    }

    /// Checks the signature of `uri` at `now` (Unix seconds). The comparison of signatures
    /// takes constant time.
    pub fn verify_at(&self, uri: &Uri, now: u64) -> Result<(), Rejection> {
        let (mut exp, mut sig) = (None, None);
        for pair in uri.query().unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("exp", value)) if exp.is_none() => exp = Some(value),
                Some(("sig", value)) if sig.is_none() => sig = Some(value),
                Some(("exp" | "sig", _)) => return Err(Rejection::Malformed),
                _ => {}
            }
        }
        let (Some(exp), Some(sig)) = (exp, sig) else {
            return Err(Rejection::Unsigned);
        };
        // Only the canonical decimal form is signed, so `exp=+1` or `exp=01` cannot pass.
        let expires: u64 = exp.parse().map_err(|_| Rejection::Malformed)?;
        if expires.to_string() != exp {
            return Err(Rejection::Malformed);
        }
        let sig = hex::decode(sig).map_err(|_| Rejection::Malformed)?;
        self.mac(uri.path(), expires)
            .verify_slice(&sig)
            .map_err(|_| Rejection::BadSignature)?;
        if now > expires {
            return Err(Rejection::Expired);
        }
        Ok(())
    }

    /// Checks the signature of `uri` now.
    pub fn verify(&self, uri: &Uri) -> Result<(), Rejection> {
        self.verify_at(uri, unix_now())
    }
}

/// 32 bytes from the operating system's random source, or, where there is none, from the
/// standard library's randomly keyed hasher.
fn random_secret() -> Vec<u8> {
    use std::io::Read;
    let mut secret = vec![0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut secret));
    if from_os.is_err() {
        use std::hash::{BuildHasher, RandomState};
        for (i, chunk) in secret.chunks_mut(8).enumerate() {
            let word = RandomState::new().hash_one((i, SystemTime::now()));
            chunk.copy_from_slice(&word.to_le_bytes());
        }
    }
    secret
}

/// Wraps a service so that only requests with a valid signed URL reach it.
#[derive(Debug, Clone)]
pub struct SignedUrlLayer {
    signer: UrlSigner,
}

impl SignedUrlLayer {
    /// Checks URLs with `signer`.
    pub fn new(signer: UrlSigner) -> Self {
        Self { signer }
    }
}

impl<S> Layer<S> for SignedUrlLayer {
    type Service = SignedUrl<S>;

    fn layer(&self, inner: S) -> SignedUrl<S> {
        SignedUrl {
            inner,
            signer: self.signer.clone(),
        }
    }
}

/// The service of [`SignedUrlLayer`].
#[derive(Debug, Clone)]
pub struct SignedUrl<S> {
    inner: S,
    signer: UrlSigner,
}

/// The body of a [`SignedUrl`] response: the inner service's, or the refusal's.
pub type SignedBody<B> = Either<B, Full<Bytes>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SignedUrl<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<SignedBody<ResBody>>;
    type Error = S::Error;
    type Future = SignedUrlFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.signer.verify(request.uri()) {
            Ok(()) => SignedUrlFuture::Inner {
                future: self.inner.call(request),
            },
            Err(rejection) => {
                tracing::info!(uri = %request.uri(), ?rejection, "signed URL refused");
                SignedUrlFuture::Refused {
                    response: Some(refusal(rejection)),
                }
            }
        }
    }
}

fn refusal(rejection: Rejection) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(
        rejection.message().as_bytes(),
    )));
    *response.status_mut() = StatusCode::FORBIDDEN;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pin_project_lite::pin_project! {
    /// The response future of [`SignedUrl`].
    #[project = Projected]
    pub enum SignedUrlFuture<F> {
        /// The request passed: the inner service answers.
        Inner { #[pin] future: F },
        /// The request was refused.
        Refused { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F, B, E> Future for SignedUrlFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<SignedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Left))),
            Projected::Refused { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(Either::Right)))
            }
        }
    }
}
