//! `Content-Disposition` (RFC 6266) with a file name: an ASCII `filename=` fallback and the
//! exact name as `filename*=UTF-8''…` (RFC 8187).

use http::HeaderValue;

/// Whether a browser shows a file or saves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Shown in the page (a `<video>`, an image): `inline`.
    Inline,
    /// Saved as a download: `attachment`.
    Attachment,
}

/// The header value for `name`: `inline; filename="…"; filename*=UTF-8''…`.
pub(crate) fn content_disposition(disposition: Disposition, name: &str) -> HeaderValue {
    let kind = match disposition {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    let mut value = format!("{kind}; filename=\"");
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                value.push('\\');
                value.push(c);
            }
            ' '..='~' => value.push(c),
            // Control characters and everything beyond ASCII: the exact name is in filename*.
            _ => value.push('_'),
        }
    }
    value.push_str("\"; filename*=UTF-8''");
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            value.push(byte as char);
        } else {
            value.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&value).expect("only visible ASCII is left")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_names_are_quoted_and_encoded() {
        assert_eq!(
            content_disposition(Disposition::Inline, "film 1.mp4"),
            "inline; filename=\"film 1.mp4\"; filename*=UTF-8''film%201.mp4"
        );
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(
            content_disposition(Disposition::Attachment, "a\"b\\c.mp4"),
            "attachment; filename=\"a\\\"b\\\\c.mp4\"; filename*=UTF-8''a%22b%5Cc.mp4"
        );
    }

    #[test]
    fn other_names_fall_back_to_ascii_and_keep_their_bytes_encoded() {
        assert_eq!(
            content_disposition(Disposition::Attachment, "café\n.mp4"),
            "attachment; filename=\"caf__.mp4\"; filename*=UTF-8''caf%C3%A9%0A.mp4"
        );
    }
}
