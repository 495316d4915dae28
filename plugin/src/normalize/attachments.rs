//! Attachments: every part that is not the message's body text, with its name, type, size,
//! content-id and BLAKE3 digest; a part that could not be decoded is kept raw, never dropped.

use std::borrow::Cow;

use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};

use super::identity::hex;
use crate::record::{Attachment, DigestAlgorithm, ParseWarning};

/// The message's attachments, then every part that could not be decoded or that no body or
/// attachment list took (a multipart whose boundary never matched), kept raw.
pub fn collect(message: &Message<'_>, warnings: &mut Vec<ParseWarning>) -> Vec<Attachment> {
    let referenced = |id: u32| {
        message.attachments.contains(&id)
            || message.text_body.contains(&id)
            || message.html_body.contains(&id)
    };
    let kept_raw: Vec<u32> = (0..message.parts.len() as u32)
        .filter(|id| {
            let part = &message.parts[*id as usize];
            !part.is_multipart() && (part.is_encoding_problem || !referenced(*id))
        })
        .filter(|id| !message.attachments.contains(id))
        .collect();

    let mut out = Vec::with_capacity(message.attachments.len() + kept_raw.len());
    for &id in &message.attachments {
        if let Some(part) = message.parts.get(id as usize).filter(|p| !p.is_multipart()) {
            let raw = part.is_encoding_problem;
            if raw {
                warnings.push(ParseWarning::UndecodablePart(id));
            }
            out.push(describe(message, part, raw));
        }
    }
    for id in kept_raw {
        warnings.push(ParseWarning::UndecodablePart(id));
        out.push(describe(message, &message.parts[id as usize], true));
    }
    out
}

fn describe(message: &Message<'_>, part: &MessagePart<'_>, keep_raw: bool) -> Attachment {
    let decoded = !keep_raw;
    let bytes: Cow<'_, [u8]> = if decoded {
        decoded_bytes(message, part)
    } else {
        Cow::Borrowed(raw_body(message, part))
    };
    let inline = matches!(part.body, PartType::InlineBinary(_))
        || part.content_disposition().is_some_and(|d| d.is_inline());
    Attachment {
        filename: part
            .attachment_name()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        mime_type: mime_type(part),
        size: bytes.len() as u64,
        content_id: part.content_id().map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        }),
        inline,
        digest: hex(blake3::hash(&bytes).as_bytes()),
        digest_algorithm: DigestAlgorithm::Blake3,
        decoded,
    }
}

/// The part's bytes after transfer decoding, before any charset conversion.
fn decoded_bytes<'a>(message: &'a Message<'_>, part: &'a MessagePart<'_>) -> Cow<'a, [u8]> {
    match &part.body {
        PartType::Binary(b) | PartType::InlineBinary(b) => Cow::Borrowed(b.as_ref()),
        PartType::Message(nested) => Cow::Borrowed(nested.raw_message()),
        PartType::Text(text) | PartType::Html(text) => {
            let raw = raw_body(message, part);
            let decoded = match part.encoding {
                Encoding::None => Some(raw.to_vec()),
                Encoding::Base64 => base64_decode(raw),
                Encoding::QuotedPrintable => quoted_printable_decode(raw),
            };
            decoded.map_or(Cow::Borrowed(text.as_bytes()), Cow::Owned)
        }
        PartType::Multipart(_) => Cow::Borrowed(&[]),
    }
}

fn raw_body<'a>(message: &'a Message<'_>, part: &MessagePart<'_>) -> &'a [u8] {
    let raw = message.raw_message();
    let start = (part.offset_body as usize).min(raw.len());
    let end = (part.offset_end as usize).clamp(start, raw.len());
    &raw[start..end]
}

fn mime_type(part: &MessagePart<'_>) -> String {
    if let Some(ct) = part.content_type() {
        let subtype = ct.subtype().unwrap_or("octet-stream");
        return format!("{}/{}", ct.ctype(), subtype).to_lowercase();
    }
    match part.body {
        PartType::Text(_) => "text/plain",
        PartType::Html(_) => "text/html",
        PartType::Message(_) => "message/rfc822",
        _ => "application/octet-stream",
    }
    .to_string()
}
