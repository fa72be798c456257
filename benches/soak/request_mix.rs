//! The soak's request mix: which kinds of request it sends and how often, each request's
//! headers drawn from a seeded generator (request `i` is the same on every run), and what
//! its response must be.

use crate::client::Proto;
use crate::splitmix::{mix, GOLDEN};
use crate::{KIB, MIB};

/// A stale entity tag: never the file's.
const STALE_TAG: &str = "\"0123456789abcdef\"";
/// A date that is not the file's `Last-Modified`.
const STALE_DATE: &str = "Thu, 01 Jan 2015 00:00:00 GMT";

/// The request mix's generator, on SplitMix64 like the data file.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Full,
    Head,
    Single,
    Multi,
    IfNoneMatch,
    IfModifiedSince,
    IfNoneMatchStale,
    IfRangeCurrent,
    IfRangeStale,
    IfMatchRight,
    IfMatchWrong,
    Unsatisfiable,
    Abort,
}

pub const KINDS: [Kind; 13] = [
    Kind::Full,
    Kind::Head,
    Kind::Single,
    Kind::Multi,
    Kind::IfNoneMatch,
    Kind::IfModifiedSince,
    Kind::IfNoneMatchStale,
    Kind::IfRangeCurrent,
    Kind::IfRangeStale,
    Kind::IfMatchRight,
    Kind::IfMatchWrong,
    Kind::Unsatisfiable,
    Kind::Abort,
];

impl Kind {
    pub fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap()
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Full => "full GET (200)",
            Kind::Head => "HEAD (200)",
            Kind::Single => "single range (206)",
            Kind::Multi => "multi-range (206 multipart)",
            Kind::IfNoneMatch => "If-None-Match current (304)",
            Kind::IfModifiedSince => "If-Modified-Since (304)",
            Kind::IfNoneMatchStale => "If-None-Match stale + Range (206)",
            Kind::IfRangeCurrent => "If-Range current (206)",
            Kind::IfRangeStale => "If-Range stale (200 full)",
            Kind::IfMatchRight => "If-Match current + Range (206)",
            Kind::IfMatchWrong => "If-Match wrong (412)",
            Kind::Unsatisfiable => "unsatisfiable (416)",
            Kind::Abort => "aborted download",
        }
    }
}

/// What the response must be.
#[derive(Debug, Clone)]
pub enum Expect {
    /// 200 with the whole file (`body == false` for HEAD).
    Full {
        body: bool,
    },
    /// 206 with `first..=last`.
    Single {
        first: u64,
        last: u64,
    },
    /// 206 with these requested ranges, merged; `ordered` when none overlap or touch, so
    /// the parts must come in this order.
    Multi {
        ranges: Vec<(u64, u64)>,
        ordered: bool,
    },
    NotModified,
    PreconditionFailed,
    Unsatisfiable,
    /// 206 with `first..=last`: read `read` bytes, then drop the connection (or, over
    /// HTTP/2 when `stream_only`, just the stream).
    Abort {
        first: u64,
        last: u64,
        read: u64,
        stream_only: bool,
    },
}

pub struct Plan {
    pub index: u64,
    pub kind: Kind,
    pub method: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub expect: Expect,
}

impl Plan {
    pub fn describe(&self, proto: Proto) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        format!(
            "#{} {:?} {} /video [{}]",
            self.index,
            proto,
            self.method,
            headers.join("; ")
        )
    }
}

/// Validators of the file as the server announces them.
pub struct Validators {
    pub etag: String,
    pub last_modified: String,
}

/// A random range size: mostly small, sometimes a few MiB.
fn random_size(rng: &mut Rng) -> u64 {
    match rng.below(100) {
        0..50 => rng.between(1, 64 * KIB),
        50..90 => rng.between(64 * KIB, MIB),
        _ => rng.between(MIB, 8 * MIB),
    }
}

/// A random single range: its spec and the bytes it selects.
fn random_range(rng: &mut Rng, len: u64) -> (String, u64, u64) {
    let size = random_size(rng).min(len);
    match rng.below(10) {
        0 => (format!("-{size}"), len - size, len - 1),
        1 => {
            let first = len - size;
            (format!("{first}-"), first, len - 1)
        }
        2 => {
            let first = len - size;
            let past = len + rng.below(10_000);
            (format!("{first}-{past}"), first, len - 1)
        }
        _ => {
            let first = rng.below(len - size + 1);
            let last = first + size - 1;
            (format!("{first}-{last}"), first, last)
        }
    }
}

/// Half the time, a random `Range` as well: the precondition must decide the answer before
/// any range applies.
fn maybe_range(rng: &mut Rng, len: u64, headers: &mut Vec<(&'static str, String)>) {
    if rng.below(2) == 0 {
        let (spec, _, _) = random_range(rng, len);
        headers.push(("range", format!("bytes={spec}")));
    }
}

pub fn plan(index: u64, seed: u64, len: u64, validators: &Validators) -> Plan {
    let mut rng = Rng::new(seed ^ mix(index));
    let kind = match index % 1000 {
        0 => Kind::Full,
        500 => Kind::IfRangeStale,
        _ => match rng.below(100) {
            0..34 => Kind::Single,
            34..52 => Kind::Multi,
            52..58 => Kind::IfNoneMatch,
            58..61 => Kind::IfModifiedSince,
            61..65 => Kind::IfNoneMatchStale,
            65..71 => Kind::IfRangeCurrent,
            71..75 => Kind::IfMatchRight,
            75..80 => Kind::IfMatchWrong,
            80..86 => Kind::Head,
            86..92 => Kind::Unsatisfiable,
            _ => Kind::Abort,
        },
    };
    let etag = validators.etag.clone();
    let mut headers: Vec<(&'static str, String)> = Vec::new();
    let mut method = "GET";
    let expect = match kind {
        Kind::Full => Expect::Full { body: true },
        Kind::Head => {
            method = "HEAD";
            if rng.below(2) == 0 {
                // HEAD answers the headers of a plain GET: Range does not apply.
                headers.push(("range", "bytes=0-99".into()));
            }
            Expect::Full { body: false }
        }
        Kind::Single => {
            let (spec, first, last) = random_range(&mut rng, len);
            let unit = if rng.below(20) == 0 { "Bytes" } else { "bytes" };
            headers.push(("range", format!("{unit}={spec}")));
            Expect::Single { first, last }
        }
        Kind::Multi => {
            let count = rng.between(2, 5);
            let disjoint = rng.below(5) != 0;
            let mut ranges: Vec<(u64, u64)> = Vec::new();
            let mut tries = 0;
            while (ranges.len() as u64) < count {
                tries += 1;
                let size = rng.between(1, 256 * KIB).min(len);
                let first = if !disjoint && !ranges.is_empty() && rng.below(2) == 0 {
                    // Overlap or touch an earlier range.
                    let (a, b) = ranges[rng.below(ranges.len() as u64) as usize];
                    rng.between(a, (b + 1).min(len - 1))
                } else {
                    rng.below(len - size + 1)
                };
                let last = (first + size - 1).min(len - 1);
                let apart = ranges.iter().all(|&(a, b)| last + 1 < a || first > b + 1);
                if !disjoint || apart || tries > 100 {
                    ranges.push((first, last));
                }
            }
            let ordered = pairwise_apart(&ranges);
            let sep = if rng.below(2) == 0 { "," } else { ", " };
            let spec: Vec<String> = ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            headers.push(("range", format!("bytes={}", spec.join(sep))));
            Expect::Multi { ranges, ordered }
        }
        Kind::IfNoneMatch => {
            let value = match rng.below(4) {
                0 => etag.clone(),
                1 => format!("W/{etag}"),
                2 => format!("{STALE_TAG}, {etag}"),
                _ => "*".into(),
            };
            headers.push(("if-none-match", value));
            maybe_range(&mut rng, len, &mut headers);
            Expect::NotModified
        }
        Kind::IfModifiedSince => {
            headers.push(("if-modified-since", validators.last_modified.clone()));
            Expect::NotModified
        }
        Kind::IfNoneMatchStale => {
            let (spec, first, last) = random_range(&mut rng, len);
            headers.push(("if-none-match", STALE_TAG.into()));
            headers.push(("range", format!("bytes={spec}")));
            Expect::Single { first, last }
        }
        Kind::IfRangeCurrent => {
            let (spec, first, last) = random_range(&mut rng, len);
            headers.push(("range", format!("bytes={spec}")));
            headers.push(("if-range", etag.clone()));
            Expect::Single { first, last }
        }
        Kind::IfRangeStale => {
            let (spec, _, _) = random_range(&mut rng, len);
            let value = match rng.below(3) {
                0 => STALE_TAG.to_string(),
                // A weak tag never matches If-Range.
                1 => format!("W/{etag}"),
                _ => STALE_DATE.to_string(),
            };
            headers.push(("range", format!("bytes={spec}")));
            headers.push(("if-range", value));
            Expect::Full { body: true }
        }
        Kind::IfMatchRight => {
            let (spec, first, last) = random_range(&mut rng, len);
            let value = match rng.below(3) {
                0 => "*".to_string(),
                1 => format!("{STALE_TAG}, {etag}"),
                _ => etag.clone(),
            };
            headers.push(("if-match", value));
            headers.push(("range", format!("bytes={spec}")));
            Expect::Single { first, last }
        }
        Kind::IfMatchWrong => {
            let value = match rng.below(2) {
                0 => STALE_TAG.to_string(),
                // If-Match compares strongly: a weak tag never matches.
                _ => format!("W/{etag}"),
            };
            headers.push(("if-match", value));
            maybe_range(&mut rng, len, &mut headers);
            Expect::PreconditionFailed
        }
        Kind::Unsatisfiable => {
            let past = len + rng.below(MIB);
            let spec = match rng.below(5) {
                0 => format!("{len}-"),
                1 => format!("{past}-{}", past + rng.below(MIB)),
                2 => "-0".to_string(),
                3 => format!("{len}-{}", len + 10),
                _ => format!("{past}-,{}-{}", len + 1, len + 99),
            };
            headers.push(("range", format!("bytes={spec}")));
            Expect::Unsatisfiable
        }
        Kind::Abort => {
            let first = rng.below(len / 2);
            let read = rng.between(16 * KIB, 2 * MIB);
            headers.push(("range", format!("bytes={first}-")));
            Expect::Abort {
                first,
                last: len - 1,
                read,
                stream_only: rng.below(2) == 0,
            }
        }
    };
    Plan {
        index,
        kind,
        method,
        headers,
        expect,
    }
}

/// Whether no two ranges overlap or touch (so the server keeps them all, in order).
fn pairwise_apart(ranges: &[(u64, u64)]) -> bool {
    ranges
        .iter()
        .enumerate()
        .all(|(i, &(a, b))| ranges[i + 1..].iter().all(|&(c, d)| b + 1 < c || d + 1 < a))
}

/// The union of inclusive ranges, touching ones joined, sorted.
pub fn merged(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in sorted {
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}
