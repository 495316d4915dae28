//! Normalisation handed to other instances while this one goes on fetching, and normalisation
//! here: of a large message (written down as the suspect first), of one no instance could take,
//! and of the headers of one that stopped the instance it was handed to.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Deliverer, SyncError};
use crate::model::{Flags, InboxFailure};
use crate::normalize::identity;
use crate::ports::{JobFailure, Level, NormalizeJob};
use crate::record::{MessageRecord, ParseWarning, RawMessage};
use crate::sync::suspect::{self, Suspect};

/// Tickets are unique for the whole call: a folder that stopped early may leave jobs whose
/// records come back during the next folder's run, and are dropped there.
static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

/// A fetched message on its way to a record: where it goes once normalised.
pub struct Waiting {
    pub batch: usize,
    pub uid: u32,
    pub uid_validity: u32,
    pub flags: Flags,
    /// Fetched as its headers only (over the size limit, or the suspect of an earlier run).
    pub header_only: bool,
    pub internal_date: Option<i64>,
    /// For a message fetched as its headers only: the server's size of the whole message.
    pub whole_size: Option<u64>,
}

impl Deliverer<'_, '_> {
    /// Takes in whatever finished meanwhile, then hands a message under the suspect size to
    /// another instance; gives it back when it is not handed on, to be normalised here.
    pub(super) fn hand_on(
        &mut self,
        waiting: Waiting,
        body: Vec<u8>,
    ) -> Result<Option<(Waiting, Vec<u8>)>, SyncError> {
        if body.len() >= suspect::SUSPECT_BYTES {
            return Ok(Some((waiting, body)));
        }
        let env = self.sync.env;
        let job = NormalizeJob {
            bytes: body,
            internal_date: waiting.internal_date,
            mailbox_address: self.sync.address.to_string(),
            max_body_bytes: env.config.limits.max_body_bytes,
            whole_size: waiting.whole_size,
        };
        // What came back first: the host counts it against what may wait until it is taken.
        self.take_finished(false)?;
        let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
        match env.normalizer.submit(ticket, job) {
            Ok(()) => {
                self.outstanding[waiting.batch] += 1;
                self.in_flight.insert(ticket, waiting);
                Ok(None)
            }
            Err(bytes) => Ok(Some((waiting, bytes))),
        }
    }

    /// Takes in the records that came back (`wait`: at least one, when any is in flight);
    /// returns how many came back, an earlier folder's included.
    fn take_finished(&mut self, wait: bool) -> Result<usize, SyncError> {
        let finished = self.sync.env.normalizer.finished(wait);
        let received = finished.len();
        for (ticket, outcome) in finished {
            let Some(waiting) = self.in_flight.remove(&ticket) else {
                continue;
            };
            self.outstanding[waiting.batch] -= 1;
            let record = match outcome {
                Ok(record) => record,
                Err(failure) => self.after_failure(&waiting, failure)?,
            };
            self.queue(waiting, record)?;
        }
        Ok(received)
    }

    /// Waits for every record still in flight, delivering each batch once complete.
    pub fn finish(&mut self) -> Result<(), SyncError> {
        while !self.in_flight.is_empty() {
            if self.take_finished(true)? == 0 {
                return Err(SyncError::Inbox(InboxFailure {
                    refused_content: false,
                    message: "the host gave no record back for messages handed to other instances"
                        .into(),
                }));
            }
        }
        Ok(())
    }

    /// A job that came back without a record: normalised here whole when no instance took it,
    /// as its headers only when it stopped the instance it was handed to.
    fn after_failure(
        &mut self,
        waiting: &Waiting,
        failure: JobFailure,
    ) -> Result<MessageRecord, SyncError> {
        if !failure.stopped {
            return self.normalize_here(waiting, failure.bytes, None);
        }
        let reason = "normalising it stopped its instance";
        self.sync.env.log.log(
            Level::Warn,
            "a message stopped the instance normalising it; kept as its headers only",
            &[
                ("folder", self.sync.remote_folder),
                ("uid", &waiting.uid.to_string()),
                ("reason", &failure.reason),
            ],
        );
        let mut record = self.normalize_here(waiting, failure.bytes, Some(reason))?;
        record.truncated = true;
        record
            .warnings
            .push(ParseWarning::HeadersOnly(reason.into()));
        Ok(record)
    }

    /// Normalises `body` here, dropping it after; only its header block when `headers_only`
    /// says why. A large message, and any cut to its headers, is written down as the suspect
    /// first: if this instance dies on it, the next run fetches it as its headers only.
    pub(super) fn normalize_here(
        &mut self,
        waiting: &Waiting,
        body: Vec<u8>,
        headers_only: Option<&str>,
    ) -> Result<MessageRecord, SyncError> {
        let suspected = headers_only.is_some()
            || (!waiting.header_only && body.len() >= suspect::SUSPECT_BYTES);
        if suspected {
            let location = Suspect {
                uid_validity: waiting.uid_validity,
                uid: waiting.uid,
            };
            suspect::save(self.sync.env.kv, self.sync.remote_folder, location)?;
            self.wrote_suspect = true;
        }
        let (bytes, whole_size) = match headers_only {
            Some(_) => (
                &body[..identity::header_block_len(&body)],
                Some(waiting.whole_size.unwrap_or(body.len() as u64)),
            ),
            None => (&body[..], waiting.whole_size),
        };
        let max_body = self.sync.env.config.limits.max_body_bytes;
        let record = crate::normalize::normalize_capped(
            &RawMessage {
                bytes,
                internal_date: waiting.internal_date,
            },
            self.sync.address,
            usize::try_from(max_body).unwrap_or(usize::MAX),
            whole_size,
        );
        drop(body);
        if suspected {
            // Normalising it ended: whatever stops this run later, this message is not the
            // cause. The earlier run's suspect, if this run still owes it, is written back.
            self.forget_suspect(waiting.uid_validity)?;
        }
        Ok(record)
    }
}

#[cfg(test)]
#[path = "handoff_tests.rs"]
mod tests;
