//! A message's identity: its Message-ID (derived from a content hash when missing), the thread it
//! belongs to, and the dedupe key the CRM stores it under.

use mail_parser::{HeaderName, HeaderValue, Message};
use memchr::memmem;
use sha2::{Digest, Sha256};

use crate::record::ParseWarning;

pub struct Identity {
    pub message_id: String,
    pub derived: bool,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub thread_key: String,
    pub dedupe_key: String,
}

impl Identity {
    pub fn read(
        message: &Message<'_>,
        raw: &[u8],
        size: u64,
        warnings: &mut Vec<ParseWarning>,
    ) -> Self {
        let in_reply_to = id_list(message.in_reply_to());
        let references = id_list(message.references());
        let given = message
            .message_id()
            .map(strip_brackets)
            .filter(|id| !id.is_empty());
        let content = stable_content_digest(message, raw);
        let (message_id, derived) = match given {
            Some(id) => (id, false),
            None => {
                warnings.push(ParseWarning::MissingMessageId);
                (derived_message_id(&content), true)
            }
        };
        let thread_key = references
            .first()
            .or(in_reply_to.first())
            .unwrap_or(&message_id)
            .clone();
        let dedupe_key = dedupe_key(&message_id, derived, size, &content);
        Identity {
            message_id,
            derived,
            in_reply_to,
            references,
            thread_key,
            dedupe_key,
        }
    }

    /// For bytes with no readable headers: everything comes from their hash.
    pub fn derived_only(raw: &[u8], warnings: &mut Vec<ParseWarning>) -> Self {
        warnings.push(ParseWarning::MissingMessageId);
        let message_id = derived_message_id(&Sha256::digest(raw).into());
        let dedupe_key = dedupe_key(&message_id, true, raw.len() as u64, &[0; 32]);
        Identity {
            thread_key: message_id.clone(),
            message_id,
            derived: true,
            in_reply_to: Vec::new(),
            references: Vec::new(),
            dedupe_key,
        }
    }
}

/// The key the CRM stores a message under: the same message in two folders (a copy on the same
/// server) has the same Message-ID, size and content (`stable_content`: the originator's
/// headers and the body); a resend under the same Message-ID does not, nor does a forgery that
/// copies a real message's Message-ID and size. A derived Message-ID already hashes that
/// content, so it stands alone.
/// `content` is the digest of `stable_content_digest`.
pub fn dedupe_key(message_id: &str, derived: bool, size: u64, content: &[u8; 32]) -> String {
    if derived {
        return hex_sha256(&[b"v3\0", message_id.as_bytes()]);
    }
    hex_sha256(&[
        b"v3\0",
        message_id.as_bytes(),
        b"\0",
        size.to_string().as_bytes(),
        b"\0",
        content,
    ])
}

/// Gmail's key: its own message id, the same under every label.
pub fn gmail_dedupe_key(gmail_message_id: u64) -> String {
    hex_sha256(&[b"gm\0", gmail_message_id.to_string().as_bytes()])
}

/// Lower-case hex SHA-256 of the concatenated parts.
pub fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex(&hasher.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// A Message-ID for a message without one, from the digest of its stable content.
fn derived_message_id(digest: &[u8; 32]) -> String {
    format!("{}@derived.mail-sync.invalid", &hex(digest)[..32])
}

/// The SHA-256 of what stays the same when a server adds trace headers to its copy of a
/// message: the originator's headers and the body, hashed as they are read (no copy).
fn stable_content_digest(message: &Message<'_>, raw: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for header in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::Cc,
        HeaderName::Date,
        HeaderName::Subject,
    ] {
        hasher.update(message.header_raw(header).unwrap_or("").trim().as_bytes());
        hasher.update([0]);
    }
    hasher.update(body_bytes(raw));
    hasher.finalize().into()
}

/// The bytes after the header block (empty when there is no blank line).
fn body_bytes(raw: &[u8]) -> &[u8] {
    &raw[header_block_len(raw)..]
}

/// The length of the header block with its blank line (all of `raw` when there is none).
pub fn header_block_len(raw: &[u8]) -> usize {
    let crlf = memmem::find(raw, b"\r\n\r\n").map(|p| p + 4);
    let lf = memmem::find(raw, b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => raw.len(),
    }
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match value {
        HeaderValue::Text(id) => vec![strip_brackets(id)],
        HeaderValue::TextList(ids) => ids.iter().map(|id| strip_brackets(id)).collect(),
        _ => Vec::new(),
    };
    ids.into_iter().filter(|id| !id.is_empty()).collect()
}

fn strip_brackets(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use crate::record::RawMessage;

    fn key(bytes: &[u8]) -> String {
        let raw = RawMessage {
            bytes,
            internal_date: None,
        };
        crate::normalize(&raw, "anna@example.nl").dedupe_key
    }

    const REAL: &[u8] = b"From: bank@example.com\r\nTo: anna@example.nl\r\nSubject: Invoice\r\n\
        Message-ID: <inv-1@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nPay to NL01BANK0123\r\n";
    /// The same Message-ID and size, another account number.
    const FORGED: &[u8] = b"From: bank@example.com\r\nTo: anna@example.nl\r\nSubject: Invoice\r\n\
        Message-ID: <inv-1@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nPay to NL66EVIL0666\r\n";

    #[test]
    fn a_forgery_with_a_real_messages_id_and_size_gets_its_own_key() {
        assert_eq!(REAL.len(), FORGED.len());
        assert_ne!(key(REAL), key(FORGED));
    }

    #[test]
    fn copies_of_one_message_share_their_key_even_with_other_trace_headers() {
        assert_eq!(key(REAL), key(REAL));
        // A server's trace header changes the size, and so the key, as before: copies on one
        // server are byte for byte the same.
        let mut traced = b"Received: from mx (mx.example.com)\r\n".to_vec();
        traced.extend_from_slice(REAL);
        assert_ne!(key(REAL), key(&traced));
    }

    #[test]
    fn headers_only_records_of_one_message_share_their_key() {
        let headers = &REAL[..REAL.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4];
        let raw = RawMessage {
            bytes: headers,
            internal_date: None,
        };
        let a = crate::normalize::normalize_capped(&raw, "a@x", 1024, Some(5_000_000));
        let b = crate::normalize::normalize_capped(&raw, "a@x", 1024, Some(5_000_000));
        assert_eq!(a.dedupe_key, b.dedupe_key);
        assert_eq!(a.size, 5_000_000);
        let other = crate::normalize::normalize_capped(&raw, "a@x", 1024, Some(5_000_001));
        assert_ne!(a.dedupe_key, other.dedupe_key);
    }
}
