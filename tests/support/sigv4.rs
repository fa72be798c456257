//! AWS Signature Version 4 for the tests' own requests to an S3 (and IAM) endpoint, so that
//! they can set up a store and check what it answers without building the `object_store`
//! crate, with authentication off or on. moto routes a request to a service by the credential
//! scope of its `Authorization` header (an unsigned `PUT /bucket/key.bin` reaches the wrong
//! service), so even with authentication off every request here is signed.

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

use super::bounded;

/// The region the tests sign for; moto serves every region, `object_store` needs one named
/// (`AWS_REGION=us-east-1`).
pub const REGION: &str = "us-east-1";

/// An access key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Credentials {
    /// Any pair: accepted while moto's authentication is off (it only reads the scope).
    pub fn placeholder() -> Credentials {
        Credentials::new("AKIAPLACEHOLDER00000", "placeholder-secret")
    }

    /// A key id that no user has: with authentication on, moto answers 403
    /// `InvalidAccessKeyId`.
    pub fn bogus() -> Credentials {
        Credentials::new(
            "AKIABOGUSBOGUSBOGUS0",
            "bogus-secret-bogus-secret-bogus-secret00",
        )
    }

    /// A pair from its two parts.
    pub fn new(access_key_id: &str, secret_access_key: &str) -> Credentials {
        Credentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` for `time`, the form of `x-amz-date`.
pub fn amz_date(time: SystemTime) -> String {
    // httpdate's IMF-fixdate ("Thu, 03 Dec 2026 16:02:56 GMT") has every field in place, so
    // the date needs no calendar arithmetic of its own.
    let text = httpdate::fmt_http_date(time);
    let fields: Vec<&str> = text.split([' ', ':']).collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == fields[2])
    .expect("month in an HTTP date")
        + 1;
    format!(
        "{}{month:02}{}T{}{}{}Z",
        fields[3], fields[1], fields[4], fields[5], fields[6]
    )
}

/// Hex SHA-256 of `data` (the payload hash of SigV4).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The `Authorization` value for a request that signs every header in `headers` (which must
/// hold `host` and `x-amz-date`). `path` is the URI path as sent (already percent-encoded),
/// `query` the query as sent, its pairs already encoded.
#[allow(clippy::too_many_arguments)]
pub fn authorization(
    credentials: &Credentials,
    region: &str,
    service: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    payload_hash: &str,
) -> String {
    let mut headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort();
    let amz_date = &headers
        .iter()
        .find(|(n, _)| n == "x-amz-date")
        .expect("x-amz-date among the signed headers")
        .1;
    let date = &amz_date[..8];
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort();
    let canonical_query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let signed_headers = signed_headers.join(";");
    let canonical_request = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        canonical_query.join("&")
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date,
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &string_to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

/// Percent-encodes `text` as SigV4 wants it: everything but `A-Za-z0-9-._~` (and `/` when
/// `keep_slash`, for an object key in a path).
pub fn aws_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if plain {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One request signed for `service` in [`REGION`], sent to `addr` on a fresh HTTP/1.1
/// connection (a fresh one, so that it works from any test's runtime). `path_and_query` must
/// already be encoded (see [`aws_encode`]). Returns the response head and whole body; every
/// wait is bounded.
pub async fn signed_request(
    addr: SocketAddr,
    credentials: &Credentials,
    service: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> (http::response::Parts, Bytes) {
    let host = addr.to_string();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let payload_hash = sha256_hex(&body);
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    signed.push(("host".into(), host.clone()));
    signed.push(("x-amz-date".into(), amz_date(SystemTime::now())));
    signed.push(("x-amz-content-sha256".into(), payload_hash.clone()));
    let authorization = authorization(
        credentials,
        REGION,
        service,
        method,
        path,
        query,
        &signed,
        &payload_hash,
    );
    let mut builder = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("authorization", authorization);
    for (name, value) in &signed {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(Full::new(body)).expect("a valid request");
    bounded(async move {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        let response = send
            .send_request(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {path_and_query} to {addr}: {e}"));
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("reading the body of {method} {path_and_query}: {e}"))
            .to_bytes();
        (parts, body)
    })
    .await
}

/// The text of the first `<tag>…</tag>` in `xml` (S3 and IAM answers are simple enough).
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].to_owned())
}
