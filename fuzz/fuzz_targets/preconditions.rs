//! Any conditional headers: evaluation never panics, and the plan it leads to is one of the
//! statuses RFC 9110 allows for a GET of an existing file, with consistent headers.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_range::preconditions::{evaluate, Decision};
use tower_range::response::{plan, PlanOptions};
use tower_range::{Metadata, Validators};

const NAMES: [&str; 6] = [
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "range",
];

fuzz_target!(|data: &[u8]| {
    // Fields are separated by 0xff; each field's first byte picks its name.
    let mut headers = HeaderMap::new();
    for field in data.split(|&b| b == 0xff) {
        let Some((&name, value)) = field.split_first() else {
            continue;
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(HeaderName::from_static(NAMES[name as usize % 6]), value);
        }
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let metadata = Metadata::new(10_000)
        .with_version(b"fuzz")
        .with_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let validators = Validators::new(metadata.etag(), metadata.modified(), now);
    for method in [Method::GET, Method::HEAD] {
        let decision = evaluate(&method, &headers, &validators);
        let plan = plan(
            &method,
            &headers,
            &metadata,
            &PlanOptions::default(),
            now,
            || "0123456789abcdef".into(),
        );
        match decision {
            Decision::NotModified => assert_eq!(plan.status, StatusCode::NOT_MODIFIED),
            Decision::PreconditionFailed => {
                assert_eq!(plan.status, StatusCode::PRECONDITION_FAILED)
            }
            Decision::Proceed { .. } => assert!(matches!(
                plan.status,
                StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE
            )),
        }
        if let Some(length) = plan.headers.get(http::header::CONTENT_LENGTH) {
            let length: u64 = length.to_str().unwrap().parse().unwrap();
            if method == Method::GET {
                assert_eq!(length, plan.body_len());
            }
        }
    }
});
