//! The `normalize` export, and `normalize-job`, which a worker runs for a sync: the domain's
//! message record translated to the WIT one; the parsing itself stays in `normalize`.

use super::Component;
use super::bindings::crm::mail_sync::message as wit;
use super::bindings::crm::mail_sync::normalizer::Job;
use super::bindings::exports::crm::mail_sync::normalize::{Guest, RawMessage};
use super::record_convert::to_wit;
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
