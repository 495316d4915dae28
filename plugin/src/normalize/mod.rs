//! Message normalisation: raw RFC 5322 bytes in, one CRM record out, never a panic.
//! mail-parser reads the MIME structure; the submodules turn each aspect into record fields.

mod addresses;
mod attachments;
mod body;
pub use body::prefix;
mod classify;
pub(crate) mod dates;
pub(crate) mod header_repair;
pub(crate) mod identity;
mod raw_checks;

use mail_parser::{Message, MessageParser};

use crate::record::{Direction, MessageRecord, ParseWarning, RawMessage};

/// The default cap on each of a record's two bodies, text and HTML (`limits.max-body-bytes`).
pub use crate::model::MAX_BODY_BYTES;

/// Normalises one message, its bodies cut at `MAX_BODY_BYTES`. `mailbox_address` is the linked
/// mailbox's own address, which decides the record's direction.
pub fn normalize(raw: &RawMessage<'_>, mailbox_address: &str) -> MessageRecord {
    normalize_capped(raw, mailbox_address, MAX_BODY_BYTES, None)
}

/// `normalize` with the bodies cut at `max_body_bytes` each. `whole_size` is the message's size
/// on the server when `raw` holds only part of it (its headers): the record's size and dedupe
/// key take it, as a whole fetch of the message would.
pub fn normalize_capped(
    raw: &RawMessage<'_>,
    mailbox_address: &str,
    max_body_bytes: usize,
    whole_size: Option<u64>,
) -> MessageRecord {
    let mut warnings = Vec::new();
    if raw.bytes.iter().all(u8::is_ascii_whitespace) {
        warnings.push(ParseWarning::EmptyInput);
    }
    warnings.extend(raw_checks::eight_bit_headers(raw.bytes));
    let repaired = header_repair::repair_header_block(raw.bytes);
    let readable = RawMessage {
        bytes: repaired.as_deref().unwrap_or(raw.bytes),
        internal_date: raw.internal_date,
    };

    let parsed = MessageParser::default().parse(readable.bytes);
    let record = match parsed.as_ref().filter(|m| !m.headers().is_empty()) {
        Some(message) => from_message(
            message,
            &readable,
            whole_size.unwrap_or(raw.bytes.len() as u64),
            mailbox_address,
            max_body_bytes,
            warnings,
        ),
        None => {
            if !warnings.contains(&ParseWarning::EmptyInput) {
                warnings.push(ParseWarning::NoHeaders);
            }
            from_unreadable(raw, max_body_bytes, warnings)
        }
    };
    debug_assert!(!record.dedupe_key.is_empty());
    record
}

/// `readable` is the message as parsed (headers repaired); `size` is the original's length.
fn from_message(
    message: &Message<'_>,
    readable: &RawMessage<'_>,
    size: u64,
    mailbox_address: &str,
    max_body_bytes: usize,
    mut warnings: Vec<ParseWarning>,
) -> MessageRecord {
    warnings.extend(raw_checks::charset_and_boundary_problems(message));
    let people = addresses::Participants::read(message, &mut warnings);
    let date = dates::message_date(message, readable.internal_date, &mut warnings);
    let ids = identity::Identity::read(message, readable.bytes, size, &mut warnings);
    let bodies = body::Bodies::read(message, max_body_bytes, &mut warnings);
    let attachments = attachments::collect(message, &mut warnings);
    let direction = people.direction(mailbox_address);

    MessageRecord {
        dedupe_key: ids.dedupe_key,
        message_id: ids.message_id,
        message_id_derived: ids.derived,
        in_reply_to: ids.in_reply_to,
        references: ids.references,
        thread_key: ids.thread_key,
        subject: message.subject().map(|s| s.trim().to_string()),
        from: people.from,
        sender: people.sender,
        reply_to: people.reply_to,
        to: people.to,
        cc: people.cc,
        bcc: people.bcc,
        date,
        snippet: body::snippet(&bodies.text),
        text_body: bodies.text,
        html_body: bodies.html,
        attachments,
        classification: classify::classify(message),
        size,
        direction,
        truncated: bodies.truncated,
        warnings,
    }
}

/// A record for bytes with no readable header block: the bytes become the text body, so
/// nothing is lost, and the identity comes from their hash.
fn from_unreadable(
    raw: &RawMessage<'_>,
    max_body_bytes: usize,
    mut warnings: Vec<ParseWarning>,
) -> MessageRecord {
    let date = dates::fallback_date(raw.internal_date);
    let ids = identity::Identity::derived_only(raw.bytes, &mut warnings);
    let kept = &raw.bytes[..raw.bytes.len().min(max_body_bytes)];
    let text = body::prefix(&String::from_utf8_lossy(kept), max_body_bytes).to_string();
    let truncated = kept.len() < raw.bytes.len();
    if truncated {
        warnings.push(ParseWarning::TextBodyTruncated(raw.bytes.len() as u64));
    }
    MessageRecord {
        dedupe_key: ids.dedupe_key,
        message_id: ids.message_id,
        message_id_derived: true,
        in_reply_to: Vec::new(),
        references: Vec::new(),
        thread_key: ids.thread_key,
        subject: None,
        from: Vec::new(),
        sender: Vec::new(),
        reply_to: Vec::new(),
        to: Vec::new(),
        cc: Vec::new(),
        bcc: Vec::new(),
        date,
        snippet: body::snippet(&text),
        text_body: text,
        html_body: None,
        attachments: Vec::new(),
        classification: Default::default(),
        size: raw.bytes.len() as u64,
        direction: Direction::Inbound,
        truncated,
        warnings,
    }
}
