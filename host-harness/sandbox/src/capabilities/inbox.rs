//! `inbox`: deliveries and changes into the CRM's inbox tables (`inbox_store`), each call one
//! transaction scoped to the call's mailbox, and the progress a delivery reports passed to the
//! host's observer (the CLI's progress bar).

use crate::bindings::inbox::{
    self, Change, ChangeReport, Delivery, DeliveryReport, InboxError, Location, MessageFlags,
    Progress,
};
use crate::bindings::message::{CrmFolder, Direction};
use crate::capabilities::size_cap;
use crate::inbox_store::{self as store, NewMessage};
use crate::progress::SyncProgress;
use crate::state::HostState;

/// What the inbox keeps of a delivery as JSON: the record and Gmail's ids.
#[derive(serde::Serialize)]
struct StoredRecord<'a> {
    record: &'a crate::bindings::message::MessageRecord,
    gmail: Option<&'a crate::bindings::inbox::GmailIds>,
}

/// The CRM folder's name (`inbox`, `sent`, ...).
pub fn folder_name(f: CrmFolder) -> &'static str {
    store::FOLDERS[usize::from(folder_index(f))]
}

pub fn folder_index(f: CrmFolder) -> u8 {
    match f {
        CrmFolder::Inbox => 0,
        CrmFolder::Sent => 1,
        CrmFolder::Archive => 2,
        CrmFolder::Deleted => 3,
    }
}

fn flag_bits(f: MessageFlags) -> u8 {
    [
        (f.seen, store::SEEN),
        (f.answered, store::ANSWERED),
        (f.flagged, store::FLAGGED),
        (f.draft, store::DRAFT),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .fold(0, |bits, (_, bit)| bits | bit)
}

fn location(l: Location) -> store::Location {
    store::Location {
        remote_folder: l.remote_folder,
        uid_validity: l.uid_validity,
        uid: l.uid,
    }
}

/// Deliveries in one call, and changes in one call: more is refused before any work.
pub const MAX_DELIVERIES_PER_CALL: u64 = 10_000;
pub const MAX_CHANGES_PER_CALL: u64 = 100_000;
/// UIDs in all of one call's `present` lists.
pub const MAX_PRESENT_UIDS_PER_CALL: u64 = 10_000_000;

/// A writer that refuses to grow past `room` bytes, so a record is never serialised whole
/// before its size is known to fit.
struct CappedJson {
    out: Vec<u8>,
    room: u64,
}

impl std::io::Write for CappedJson {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.out.len() + buf.len()) as u64 > self.room {
            return Err(std::io::Error::other("over the inbox's cap"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl HostState {
    fn inbox_rows(&self, batch: Vec<Delivery>) -> Result<Vec<NewMessage>, InboxError> {
        let cap = self.shared.platform().policy.inbox_batch_cap_bytes;
        if batch.len() as u64 > MAX_DELIVERIES_PER_CALL {
            return Err(InboxError::TooLarge(size_cap(
                MAX_DELIVERIES_PER_CALL,
                batch.len() as u64,
            )));
        }
        let mut rows = Vec::with_capacity(batch.len());
        let mut total = 0u64;
        for d in batch {
            let r = &d.record;
            if r.dedupe_key.trim().is_empty() {
                return Err(InboxError::InvalidRecord(
                    "a record has an empty dedupe key".into(),
                ));
            }
            let mut json = CappedJson {
                out: Vec::new(),
                room: cap.saturating_sub(total),
            };
            let stored = StoredRecord {
                record: r,
                gmail: d.gmail.as_ref(),
            };
            if let Err(e) = serde_json::to_writer(&mut json, &stored) {
                return Err(if e.is_io() {
                    // At least this much: serialisation stopped at the cap.
                    InboxError::TooLarge(size_cap(cap, total + json.out.len() as u64 + 1))
                } else {
                    InboxError::InvalidRecord(e.to_string())
                });
            }
            total += json.out.len() as u64;
            // serde_json writes valid UTF-8 only.
            let record_json = String::from_utf8(json.out)
                .map_err(|e| InboxError::InvalidRecord(e.to_string()))?;
            rows.push(NewMessage {
                dedupe_key: r.dedupe_key.clone(),
                message_id: r.message_id.clone(),
                thread_key: match &d.gmail {
                    Some(g) => format!("gmail:{}", g.thread_id),
                    None => r.thread_key.clone(),
                },
                subject: r.subject.clone(),
                date_utc: r.date.utc.clone(),
                direction: match r.direction {
                    Direction::Inbound => "inbound",
                    Direction::Outbound => "outbound",
                },
                size: r.size,
                truncated: r.truncated,
                folder: folder_index(d.crm_folder),
                flags: flag_bits(d.flags),
                location: location(d.location),
                record_json,
            });
        }
        Ok(rows)
    }
}

fn store_changes(changes: Vec<Change>) -> Vec<store::Change> {
    changes
        .into_iter()
        .map(|c| match c {
            Change::FlagsChanged((l, f)) => store::Change::Flags(location(l), flag_bits(f)),
            Change::Vanished(l) => store::Change::Vanished(location(l)),
            Change::FolderReset((folder, validity)) => store::Change::FolderReset(folder, validity),
            Change::Present(p) => {
                let mut uids = p.uids;
                uids.sort_unstable();
                store::Change::Present(p.remote_folder, p.uid_validity, p.up_to, uids)
            }
        })
        .collect()
}

impl inbox::Host for HostState {
    async fn deliver(
        &mut self,
        batch: Vec<Delivery>,
        progress: Progress,
    ) -> wasmtime::Result<Result<DeliveryReport, InboxError>> {
        // Shutting down: the batch delivered last was checkpointed; this one waits for the next run.
        if self
            .shared
            .draining
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            let why = "the host is shutting down; the next sync goes on from here";
            return Ok(Err(InboxError::Unavailable(why.into())));
        }
        let rows = match self.inbox_rows(batch) {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e)),
        };
        let db = self.shared.db.clone();
        let (mailbox, turn) = (self.mailbox.id.clone(), self.turn.clone());
        let outcome = db
            .run_blocking(move |db| {
                db.inbox()
                    .inbox_deliver_in_turn(turn.as_ref(), &mailbox, &rows)
            })
            .await;
        let report = match outcome {
            Ok(c) => DeliveryReport {
                created: c.created,
                updated: c.updated,
                unchanged: c.unchanged,
            },
            Err(e) => return Ok(Err(InboxError::Unavailable(e.to_string()))),
        };
        self.shared.outbox_written.notify_waiters();
        self.shared.faults.after_delivery()?;
        self.shared.progress.notify(&SyncProgress {
            mailbox: self.mailbox.id.clone(),
            remote_folder: progress.remote_folder,
            crm_folder: folder_name(progress.crm_folder),
            done: progress.done,
            total: progress.total,
            bytes: progress.bytes,
        });
        Ok(Ok(report))
    }

    async fn apply(
        &mut self,
        changes: Vec<Change>,
    ) -> wasmtime::Result<Result<ChangeReport, InboxError>> {
        if changes.len() as u64 > MAX_CHANGES_PER_CALL {
            return Ok(Err(InboxError::TooLarge(size_cap(
                MAX_CHANGES_PER_CALL,
                changes.len() as u64,
            ))));
        }
        let present: u64 = changes
            .iter()
            .map(|c| match c {
                Change::Present(p) => p.uids.len() as u64,
                _ => 0,
            })
            .sum();
        if present > MAX_PRESENT_UIDS_PER_CALL {
            return Ok(Err(InboxError::TooLarge(size_cap(
                MAX_PRESENT_UIDS_PER_CALL,
                present,
            ))));
        }
        let db = self.shared.db.clone();
        let (mailbox, turn) = (self.mailbox.id.clone(), self.turn.clone());
        // Sorting and writing both happen off the async workers.
        let outcome = db
            .run_blocking(move |db| {
                db.inbox()
                    .inbox_apply_in_turn(turn.as_ref(), &mailbox, &store_changes(changes))
            })
            .await;
        self.shared.outbox_written.notify_waiters();
        Ok(outcome
            .map(|c| ChangeReport {
                updated: c.updated,
                removed: c.removed,
                unknown: c.unknown,
            })
            .map_err(|e| InboxError::Unavailable(e.to_string())))
    }
}
