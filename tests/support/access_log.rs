//! The example server's access log, one `access:` line per response on stderr, parsed: it
//! shows what reached the server from clients the tests did not write (curl, Chromium, …).

/// One access-log line of the example server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub method: String,
    pub path: String,
    pub version: String,
    /// The `Range` header as sent, `None` when there was none.
    pub range: Option<String>,
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// `complete`, `aborted` or `failed`.
    pub outcome: String,
    /// The conditional headers the request carried (`none-match`, `modified-since`, …).
    pub conditions: Vec<String>,
}

impl Access {
    /// Parses `... access: GET /video HTTP/1.1 range=bytes=0- status=206 bytes=N complete in 2ms
    /// if=none-match,range`.
    pub fn parse(line: &str) -> Option<Access> {
        let line = strip_ansi(line);
        let rest = &line[line.find("access: ")? + "access: ".len()..];
        let mut words = rest.splitn(4, ' ');
        let method = words.next()?.to_owned();
        let path = words.next()?.to_owned();
        let version = words.next()?.to_owned();
        let rest = words.next()?.strip_prefix("range=")?;
        // The Range value may hold spaces ("bytes=0-1, 5-6"): it ends at the last " status=".
        let status_at = rest.rfind(" status=")?;
        let range = &rest[..status_at];
        let mut tail = rest[status_at + 1..].split(' ');
        let status = tail.next()?.strip_prefix("status=")?.parse().ok()?;
        let bytes = tail.next()?.strip_prefix("bytes=")?.parse().ok()?;
        let outcome = tail.next()?.to_owned();
        let conditions = tail
            .find_map(|word| word.strip_prefix("if="))
            .filter(|list| *list != "-")
            .map(|list| list.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        Some(Access {
            method,
            path,
            version,
            range: (range != "-").then(|| range.to_owned()),
            status,
            bytes,
            outcome,
            conditions,
        })
    }

    /// The first-byte-pos of a single `bytes=N-[M]` range.
    pub fn range_start(&self) -> Option<u64> {
        let spec = self.range.as_deref()?.strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        spec.split('-').next()?.trim().parse().ok()
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
