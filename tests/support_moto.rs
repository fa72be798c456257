//! The object-store test support's own checks against a real moto (ignored: they need moto,
//! which `.ci/run` installs): the helpers set up state, the proxy forwards, counts and
//! injects faults, and moto's S3 behaves as the object-store tests assume (ranges,
//! conditions, versions, authentication through the proxy).

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use support::{bounded, signed_request, Credentials, Fault, Moto, StoreProxy};

/// A body whose every byte says where it is, so a wrong range shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A GET through `proxy` signed with `key`: status, headers and body.
async fn get(
    proxy: &StoreProxy,
    key: &Credentials,
    path: &str,
    headers: &[(&str, &str)],
) -> (http::response::Parts, Bytes) {
    signed_request(proxy.addr(), key, "s3", "GET", path, headers, Bytes::new()).await
}

#[tokio::test]
#[ignore = "needs moto (installed by .ci/run)"]
async fn ranges_pass_through_the_counting_proxy() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    let data = pattern(300_000);
    moto.create_bucket("media").await;
    let put = moto
        .put_object("media", "dir/clip one.mp4", data.clone())
        .await;
    assert!(put.etag.starts_with('"') && put.etag.len() == 34, "{put:?}");
    assert_eq!(put.version_id, None);
    let proxy = StoreProxy::start(&moto.endpoint());
    let key = Credentials::placeholder();
    let path = "/media/dir/clip%20one.mp4";

    let (head, body) = get(&proxy, &key, path, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(head.status, 206);
    assert_eq!(head.headers["content-range"], "bytes 1000-1999/300000");
    assert_eq!(head.headers["etag"], put.etag.as_str());
    assert_eq!(&body[..], &data[1000..2000]);
    let (head, body) = get(&proxy, &key, path, &[("range", "bytes=-10")]).await;
    assert_eq!(head.status, 206);
    assert_eq!(&body[..], &data[data.len() - 10..]);
    let (head, _) = get(&proxy, &key, path, &[("range", "bytes=400000-")]).await;
    assert_eq!(head.status, 416);
    let (head, body) = get(&proxy, &key, path, &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(body.len(), data.len());

    let seen = proxy.requests();
    assert_eq!(proxy.count("GET"), 4, "{seen:?}");
    assert_eq!(seen[0].path, path);
    assert_eq!(seen[0].range.as_deref(), Some("bytes=1000-1999"));
    assert_eq!(seen[0].status, Some(206));
    assert_eq!(seen[0].body_bytes, 1000);
    assert_eq!(seen[3].range, None);
    assert_eq!(seen[3].body_bytes, 300_000);
    proxy.clear();
    assert!(proxy.requests().is_empty());
}

#[tokio::test]
#[ignore = "needs moto (installed by .ci/run)"]
async fn conditions_and_versions_behave_as_s3() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    moto.create_bucket("versions").await;
    moto.enable_versioning("versions").await;
    let first = moto.put_object("versions", "v.bin", "first version").await;
    let second = moto.put_object("versions", "v.bin", "second").await;
    let (v1, v2) = (first.version_id.unwrap(), second.version_id.unwrap());
    assert_ne!(v1, v2);
    let proxy = StoreProxy::start(&moto.endpoint());
    let key = Credentials::placeholder();

    // A stale If-Match: 412, as S3 answers (the object changed under a reader).
    let stale = [("if-match", first.etag.as_str()), ("range", "bytes=0-1")];
    let (head, body) = get(&proxy, &key, "/versions/v.bin", &stale).await;
    assert_eq!(head.status, 412, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("<Code>PreconditionFailed</Code>"));
    let fresh = [("if-match", second.etag.as_str()), ("range", "bytes=0-1")];
    let (head, body) = get(&proxy, &key, "/versions/v.bin", &fresh).await;
    assert_eq!((head.status.as_u16(), &body[..]), (206, &b"se"[..]));
    // The old version stays readable by id, ranges included.
    let by_id = format!("/versions/v.bin?versionId={v1}");
    let (head, body) = get(&proxy, &key, &by_id, &[("range", "bytes=6-12")]).await;
    assert_eq!((head.status.as_u16(), &body[..]), (206, &b"version"[..]));
    assert_eq!(head.headers["x-amz-version-id"], v1.as_str());
    assert_eq!(
        proxy.requests()[0].if_match.as_deref(),
        Some(first.etag.as_str())
    );

    let marker = moto.delete_object("versions", "v.bin").await;
    assert!(marker.is_some());
    let (head, _) = get(&proxy, &key, "/versions/v.bin", &[]).await;
    assert_eq!(head.status, 404);
    let (head, _) = get(&proxy, &key, &by_id, &[]).await;
    assert_eq!(head.status, 200);
}

#[tokio::test]
#[ignore = "needs moto (installed by .ci/run)"]
async fn authentication_through_the_proxy() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    moto.create_bucket("private").await;
    moto.create_bucket("public").await;
    let reader = moto.full_access_user("reader").await;
    let outsider = moto.no_access_user("outsider", "private").await;
    moto.enable_auth().await;
    // The helpers go on working with authentication on.
    moto.put_object("private", "a.bin", pattern(100)).await;
    moto.put_object("public", "b.bin", pattern(100)).await;
    moto.put_object("public", "dir/with space+plus.bin", pattern(100))
        .await;
    let proxy = StoreProxy::start(&moto.endpoint());
    let code = |body: &Bytes| {
        support::xml_text(&String::from_utf8_lossy(body), "Code").unwrap_or_default()
    };

    // Signed for the proxy's host:port, checked by moto behind it.
    let range = [("range", "bytes=10-19")];
    let (head, body) = get(&proxy, &reader, "/private/a.bin", &range).await;
    assert_eq!(head.status, 206, "{}", moto.log_tail());
    assert_eq!(&body[..], &pattern(100)[10..20]);
    let (head, body) = get(&proxy, &outsider, "/private/a.bin", &range).await;
    assert_eq!(
        (head.status.as_u16(), code(&body)),
        (403, "AccessDenied".into())
    );
    let (head, _) = get(&proxy, &outsider, "/public/b.bin", &range).await;
    assert_eq!(head.status, 206);
    let (head, body) = get(
        &proxy,
        &reader,
        "/public/dir/with%20space%2Bplus.bin",
        &range,
    )
    .await;
    assert_eq!(head.status, 206, "{}", String::from_utf8_lossy(&body));
    let (head, body) = get(&proxy, &Credentials::bogus(), "/private/a.bin", &[]).await;
    assert_eq!(
        (head.status.as_u16(), code(&body)),
        (403, "InvalidAccessKeyId".into())
    );
    let wrong_secret = Credentials::new(&reader.access_key_id, "not-the-secret");
    let (head, body) = get(&proxy, &wrong_secret, "/private/a.bin", &[]).await;
    assert_eq!(
        (head.status.as_u16(), code(&body)),
        (403, "SignatureDoesNotMatch".into())
    );

    moto.reset().await;
    let (head, _) = get(&proxy, &Credentials::placeholder(), "/private/a.bin", &[]).await;
    assert_eq!(
        head.status, 404,
        "reset forgets the buckets and switches auth off"
    );
}

/// A GET through the proxy on a fresh connection that returns the head and what arrives of
/// the body: `Err` when the body breaks off.
async fn get_raw(proxy: &StoreProxy, path: &str) -> (u16, Option<u64>, Result<Bytes, usize>) {
    let stream = bounded(tokio::net::TcpStream::connect(proxy.addr()))
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let key = Credentials::placeholder();
    // Signed as the helpers sign, but sent here to see the body frame by frame.
    let date = support::amz_date(std::time::SystemTime::now());
    let hash = support::sha256_hex(b"");
    let host = proxy.addr().to_string();
    let headers = [
        ("host".to_owned(), host.clone()),
        ("x-amz-date".to_owned(), date.clone()),
        ("x-amz-content-sha256".to_owned(), hash.clone()),
    ];
    let auth = support::authorization(&key, "us-east-1", "s3", "GET", path, "", &headers, &hash);
    let request = http::Request::get(path)
        .header("host", host)
        .header("x-amz-date", date)
        .header("x-amz-content-sha256", hash)
        .header("authorization", auth)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = bounded(send.send_request(request)).await.unwrap();
    let status = response.status().as_u16();
    let length = response
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let mut body = response.into_body();
    let mut got = Vec::new();
    while let Some(frame) = bounded(body.frame()).await {
        match frame {
            Ok(frame) => got.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
            Err(_) => return (status, length, Err(got.len())),
        }
    }
    (status, length, Ok(got.into()))
}

#[tokio::test]
#[ignore = "needs moto (installed by .ci/run)"]
async fn faults_cut_refuse_hang_and_fail() {
    let Some(moto) = Moto::start_or_skip() else {
        return;
    };
    moto.create_bucket("faulty").await;
    moto.put_object("faulty", "big.bin", pattern(200_000)).await;
    let proxy = StoreProxy::start(&moto.endpoint());

    // Cut: the head with the whole length, then 5000 bytes, then the connection goes.
    proxy.fault_next_gets(Fault::CutBodyAfter(5000), 1);
    let (status, length, body) = get_raw(&proxy, "/faulty/big.bin").await;
    assert_eq!((status, length, body), (200, Some(200_000), Err(5000)));
    assert_eq!(proxy.requests()[0].body_bytes, 5000);
    // At 0: the head and no byte.
    proxy.fault_next_gets(Fault::CutBodyAfter(0), 1);
    let (status, length, body) = get_raw(&proxy, "/faulty/big.bin").await;
    assert_eq!((status, length, body), (200, Some(200_000), Err(0)));
    // Only the next GET was cut.
    let (_, _, body) = get_raw(&proxy, "/faulty/big.bin").await;
    assert_eq!(body.map(|b| b.len()), Ok(200_000));

    proxy.set_fault(Fault::ServiceUnavailable);
    let (head, body) = get(&proxy, &Credentials::placeholder(), "/faulty/big.bin", &[]).await;
    assert_eq!(head.status, 503);
    assert!(String::from_utf8_lossy(&body).contains("<Code>ServiceUnavailable</Code>"));

    proxy.set_fault(Fault::Refuse);
    let refused = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = [0u8; 1];
    let read = bounded(async {
        refused.readable().await.unwrap();
        refused.try_read(&mut buf)
    })
    .await;
    assert!(matches!(read, Ok(0) | Err(_)), "closed at once: {read:?}");
    assert_eq!(proxy.refused(), 1);

    proxy.set_fault(Fault::Hang);
    let proxy = std::sync::Arc::new(proxy);
    let hung = tokio::spawn({
        let proxy = proxy.clone();
        async move { get_raw(&proxy, "/faulty/big.bin").await }
    });
    assert!(proxy.wait_for_count("GET", 5, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!hung.is_finished(), "a hung request is not answered");
    // Released by the next change of the faults, it goes on to the store.
    proxy.clear_faults();
    let (status, _, body) = bounded(hung).await.unwrap();
    assert_eq!((status, body.map(|b| b.len())), (200, Ok(200_000)));
}
