//! Messages for the sync proofs, the demo and the benchmarks: plain and multipart mail with
//! stable Message-IDs, big attachments, broken ones, and IMAP internal dates relative to now.

use base64::Engine;

/// `n` days before now as an IMAP internal date (`05-Nov-2026 10:00:00 +0000`).
pub fn days_ago(n: i64) -> String {
    let when = chrono::Utc::now() - chrono::Duration::days(n);
    when.format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

/// A plain-text message from `from` to `to`, with `id` in its Message-ID.
pub fn plain(id: &str, from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{id}@mail.example.org>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\n\
         From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A small business message to `to`: headers, a few paragraphs of Dutch, its length and sender
/// varying with `i` (the sync benchmarks' corpus).
pub fn business_update(i: usize, to: &str) -> Vec<u8> {
    let body = format!(
        "Beste Anna,\r\n\r\nHierbij de stand van zaken voor project {i}. {}\r\n\r\nMet vriendelijke groet,\r\nKlant {}\r\n",
        "De levering loopt volgens planning en de facturen volgen aan het eind van de maand. "
            .repeat(1 + i % 12),
        i % 97
    );
    plain(
        &format!("bench-{i}"),
        &format!("Klant {} <klant{}@example.com>", i % 97, i % 97),
        to,
        &format!("Project {i}: stand van zaken"),
        &body,
    )
}

/// `data` in base64, in lines of 76 characters each ending in CRLF, as MIME bodies have it.
pub fn base64_lines(data: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let mut lines = String::with_capacity(encoded.len() + encoded.len() / 38);
    for chunk in encoded.as_bytes().chunks(76) {
        lines.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        lines.push_str("\r\n");
    }
    lines
}

/// A message of about `size` bytes: a short text and one base64 attachment filling the rest.
pub fn with_attachment(id: &str, to: &str, size: usize) -> Vec<u8> {
    let raw_len = size / 4 * 3;
    let data: Vec<u8> = (0..raw_len).map(|i| (i * 7 % 251) as u8).collect();
    let lines = base64_lines(&data);
    format!(
        "Message-ID: <{id}@mail.example.org>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\n\
         From: Supplier <supplier@example.com>\r\nTo: {to}\r\nSubject: Drawings {id}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe drawings are attached.\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"drawings-{id}.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{lines}--b1--\r\n"
    )
    .into_bytes()
}

/// A multipart/mixed message to Anna: a tiny HTML part, then a plain part holding `plain`.
pub fn html_beside(id: &str, plain: &[u8]) -> Vec<u8> {
    let to = "anna@example.nl";
    let mut m = format!(
        "From: Onbekend <x@example.com>\r\nTo: {to}\r\nSubject: Poison {id}\r\n\
         Message-ID: <{id}@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<p>hallo</p>\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(plain);
    m.extend_from_slice(b"\r\n--b--\r\n");
    m
}

/// `bytes` of `line` repeated, each line ending in CRLF.
pub fn lines_of(line: &[u8], bytes: usize) -> Vec<u8> {
    let mut one = line.to_vec();
    one.extend_from_slice(b"\r\n");
    one.repeat(bytes / one.len())
}

/// Control characters, which JSON escapes six-fold.
pub fn control_characters(bytes: usize) -> Vec<u8> {
    let line: Vec<u8> = [1u8, 2, 3, 4, 5, 6, 7, 8, 0x0b, 0x0c, 0x0e, 0x1f]
        .into_iter()
        .cycle()
        .take(996)
        .collect();
    lines_of(&line, bytes)
}
