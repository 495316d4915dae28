//! The `normalizer` import behind the domain's `Normalizer` port: jobs handed to other instances,
//! and their WIT records translated back to domain ones.

use super::bindings::crm::mail_sync::message as wit;
use super::bindings::crm::mail_sync::normalizer;
use crate::ports::{JobFailure, NormalizeJob, Normalizer};
use crate::record as domain;

pub struct HostNormalizer;

impl Normalizer for HostNormalizer {
    fn submit(&self, ticket: u64, job: NormalizeJob) -> Result<(), NormalizeJob> {
        let NormalizeJob {
            bytes,
            internal_date,
            mailbox_address,
            max_body_bytes,
            whole_size,
        } = job;
        let job = normalizer::Job {
            bytes,
            internal_date,
            mailbox_address,
            max_body_bytes,
            whole_size,
        };
        if normalizer::submit(ticket, &job) {
            return Ok(());
        }
        Err(NormalizeJob {
            bytes: job.bytes,
            internal_date: job.internal_date,
            mailbox_address: job.mailbox_address,
            max_body_bytes: job.max_body_bytes,
            whole_size: job.whole_size,
        })
    }

    fn finished(&self, wait: bool) -> Vec<(u64, Result<domain::MessageRecord, JobFailure>)> {
        normalizer::finished(wait)
            .into_iter()
            .map(|(ticket, outcome)| {
                let outcome = outcome.map(from_wit).map_err(|f| JobFailure {
                    stopped: f.stopped,
                    reason: f.reason,
                    bytes: f.bytes,
                });
                (ticket, outcome)
            })
            .collect()
    }
}

/// The record another instance made, as the domain's.
fn from_wit(r: wit::MessageRecord) -> domain::MessageRecord {
    domain::MessageRecord {
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
        date: domain::MessageDate {
            utc: r.date.utc,
            offset_minutes: r.date.offset_minutes,
            source: match r.date.source {
                wit::DateSource::Header => domain::DateSource::Header,
                wit::DateSource::InternalDate => domain::DateSource::InternalDate,
                wit::DateSource::None => domain::DateSource::None,
            },
        },
        text_body: r.text_body,
        html_body: r.html_body,
        snippet: r.snippet,
        attachments: r.attachments.into_iter().map(attachment).collect(),
        classification: domain::Classification {
            auto_reply: r.classification.auto_reply,
            mailing_list: r.classification.mailing_list,
            bulk: r.classification.bulk,
            auto_submitted: r.classification.auto_submitted,
            precedence: r.classification.precedence,
            list_id: r.classification.list_id,
        },
        size: r.size,
        direction: match r.direction {
            wit::Direction::Inbound => domain::Direction::Inbound,
            wit::Direction::Outbound => domain::Direction::Outbound,
        },
        truncated: r.truncated,
        warnings: r.warnings.into_iter().map(warning).collect(),
    }
}

fn addresses(list: Vec<wit::MailboxAddress>) -> Vec<domain::MailboxAddress> {
    list.into_iter()
        .map(|a| domain::MailboxAddress {
            name: a.name,
            address: a.address,
        })
        .collect()
}

fn attachment(a: wit::Attachment) -> domain::Attachment {
    domain::Attachment {
        filename: a.filename,
        mime_type: a.mime_type,
        size: a.size,
        content_id: a.content_id,
        inline: a.inline,
        digest: a.digest,
        digest_algorithm: match a.digest_algorithm {
            wit::DigestAlgorithm::Sha256 => domain::DigestAlgorithm::Sha256,
            wit::DigestAlgorithm::Blake3 => domain::DigestAlgorithm::Blake3,
        },
        decoded: a.decoded,
    }
}

fn warning(w: wit::ParseWarning) -> domain::ParseWarning {
    use domain::ParseWarning as D;
    use wit::ParseWarning as W;
    match w {
        W::EmptyInput => D::EmptyInput,
        W::NoHeaders => D::NoHeaders,
        W::MissingMessageId => D::MissingMessageId,
        W::MissingDate => D::MissingDate,
        W::UnparseableDate(s) => D::UnparseableDate(s),
        W::MissingFrom => D::MissingFrom,
        W::RawEightBitHeader(s) => D::RawEightBitHeader(s),
        W::UnknownCharset(s) => D::UnknownCharset(s),
        W::UnterminatedMultipart(s) => D::UnterminatedMultipart(s),
        W::UndecodablePart(i) => D::UndecodablePart(i),
        W::MalformedAddress(s) => D::MalformedAddress(s),
        W::TextBodyTruncated(n) => D::TextBodyTruncated(n),
        W::HtmlBodyTruncated(n) => D::HtmlBodyTruncated(n),
        W::HeadersOnly(why) => D::HeadersOnly(why),
    }
}
