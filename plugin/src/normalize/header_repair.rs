//! The header block made readable before mail-parser sees it: raw 8-bit bytes that are not UTF-8
//! re-read in the charset the message declares for its text when they read cleanly in it, else as
//! Windows-1252 (outside encoded words, whose own charset decides), a block that runs to the end
//! without a line break closed, an obsolete one-letter military zone in `Date` read as -0000, and
//! adjacent encoded words that split one character between them joined into one word.

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use mail_parser::decoders::charsets::map::charset_decoder;

type Decoder = fn(&[u8]) -> String;

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
    let mut repaired_header = None;
    if eight_bit || military {
        let declared = if eight_bit {
            declared_charset(raw).and_then(|c| eight_bit_decoder(&c))
        } else {
            None
        };
        let mut repaired = Vec::with_capacity(header.len() + 64);
        for line in header.split_inclusive(|b| *b == b'\n') {
            if is_military_date(line) {
                repaired.extend_from_slice(&with_zone_minus_zero(line));
            } else if std::str::from_utf8(line).is_err() {
                repaired.extend_from_slice(&eight_bit_as_utf8(line, declared));
            } else {
                repaired.extend_from_slice(line);
            }
        }
        repaired_header = Some(repaired);
    }
    if let Some(joined) = join_split_encoded_words(repaired_header.as_deref().unwrap_or(header)) {
        repaired_header = Some(joined);
    }
    if repaired_header.is_none() && !unterminated {
        return None;
    }
    let mut repaired = repaired_header.unwrap_or_else(|| header.to_vec());
    repaired.reserve(raw.len() - header_end + 2);
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

/// Where the search for an encoded word's end stops in `rest` (its encoding letter, `?`, then
/// the text and its `?=`).
fn text_window(rest_len: usize) -> usize {
    rest_len.min(2 + MAX_ENCODED_TEXT + 2)
}

/// The charset of the first `Content-Type` field in the message (its own, or else its first
/// part's) that names one: the sender's charset, and so the likeliest one for raw 8-bit bytes
/// in its header fields, as mail clients assume.
fn declared_charset(raw: &[u8]) -> Option<Vec<u8>> {
    let mut field: Option<Vec<u8>> = None;
    for line in raw.split_inclusive(|b| *b == b'\n') {
        if let (Some(value), [b' ' | b'\t', ..]) = (field.as_mut(), line) {
            if value.len() < MAX_CONTENT_TYPE {
                value.extend_from_slice(&line[..line.len().min(MAX_CONTENT_TYPE)]);
            }
            continue;
        }
        if let Some(charset) = field.take().and_then(|value| charset_param(&value)) {
            return Some(charset);
        }
        if line.len() > 13 && line[..13].eq_ignore_ascii_case(b"content-type:") {
            field = Some(line[13..line.len().min(13 + MAX_CONTENT_TYPE)].to_vec());
        }
    }
    field.and_then(|value| charset_param(&value))
}

/// The `charset` parameter of a Content-Type value, unquoted and lower-cased.
fn charset_param(value: &[u8]) -> Option<Vec<u8>> {
    let lower = value.to_ascii_lowercase();
    let at = memchr::memmem::find(&lower, b"charset=")? + 8;
    let rest = &lower[at..];
    let charset: Vec<u8> = match rest.strip_prefix(b"\"") {
        Some(quoted) => quoted.iter().take_while(|b| **b != b'"').copied().collect(),
        None => rest
            .iter()
            .take_while(|b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n'))
            .copied()
            .collect(),
    };
    (!charset.is_empty()).then_some(charset)
}

/// The decoder for raw header bytes in the declared `charset`; none for UTF-8 (whose bytes would
/// already have read) or the other Unicode forms, which raw header bytes never are.
fn eight_bit_decoder(charset: &[u8]) -> Option<Decoder> {
    if charset.starts_with(b"utf") || charset.starts_with(b"unicode") {
        return None;
    }
    charset_decoder(charset)
}

/// `line` with its non-UTF-8 stretches read in the `declared` charset when they read cleanly in
/// it, else as Windows-1252, except inside RFC 2047 encoded words: a raw byte there belongs to the
/// word's own charset, which mail-parser applies (read twice, `Fr\xf6sche` in an ISO-8859-1 word
/// would become `FrÃ¶sche`).
fn eight_bit_as_utf8(line: &[u8], declared: Option<Decoder>) -> Vec<u8> {
    let Some(cp1252) = charset_decoder(b"windows-1252") else {
        return line.to_vec();
    };
    let read = |bytes: &[u8]| {
        declared
            .map(|decode| decode(bytes))
            .filter(|text| !text.contains('\u{fffd}'))
            .unwrap_or_else(|| cp1252(bytes))
    };
    let mut out = Vec::with_capacity(line.len() + 16);
    let mut plain_from = 0;
    let mut i = 0;
    while i < line.len() {
        match encoded_word_len(&line[i..]) {
            Some(len) => {
                push_as_utf8(&mut out, &line[plain_from..i], &read);
                out.extend_from_slice(&line[i..i + len]);
                i += len;
                plain_from = i;
            }
            None => i += 1,
        }
    }
    push_as_utf8(&mut out, &line[plain_from..], &read);
    out
}

fn push_as_utf8(out: &mut Vec<u8>, bytes: &[u8], read: &impl Fn(&[u8]) -> String) {
    match std::str::from_utf8(bytes) {
        Ok(_) => out.extend_from_slice(bytes),
        Err(_) => out.extend_from_slice(read(bytes).as_bytes()),
    }
}

/// How far the end of an encoded word's text is looked for. RFC 2047 allows 75 bytes a word;
/// senders go past that, never this far. Without a bound, a header of word starts that never end
/// would be read to its end from every start.
const MAX_ENCODED_TEXT: usize = 4096;

/// A Content-Type field longer than this is not read for its charset.
const MAX_CONTENT_TYPE: usize = 4096;

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
    let text = &rest[2..text_window(rest.len())];
    let end = memchr::memmem::find(text, b"?=")?;
    if text[..end].iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    Some(2 + charset_end + 1 + 2 + end + 2)
}

/// The header block with each run of adjacent encoded words in one charset that split a
/// character between them (a UTF-8 sequence cut in two by a sender folding base64 by length)
/// rewritten as one word holding the run's bytes; `None` when no run needs it. RFC 2047 wants
/// each word whole, but decoding the words one by one would turn the cut character into two
/// replacement characters, where mail clients and Python's `email` read the bytes together.
fn join_split_encoded_words(header: &[u8]) -> Option<Vec<u8>> {
    memchr::memmem::find(header, b"?=")?;
    let mut out = Vec::new();
    let mut copied = 0;
    let mut i = 0;
    while i < header.len() {
        let Some(len) = encoded_word_len(&header[i..]) else {
            i += 1;
            continue;
        };
        let mut words = Vec::new();
        words.push(i..i + len);
        let mut end = i + len;
        loop {
            let next = end + folding_white_space_len(&header[end..]);
            match encoded_word_len(&header[next..]) {
                Some(len) => {
                    words.push(next..next + len);
                    end = next + len;
                }
                None => break,
            }
        }
        if let Some(joined) = join_run(header, &words) {
            out.extend_from_slice(&header[copied..i]);
            out.extend_from_slice(&joined);
            copied = end;
        }
        i = end;
    }
    if copied == 0 {
        return None;
    }
    out.extend_from_slice(&header[copied..]);
    Some(out)
}

/// How many bytes of white space `bytes` starts with, a fold (a line break followed by a space
/// or tab) included; a line break that ends the field is not.
fn folding_white_space_len(bytes: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match &bytes[i..] {
            [b' ' | b'\t', ..] => i += 1,
            [b'\r', b'\n', b' ' | b'\t', ..] => i += 3,
            [b'\n', b' ' | b'\t', ..] => i += 2,
            _ => return i,
        }
    }
}

/// The run of encoded words `words` as new words, each stretch of neighbours in one charset
/// joined into a single base64 word when reading its bytes together gives other text than
/// reading them word by word; `None` when no stretch needs that.
fn join_run(header: &[u8], words: &[std::ops::Range<usize>]) -> Option<Vec<u8>> {
    if words.len() < 2 {
        return None;
    }
    let parsed: Vec<_> = words
        .iter()
        .map(|w| parse_encoded_word(&header[w.clone()]))
        .collect::<Option<_>>()?;
    let mut out = Vec::new();
    let mut joined_any = false;
    let mut start = 0;
    while start < parsed.len() {
        let charset = parsed[start].0;
        let mut end = start + 1;
        while end < parsed.len() && parsed[end].0.eq_ignore_ascii_case(charset) {
            end += 1;
        }
        let stretch = &parsed[start..end];
        let bytes: Vec<u8> = stretch.iter().flat_map(|w| w.1.iter().copied()).collect();
        let together = decode_in(charset, &bytes)?;
        let apart: String = stretch
            .iter()
            .map(|w| decode_in(charset, &w.1))
            .collect::<Option<_>>()?;
        if !out.is_empty() {
            out.push(b' ');
        }
        if stretch.len() > 1 && together != apart {
            joined_any = true;
            out.extend_from_slice(b"=?");
            out.extend_from_slice(charset);
            out.extend_from_slice(b"?B?");
            out.extend_from_slice(general_purpose::STANDARD.encode(&bytes).as_bytes());
            out.extend_from_slice(b"?=");
        } else {
            for (n, w) in words[start..end].iter().enumerate() {
                if n > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(&header[w.clone()]);
            }
        }
        start = end;
    }
    joined_any.then_some(out)
}

/// An encoded word's charset (an RFC 2231 language suffix dropped) and decoded bytes; `None`
/// when its base64 does not decode.
fn parse_encoded_word(word: &[u8]) -> Option<(&[u8], Vec<u8>)> {
    let inner = &word[2..word.len() - 2];
    let charset_end = inner.iter().position(|b| *b == b'?')?;
    let charset = &inner[..charset_end];
    let charset = charset.split(|b| *b == b'*').next().unwrap_or(charset);
    let encoding = inner[charset_end + 1];
    let text = &inner[charset_end + 3..];
    let bytes = if encoding.eq_ignore_ascii_case(&b'b') {
        const LENIENT: GeneralPurpose = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new()
                .with_decode_padding_mode(DecodePaddingMode::Indifferent)
                .with_decode_allow_trailing_bits(true),
        );
        LENIENT.decode(text).ok()?
    } else {
        q_decode(text)
    };
    Some((charset, bytes))
}

/// RFC 2047's Q encoding: `_` is a space, `=XX` a byte; anything else stands for itself.
fn q_decode(text: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => match (
                text.get(i + 1).copied().and_then(hex),
                text.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'='),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// `bytes` read in `charset`; `None` for a charset we cannot read.
fn decode_in(charset: &[u8], bytes: &[u8]) -> Option<String> {
    if charset.eq_ignore_ascii_case(b"utf-8") || charset.eq_ignore_ascii_case(b"utf8") {
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    charset_decoder(charset).map(|decode| decode(bytes))
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
    fn raw_bytes_are_read_in_the_charset_the_message_declares_when_they_read_cleanly() {
        // A bounce from a Chinese MTA (flufl.bounce's sina_01): GB2312 bytes, the charset
        // declared by the first part.
        let raw = b"Subject: \xd3\xca\xbc\xfe\xb4\xab\xca\xe4\xca\xa7\xb0\xdc\xa3\xa1\r\nContent-Type: multipart/mixed;\r\n boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain;\r\n   charset=\"gb2312\"\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(subject(raw).as_deref(), Some("邮件传输失败！"));
        assert_eq!(
            subject(b"Subject: \xf3\xde\xc5\xd4\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\nx\r\n")
                .as_deref(),
            Some("Счет")
        );
        // Latin-1 declared: read as its superset Windows-1252, the euro sign included.
        assert_eq!(
            subject(b"Subject: Caf\xe9 \x80 5\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nx\r\n")
                .as_deref(),
            Some("Café € 5")
        );
        // Bytes that do not read cleanly in the declared charset, or a declared UTF-8 that
        // they are not: Windows-1252.
        assert_eq!(
            subject(
                b"Subject: Caf\xe9 ok\r\nContent-Type: text/plain; charset=shift_jis\r\n\r\nx\r\n"
            )
            .as_deref(),
            Some("Café ok")
        );
        assert_eq!(
            subject(
                b"Subject: Caf\xe9\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\nx\r\n"
            )
            .as_deref(),
            Some("Café")
        );
    }

    #[test]
    fn an_encoded_word_is_looked_for_no_further_than_its_bound_or_a_space() {
        assert_eq!(encoded_word_len(b"=?utf-8?Q?caf=C3=A9?= rest"), Some(21));
        let long = [b"=?utf-8?Q?".as_slice(), &[b'a'; MAX_ENCODED_TEXT], b"?="].concat();
        assert_eq!(encoded_word_len(&long), Some(long.len()), "at the bound");
        let longer = [
            b"=?utf-8?Q?".as_slice(),
            &[b'a'; MAX_ENCODED_TEXT + 1],
            b"?=",
        ]
        .concat();
        assert_eq!(encoded_word_len(&longer), None, "past it");
        assert_eq!(
            encoded_word_len(b"=?utf-8?Q?a b?="),
            None,
            "white space ends it"
        );
        // Word starts that never end, as a hostile header repeats them: read as plain text.
        let hostile = b"=?a?Q?x".repeat(50_000);
        let raw = [b"Subject: ".as_slice(), &hostile, b"?=\r\n\r\nbody\r\n"].concat();
        assert_eq!(join_split_encoded_words(&raw), None);
    }

    #[test]
    fn the_declared_charset_is_the_first_content_type_that_names_one() {
        assert_eq!(
            declared_charset(
                b"Content-Type: text/plain; charset=\"KOI8-R\"; format=flowed\r\n\r\n"
            ),
            Some(b"koi8-r".to_vec())
        );
        assert_eq!(
            declared_charset(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain;\r\n\tcharset=gb2312\r\n\r\n"),
            Some(b"gb2312".to_vec())
        );
        assert_eq!(
            declared_charset(b"Subject: x\r\n\r\ncharset=koi8-r\r\n"),
            None
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
    fn a_character_split_between_two_encoded_words_is_read_whole() {
        // A bounce from a Russian MTA (flufl.bounce's simple_39): base64 folded by length cuts
        // the UTF-8 of "е" (D0 B5) between the two words.
        let raw = b"Subject: =?utf-8?b?0JLQsNGI0LUg0YHQvtC+0LHRidC10L3QuNC1INC90LUg0LTQvtGB0YLQsNCy0LvQ?=\r\n\t=?utf-8?b?tdC90L4uIE1haWwgZmFpbHVyZS4=?=\r\nTo: a@x\r\n\r\nbody\r\n";
        assert_eq!(
            subject(raw).as_deref(),
            Some("Ваше сообщение не доставлено. Mail failure.")
        );
        // The same in Q, and in a double-byte charset.
        assert_eq!(
            subject(b"Subject: =?UTF-8?Q?caf=C3?= =?utf-8?Q?=A9_ok?=\r\n\r\n").as_deref(),
            Some("café ok")
        );
        assert_eq!(
            subject(b"Subject: =?gb2312?B?08o=?= =?gb2312?B?vP4=?=\r\n\r\n").as_deref(),
            Some("邮件")
        );
    }

    #[test]
    fn whole_encoded_words_are_left_as_they_are() {
        // Each word whole: nothing to join, nothing rewritten.
        assert_eq!(
            join_split_encoded_words(b"Subject: =?utf-8?Q?caf=C3=A9?= =?utf-8?Q?_ok?=\r\n"),
            None
        );
        // Words in different charsets are never joined.
        assert_eq!(
            join_split_encoded_words(b"Subject: =?utf-8?Q?a=C3?= =?iso-8859-1?Q?=A9?=\r\n"),
            None
        );
        // A word on the next field does not join one on this field.
        assert_eq!(
            join_split_encoded_words(b"Subject: =?utf-8?Q?a=C3?=\r\nX: =?utf-8?Q?=A9?=\r\n"),
            None
        );
        assert_eq!(
            subject(b"Subject: =?utf-8?Q?caf=C3=A9?= =?utf-8?Q?_ok?=\r\n\r\n").as_deref(),
            Some("café ok")
        );
    }

    #[test]
    fn encoded_words_are_found_only_whole() {
        assert_eq!(encoded_word_len(b"=?utf-8?Q?a?= rest"), Some(13));
        assert_eq!(encoded_word_len(b"=?utf-8?X?a?="), None);
        assert_eq!(encoded_word_len(b"=?utf-8?Q?a b?="), None);
        assert_eq!(encoded_word_len(b"=?utf-8?Q?never closed"), None);
    }
}
