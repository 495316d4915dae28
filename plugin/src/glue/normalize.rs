//! The `normalize` export: the domain's message record translated to the WIT one; the parsing
//! itself stays in `normalize`.

use super::Component;
use super::bindings::crm::mail_sync::message as wit;
use super::bindings::crm::mail_sync::normalizer::Job;
use super::bindings::exports::crm::mail_sync::normalize::{Guest, RawMessage};
use crate::record as domain;

impl Guest for Component {
    fn normalize(message: RawMessage, mailbox_address: String) -> wit::MessageRecord {
        let raw = domain::RawMessage {
            bytes: &message.bytes,
            internal_date: message.internal_date,
        };
        to_wit(crate::normalize(&raw, &mailbox_address))
    }

    fn normalize_job(job: Job) -> wit::MessageRecord {
        let raw = domain::RawMessage {
            bytes: &job.bytes,
            internal_date: job.internal_date,
        };
        to_wit(crate::normalize::normalize_capped(
            &raw,
            &job.mailbox_address,
            usize::try_from(job.max_body_bytes).unwrap_or(usize::MAX),
            job.whole_size,
        ))
    }
}

pub(super) fn to_wit(r: domain::MessageRecord) -> wit::MessageRecord {
    wit::MessageRecord {
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
        date: wit::MessageDate {
            utc: r.date.utc,
            offset_minutes: r.date.offset_minutes,
            source: match r.date.source {
                domain::DateSource::Header => wit::DateSource::Header,
                domain::DateSource::InternalDate => wit::DateSource::InternalDate,
                domain::DateSource::None => wit::DateSource::None,
            },
        },
        text_body: r.text_body,
        html_body: r.html_body,
        snippet: r.snippet,
        attachments: r.attachments.into_iter().map(attachment).collect(),
        classification: wit::Classification {
            auto_reply: r.classification.auto_reply,
            mailing_list: r.classification.mailing_list,
            bulk: r.classification.bulk,
            auto_submitted: r.classification.auto_submitted,
            precedence: r.classification.precedence,
            list_id: r.classification.list_id,
        },
        size: r.size,
        direction: match r.direction {
            domain::Direction::Inbound => wit::Direction::Inbound,
            domain::Direction::Outbound => wit::Direction::Outbound,
        },
        truncated: r.truncated,
        warnings: r.warnings.into_iter().map(warning).collect(),
    }
}

fn addresses(list: Vec<domain::MailboxAddress>) -> Vec<wit::MailboxAddress> {
    list.into_iter()
        .map(|a| wit::MailboxAddress {
            name: a.name,
            address: a.address,
        })
        .collect()
}

fn attachment(a: domain::Attachment) -> wit::Attachment {
    wit::Attachment {
        filename: a.filename,
        mime_type: a.mime_type,
        size: a.size,
        content_id: a.content_id,
        inline: a.inline,
        digest: a.digest,
        digest_algorithm: match a.digest_algorithm {
            domain::DigestAlgorithm::Sha256 => wit::DigestAlgorithm::Sha256,
            domain::DigestAlgorithm::Blake3 => wit::DigestAlgorithm::Blake3,
        },
        decoded: a.decoded,
    }
}

fn warning(w: domain::ParseWarning) -> wit::ParseWarning {
    use domain::ParseWarning as D;
    use wit::ParseWarning as W;
    match w {
        D::EmptyInput => W::EmptyInput,
        D::NoHeaders => W::NoHeaders,
        D::MissingMessageId => W::MissingMessageId,
        D::MissingDate => W::MissingDate,
        D::UnparseableDate(s) => W::UnparseableDate(s),
        D::MissingFrom => W::MissingFrom,
        D::RawEightBitHeader(s) => W::RawEightBitHeader(s),
        D::UnknownCharset(s) => W::UnknownCharset(s),
        D::UnterminatedMultipart(s) => W::UnterminatedMultipart(s),
        D::UndecodablePart(i) => W::UndecodablePart(i),
        D::MalformedAddress(s) => W::MalformedAddress(s),
        D::TextBodyTruncated(n) => W::TextBodyTruncated(n),
        D::HtmlBodyTruncated(n) => W::HtmlBodyTruncated(n),
        D::HeadersOnly(why) => W::HeadersOnly(why),
    }
}
