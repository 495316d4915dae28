//! Turning fetched messages into deliveries: normalised in the guest, keyed for dedupe (Gmail's
//! message id where the server has one, else Message-ID and size), and handed to the inbox a
//! batch at a time.

use std::collections::{HashMap, HashSet};

use super::folder::FolderSync;
use super::{Delivery, FolderReport, GmailIds, Location, Progress, SyncError};
use crate::imap::fetch::Fetched;
use crate::normalize::identity;
use crate::record::RawMessage;

/// Raw bytes of a batch's messages after which they are delivered without waiting for the rest
/// (a delivery is idempotent; the checkpoint still waits for the whole batch).
const EARLY_DELIVERY_BYTES: u64 = 16 * 1024 * 1024;

pub struct Deliverer<'a, 'r> {
    sync: &'a FolderSync<'a>,
    report: &'r mut FolderReport,
    /// Each batch's deliveries until the batch is complete, and their raw size.
    pending: Vec<Vec<Delivery>>,
    pending_bytes: Vec<u64>,
    /// Gmail's ids by UID, fetched apart from the messages.
    gmail: HashMap<u32, GmailIds>,
    /// The UIDs queued in this run: a server that sends one twice gets it delivered once.
    queued: HashSet<u32>,
    total: u32,
    done: u32,
}

impl<'a, 'r> Deliverer<'a, 'r> {
    pub fn new(
        sync: &'a FolderSync<'a>,
        batches: usize,
        total: u32,
        report: &'r mut FolderReport,
    ) -> Self {
        Deliverer {
            sync,
            report,
            pending: vec![Vec::new(); batches],
            pending_bytes: vec![0; batches],
            gmail: HashMap::new(),
            queued: HashSet::new(),
            total,
            done: 0,
        }
    }

    /// Keeps a message's Gmail ids (a response without a body) for its delivery.
    pub fn gmail_ids(&mut self, message: Fetched) {
        if let Some(ids) = message.gmail {
            self.gmail.insert(message.uid, ids);
        }
    }

    /// Normalises `message` (dropping its bytes after) and queues it with batch `batch`, once per
    /// UID; a batch
    /// whose messages reach `EARLY_DELIVERY_BYTES` is delivered at once, to bound memory.
    pub fn add(
        &mut self,
        batch: usize,
        message: Fetched,
        uid_validity: u32,
        header_only: bool,
    ) -> Result<(), SyncError> {
        if !self.queued.insert(message.uid) {
            return Ok(());
        }
        let body = message.body.unwrap_or_default();
        let size = message.size.unwrap_or(body.len() as u64);
        let mut record = crate::normalize(
            &RawMessage {
                bytes: &body,
                internal_date: message.internal_date,
            },
            self.sync.address,
        );
        let raw_len = body.len() as u64;
        self.report.bytes += raw_len;
        drop(body);
        record.size = size;
        record.truncated = header_only;
        if header_only {
            self.report.truncated += 1;
        }
        if size != raw_len {
            // Headers only: the key takes the server's size of the whole message, as a full
            // fetch of it would.
            record.dedupe_key =
                identity::dedupe_key(&record.message_id, record.message_id_derived, size);
        }
        self.pending[batch].push(Delivery {
            record,
            crm_folder: self.sync.crm_folder,
            location: Location {
                remote_folder: self.sync.remote_folder.to_string(),
                uid_validity,
                uid: message.uid,
            },
            flags: message.flags.unwrap_or_default(),
            gmail: None,
        });
        self.pending_bytes[batch] += raw_len;
        // Not before Gmail's ids are in for every queued message: they decide the dedupe key.
        let ids_in = !self.sync.gmail
            || self.pending[batch]
                .iter()
                .all(|d| self.gmail.contains_key(&d.location.uid));
        if self.pending_bytes[batch] >= EARLY_DELIVERY_BYTES && ids_in {
            self.flush(batch)?;
        }
        Ok(())
    }

    /// Delivers batch `batch`; only after this returns may the checkpoint move past it.
    pub fn flush(&mut self, batch: usize) -> Result<(), SyncError> {
        self.pending_bytes[batch] = 0;
        let mut batch = std::mem::take(&mut self.pending[batch]);
        if batch.is_empty() {
            return Ok(());
        }
        for delivery in &mut batch {
            if let Some(ids) = self.gmail.remove(&delivery.location.uid) {
                delivery.record.dedupe_key = identity::gmail_dedupe_key(ids.message_id);
                delivery.gmail = Some(ids);
            }
        }
        self.done += batch.len() as u32;
        let progress = Progress {
            remote_folder: self.sync.remote_folder.to_string(),
            crm_folder: self.sync.crm_folder,
            done: self.done,
            total: self.total,
            bytes: self.report.bytes,
        };
        let delivered = self
            .sync
            .env
            .inbox
            .deliver(batch, progress)
            .map_err(SyncError::Inbox)?;
        self.report.add_delivery(delivered);
        Ok(())
    }
}
