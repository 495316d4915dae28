//! Checks on the raw bytes that mail-parser forgives silently: 8-bit header bytes, unknown
//! charsets and multipart bodies whose closing boundary never comes (truncation).

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{Message, MimeHeaders};
use memchr::memmem;

use crate::record::ParseWarning;

/// The names of headers that carry raw bytes above 0x7F (RFC 5322 allows only ASCII).
pub fn eight_bit_headers(raw: &[u8]) -> Vec<ParseWarning> {
    let mut names: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // end of the header block
        }
        if !line[0].is_ascii_whitespace() {
            let name_end = line.iter().position(|b| *b == b':').unwrap_or(line.len());
            current = String::from_utf8_lossy(&line[..name_end])
                .trim()
                .to_string();
        }
        if line.iter().any(|b| *b >= 0x80) && !names.contains(&current) {
            names.push(current.clone());
        }
    }
    names
        .into_iter()
        .map(ParseWarning::RawEightBitHeader)
        .collect()
}

/// Unknown charsets and unterminated multiparts among the message's own parts.
pub fn charset_and_boundary_problems(message: &Message<'_>) -> Vec<ParseWarning> {
    let mut warnings = Vec::new();
    let raw = message.raw_message();
    for part in &message.parts {
        let Some(content_type) = part.content_type() else {
            continue;
        };
        if let Some(charset) = content_type.attribute("charset") {
            let warning = ParseWarning::UnknownCharset(charset.to_string());
            if !known_charset(charset) && !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        if content_type.ctype().eq_ignore_ascii_case("multipart")
            && let Some(boundary) = content_type.attribute("boundary")
        {
            let closing = format!("--{boundary}--");
            if memmem::find(raw, closing.as_bytes()).is_none() {
                warnings.push(ParseWarning::UnterminatedMultipart(boundary.to_string()));
            }
        }
    }
    warnings
}

fn known_charset(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    matches!(lower.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii")
        || charset_decoder(lower.as_bytes()).is_some()
}
