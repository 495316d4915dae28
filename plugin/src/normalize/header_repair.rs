//! The header block made readable before mail-parser sees it: raw 8-bit bytes re-read as
//! Windows-1252 (outside encoded words, whose own charset decides), a block that runs to the end
//! without a line break closed, and an obsolete one-letter military zone in `Date` read as -0000.

use mail_parser::decoders::charsets::map::charset_decoder;

/// The message with its header block repaired; `None` when nothing needed it. The body is
/// left as it is.
pub fn repair_header_block(raw: &[u8]) -> Option<Vec<u8>> {
    let header_end = header_block_end(raw);
    let header = &raw[..header_end];
    let eight_bit = std::str::from_utf8(header).is_err();
    let unterminated = header_end == raw.len() && !raw.is_empty() && !raw.ends_with(b"\n");
    let military = header
        .split_inclusive(|b| *b == b'\n')
        .any(is_military_date);
    if !eight_bit && !unterminated && !military {
        return None;
    }
    let mut repaired = Vec::with_capacity(raw.len() + 64);
    for line in header.split_inclusive(|b| *b == b'\n') {
        if is_military_date(line) {
            repaired.extend_from_slice(&with_zone_minus_zero(line));
        } else if std::str::from_utf8(line).is_err() {
            repaired.extend_from_slice(&eight_bit_as_windows_1252(line));
        } else {
            repaired.extend_from_slice(line);
        }
    }
    if unterminated {
        // mail-parser drops a last header with no line break after it.
        repaired.extend_from_slice(b"\r\n");
    }
    repaired.extend_from_slice(&raw[header_end..]);
    Some(repaired)
}

/// Where the header block ends: after its blank line, or the whole input when there is none.
fn header_block_end(raw: &[u8]) -> usize {
    let mut offset = 0;
    for line in raw.split_inclusive(|b| *b == b'\n') {
        offset += line.len();
        if line == b"\n" || line == b"\r\n" {
            return offset;
        }
    }
    raw.len()
}

/// `line` with its non-UTF-8 stretches read as Windows-1252, except inside RFC 2047 encoded
/// words: a raw byte there belongs to the word's own charset, which mail-parser applies (read
/// twice, `Fr\xf6sche` in an ISO-8859-1 word would become `FrÃ¶sche`).
fn eight_bit_as_windows_1252(line: &[u8]) -> Vec<u8> {
    let Some(cp1252) = charset_decoder(b"windows-1252") else {
        return line.to_vec();
    };
    let mut out = Vec::with_capacity(line.len() + 16);
    let mut plain_from = 0;
    let mut i = 0;
    while i < line.len() {
        match encoded_word_len(&line[i..]) {
            Some(len) => {
                push_as_utf8(&mut out, &line[plain_from..i], &cp1252);
                out.extend_from_slice(&line[i..i + len]);
                i += len;
                plain_from = i;
            }
            None => i += 1,
        }
    }
    push_as_utf8(&mut out, &line[plain_from..], &cp1252);
    out
}

fn push_as_utf8(out: &mut Vec<u8>, bytes: &[u8], cp1252: &impl Fn(&[u8]) -> String) {
    match std::str::from_utf8(bytes) {
        Ok(_) => out.extend_from_slice(bytes),
        Err(_) => out.extend_from_slice(cp1252(bytes).as_bytes()),
    }
}

/// The length of the encoded word `=?charset?Q|B?text?=` that `bytes` starts with, if it does.
fn encoded_word_len(bytes: &[u8]) -> Option<usize> {
    let rest = bytes.strip_prefix(b"=?")?;
    let charset_end = rest.iter().position(|b| *b == b'?')?;
    let charset = &rest[..charset_end];
    if charset.is_empty() || charset.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let rest = &rest[charset_end + 1..];
    if !matches!(rest, [b'Q' | b'q' | b'B' | b'b', b'?', ..]) {
        return None;
    }
    let text = &rest[2..];
    let end = text.windows(2).position(|w| w == b"?=")?;
    if text[..end].iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    Some(2 + charset_end + 1 + 2 + end + 2)
}

/// A `Date:` line whose zone is one letter (RFC 822's military zones, obsolete: RFC 5322 4.3
/// says to read them as -0000). mail-parser reads two bytes past such a letter and takes the
/// next header with it.
fn is_military_date(line: &[u8]) -> bool {
    let trimmed = line.trim_ascii_end();
    let Some(value) = trimmed
        .get(..5)
        .filter(|name| name.eq_ignore_ascii_case(b"date:"))
        .map(|_| &trimmed[5..])
    else {
        return false;
    };
    match value {
        [.., b' ', zone] => zone.is_ascii_alphabetic() && value.len() > 2,
        _ => false,
    }
}

fn with_zone_minus_zero(line: &[u8]) -> Vec<u8> {
    let trimmed_len = line.trim_ascii_end().len();
    let mut out = line[..trimmed_len - 1].to_vec();
    out.extend_from_slice(b"-0000");
    out.extend_from_slice(&line[trimmed_len..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(raw: &[u8]) -> Option<String> {
        let record = crate::normalize(
            &crate::record::RawMessage {
                bytes: raw,
                internal_date: None,
            },
            "a@x",
        );
        record.subject
    }

    #[test]
    fn a_raw_byte_inside_an_encoded_word_is_read_in_the_words_charset_once() {
        assert_eq!(
            subject(b"Subject: =?iso-8859-1?Q?Die_Hasen_und_die_Fr\xf6sche?=\r\n\r\nbody\r\n")
                .as_deref(),
            Some("Die Hasen und die Frösche")
        );
        // Outside an encoded word, the byte is still read as Windows-1252.
        assert_eq!(
            subject(b"Subject: Fr\xf6sche =?utf-8?Q?und_Kr=C3=B6ten?=\r\n\r\nbody\r\n").as_deref(),
            Some("Frösche und Kröten")
        );
    }

    #[test]
    fn a_last_header_without_a_line_break_is_kept() {
        assert_eq!(subject(b"Subject: Hello").as_deref(), Some("Hello"));
        assert_eq!(
            subject(b"From: a@example.org\r\nSubject: Hello").as_deref(),
            Some("Hello")
        );
    }

    #[test]
    fn a_military_zone_does_not_swallow_the_next_header() {
        for zone in ["Z", "A", "z"] {
            let raw = format!(
                "Date: Tue, 1 Jul 2003 10:52:37 {zone}\r\nSubject: Hello\r\nFrom: a@example.org\r\n\r\nbody\r\n"
            );
            let record = crate::normalize(
                &crate::record::RawMessage {
                    bytes: raw.as_bytes(),
                    internal_date: None,
                },
                "a@x",
            );
            assert_eq!(record.subject.as_deref(), Some("Hello"), "{zone}");
            assert_eq!(record.from.len(), 1, "{zone}");
            assert_eq!(record.date.utc, "2003-07-01T10:52:37Z", "{zone}");
        }
        // Named zones are left alone.
        assert!(!is_military_date(b"Date: Tue, 1 Jul 2003 10:52:37 EDT\r\n"));
        assert!(!is_military_date(
            b"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
        ));
    }

    #[test]
    fn encoded_words_are_found_only_whole() {
        assert_eq!(encoded_word_len(b"=?utf-8?Q?a?= rest"), Some(13));
        assert_eq!(encoded_word_len(b"=?utf-8?X?a?="), None);
        assert_eq!(encoded_word_len(b"=?utf-8?Q?a b?="), None);
        assert_eq!(encoded_word_len(b"=?utf-8?Q?never closed"), None);
    }
}
