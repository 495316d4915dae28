//! The `normalizer` import behind the domain's `Normalizer` port: jobs handed to other
//! instances, and the records they made.

use super::bindings::crm::mail_sync::normalizer;
use super::record_convert::from_wit;
use crate::ports::{JobFailure, NormalizeJob, Normalizer};
use crate::record as domain;

pub struct HostNormalizer;

impl Normalizer for HostNormalizer {
    fn submit(&self, ticket: u64, job: NormalizeJob) -> Result<(), Vec<u8>> {
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
        Err(job.bytes)
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
