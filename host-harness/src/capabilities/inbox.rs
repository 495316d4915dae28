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
use crate::state::HostState;

/// What a delivery says about a folder's progress, for whoever watches the sync.
#[derive(Debug, Clone)]
pub struct SyncProgress {
    pub mailbox: String,
    pub remote_folder: String,
    pub crm_folder: &'static str,
    pub done: u32,
    pub total: u32,
    pub bytes: u64,
}

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

impl HostState {
    fn inbox_rows(&self, batch: Vec<Delivery>) -> Result<Vec<NewMessage>, InboxError> {
        let cap = self.services.policy.inbox_batch_cap_bytes;
        let mut rows = Vec::with_capacity(batch.len());
        let mut total = 0u64;
        for d in batch {
            let r = &d.record;
            if r.dedupe_key.trim().is_empty() {
                return Err(InboxError::InvalidRecord(
                    "a record has an empty dedupe key".into(),
                ));
            }
            let record_json = serde_json::to_string(&StoredRecord {
                record: r,
                gmail: d.gmail.as_ref(),
            })
            .map_err(|e| InboxError::InvalidRecord(e.to_string()))?;
            total += record_json.len() as u64;
            if total > cap {
                return Err(InboxError::TooLarge(size_cap(cap, total)));
            }
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

impl inbox::Host for HostState {
    async fn deliver(
        &mut self,
        batch: Vec<Delivery>,
        progress: Progress,
    ) -> wasmtime::Result<Result<DeliveryReport, InboxError>> {
        let rows = match self.inbox_rows(batch) {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e)),
        };
        let db = self.services.db.clone();
        let mailbox = self.mailbox.id.clone();
        let outcome = db
            .run_blocking(move |db| db.inbox_deliver(&mailbox, &rows))
            .await;
        let report = match outcome {
            Ok(c) => DeliveryReport {
                created: c.created,
                updated: c.updated,
                unchanged: c.unchanged,
            },
            Err(e) => return Ok(Err(InboxError::Unavailable(e))),
        };
        self.services.faults.after_delivery()?;
        self.services.progress.notify(&SyncProgress {
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
        let changes: Vec<store::Change> = changes
            .into_iter()
            .map(|c| match c {
                Change::FlagsChanged((l, f)) => store::Change::Flags(location(l), flag_bits(f)),
                Change::Vanished(l) => store::Change::Vanished(location(l)),
                Change::FolderReset((folder, validity)) => {
                    store::Change::FolderReset(folder, validity)
                }
                Change::Present(p) => {
                    let mut uids = p.uids;
                    uids.sort_unstable();
                    store::Change::Present(p.remote_folder, p.uid_validity, p.up_to, uids)
                }
            })
            .collect();
        let db = self.services.db.clone();
        let mailbox = self.mailbox.id.clone();
        let outcome = db
            .run_blocking(move |db| db.inbox_apply(&mailbox, &changes))
            .await;
        Ok(outcome
            .map(|c| ChangeReport {
                updated: c.updated,
                removed: c.removed,
                unknown: c.unknown,
            })
            .map_err(InboxError::Unavailable))
    }
}
