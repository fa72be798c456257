//! Header lookup in what a client got back, as text.

use std::collections::VecDeque;

/// Header fields with lower-case names, in order.
pub type Headers = Vec<(String, String)>;

/// `(status, headers with lower-case names)`.
pub fn parse_header_dump(dump: &str) -> (u16, Vec<(String, String)>) {
    let mut blocks: VecDeque<&str> = dump
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    let last = blocks.pop_back().expect("an empty header dump");
    let mut lines = last.lines();
    let status_line = lines.next().expect("no status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// The first value of header `name` (lower-case) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
