//! A message record between the domain's types and the WIT ones, both ways: the two have the same
//! fields and cases, so one macro writes each direction from the same list.

use super::bindings::crm::mail_sync::message as wit;
use crate::record as domain;

/// A function `$name` turning `$from::MessageRecord` into `$to::MessageRecord`, field by field.
macro_rules! record_conversion {
    ($name:ident: $from:ident => $to:ident) => {
        pub fn $name(r: $from::MessageRecord) -> $to::MessageRecord {
            let addresses = |list: Vec<$from::MailboxAddress>| -> Vec<$to::MailboxAddress> {
                list.into_iter()
                    .map(|a| $to::MailboxAddress {
                        name: a.name,
                        address: a.address,
                    })
                    .collect()
            };
            let attachment = |a: $from::Attachment| $to::Attachment {
                filename: a.filename,
                mime_type: a.mime_type,
                size: a.size,
                content_id: a.content_id,
                inline: a.inline,
                digest: a.digest,
                digest_algorithm: match a.digest_algorithm {
                    $from::DigestAlgorithm::Sha256 => $to::DigestAlgorithm::Sha256,
                    $from::DigestAlgorithm::Blake3 => $to::DigestAlgorithm::Blake3,
                },
                decoded: a.decoded,
            };
            let warning = |w: $from::ParseWarning| {
                use $from::ParseWarning as F;
                use $to::ParseWarning as T;
                match w {
                    F::EmptyInput => T::EmptyInput,
                    F::NoHeaders => T::NoHeaders,
                    F::MissingMessageId => T::MissingMessageId,
                    F::MissingDate => T::MissingDate,
                    F::UnparseableDate(s) => T::UnparseableDate(s),
                    F::MissingFrom => T::MissingFrom,
                    F::RawEightBitHeader(s) => T::RawEightBitHeader(s),
                    F::UnknownCharset(s) => T::UnknownCharset(s),
                    F::UnterminatedMultipart(s) => T::UnterminatedMultipart(s),
                    F::UndecodablePart(i) => T::UndecodablePart(i),
                    F::MalformedAddress(s) => T::MalformedAddress(s),
                    F::TextBodyTruncated(n) => T::TextBodyTruncated(n),
                    F::HtmlBodyTruncated(n) => T::HtmlBodyTruncated(n),
                    F::HeadersOnly(why) => T::HeadersOnly(why),
                }
            };
            $to::MessageRecord {
                dedupe_key: r.dedupe_key,
                message_id: r.message_id,
                message_id_derived: r.message_id_derived,
                in_reply_to: r.in_reply_to,
                references: r.references,
                thread_key: r.thread_key,
                subject: r.subject,
                from: addresses(r.from),
                sender: addresses(r.sender),
                reply_to: addresses(r.reply_to),
                to: addresses(r.to),
                cc: addresses(r.cc),
                bcc: addresses(r.bcc),
                date: $to::MessageDate {
                    utc: r.date.utc,
                    offset_minutes: r.date.offset_minutes,
                    source: match r.date.source {
                        $from::DateSource::Header => $to::DateSource::Header,
                        $from::DateSource::InternalDate => $to::DateSource::InternalDate,
                        $from::DateSource::None => $to::DateSource::None,
                    },
                },
                text_body: r.text_body,
                html_body: r.html_body,
                snippet: r.snippet,
                attachments: r.attachments.into_iter().map(attachment).collect(),
                classification: $to::Classification {
                    auto_reply: r.classification.auto_reply,
                    mailing_list: r.classification.mailing_list,
                    bulk: r.classification.bulk,
                    auto_submitted: r.classification.auto_submitted,
                    precedence: r.classification.precedence,
                    list_id: r.classification.list_id,
                },
                size: r.size,
                direction: match r.direction {
                    $from::Direction::Inbound => $to::Direction::Inbound,
                    $from::Direction::Outbound => $to::Direction::Outbound,
                },
                truncated: r.truncated,
                warnings: r.warnings.into_iter().map(warning).collect(),
            }
        }
    };
}

record_conversion!(to_wit: domain => wit);
record_conversion!(from_wit: wit => domain);
