//! Turning fetched messages into deliveries: normalised in the guest, keyed for dedupe (Gmail's
//! message id where the server has one, else Message-ID and size), and handed to the inbox a
//! batch at a time.

use std::collections::{HashMap, HashSet};

use super::checkpoint::{self, Checkpoint};
use super::scope::FolderScope;
use super::suspect::{self, Suspect};
use super::{Delivery, DeliveryReport, FolderReport, GmailIds, Location, Progress, SyncError};
use crate::imap::fetch::Fetched;
use crate::normalize::identity;
use crate::ports::Level;
use crate::record::{MessageRecord, ParseWarning};

mod handoff;
#[cfg(test)]
mod tests;

use handoff::Waiting;

/// Raw bytes of a batch's messages after which they are delivered without waiting for the rest
/// (a delivery is idempotent; the checkpoint still waits for the whole batch).
const EARLY_DELIVERY_BYTES: u64 = 16 * 1024 * 1024;

pub struct Deliverer<'a, 'r> {
    sync: FolderScope<'a>,
    report: &'r mut FolderReport,
    /// The folder's checkpoint, moved past each batch as it is delivered, and each batch's
    /// last UID.
    checkpoint: &'r mut Checkpoint,
    last_uids: Vec<u32>,
    /// Each batch's deliveries until the batch is complete, and their raw size.
    pending: Vec<Vec<Delivery>>,
    pending_bytes: Vec<u64>,
    /// Gmail's ids by UID, fetched apart from the messages.
    gmail: HashMap<u32, GmailIds>,
    /// The UIDs queued in this run: a server that sends one twice gets it delivered once.
    queued: HashSet<u32>,
    total: u32,
    done: u32,
    /// The UID kept as its headers only because normalising it stopped an earlier run.
    poisoned: Option<u32>,
    /// Whether a large message was written down before it was normalised.
    pub wrote_suspect: bool,
    /// Messages handed to other instances, by ticket, waiting for their records.
    in_flight: HashMap<u64, Waiting>,
    /// Per batch: how many of its messages are in flight, and whether all were fetched.
    outstanding: Vec<u32>,
    fetched: Vec<bool>,
    /// The first batch not wholly delivered.
    next_batch: usize,
}

impl<'a, 'r> Deliverer<'a, 'r> {
    pub fn new(
        sync: FolderScope<'a>,
        (last_uids, checkpoint): (Vec<u32>, &'r mut Checkpoint),
        total: u32,
        poisoned: Option<u32>,
        report: &'r mut FolderReport,
    ) -> Self {
        let batches = last_uids.len();
        Deliverer {
            sync,
            report,
            checkpoint,
            last_uids,
            pending: vec![Vec::new(); batches],
            pending_bytes: vec![0; batches],
            gmail: HashMap::new(),
            queued: HashSet::new(),
            total,
            done: 0,
            poisoned,
            wrote_suspect: false,
            in_flight: HashMap::new(),
            outstanding: vec![0; batches],
            fetched: vec![false; batches],
            next_batch: 0,
        }
    }

    /// Keeps a message's Gmail ids (a response without a body) for its delivery.
    pub fn gmail_ids(&mut self, message: Fetched) {
        if let Some(ids) = message.gmail {
            self.gmail.insert(message.uid, ids);
        }
    }

    /// Queues `message` with batch `batch`, once per UID: handed to another instance to
    /// normalise when the host has one free and the message is small, else normalised here (a
    /// large one written down as the suspect first). A batch whose messages reach
    /// `EARLY_DELIVERY_BYTES` delivers what is ready at once, to bound memory.
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
        let raw_len = body.len() as u64;
        let size = message.size.unwrap_or(raw_len);
        self.report.bytes += raw_len;
        self.pending_bytes[batch] += raw_len;
        let waiting = Waiting {
            batch,
            uid: message.uid,
            uid_validity,
            flags: message.flags.unwrap_or_default(),
            header_only,
            internal_date: message.internal_date,
            // Headers only: the size and key are the server's size of the whole message, as a
            // full fetch of it would give.
            whole_size: (size != raw_len).then_some(size),
        };
        let Some((waiting, body)) = self.hand_on(waiting, body)? else {
            return Ok(());
        };
        let record = self.normalize_here(&waiting, body, None)?;
        self.queue(waiting, record)
    }

    /// Puts `record` with its batch; the batch is delivered once complete (or early, when its
    /// messages reach `EARLY_DELIVERY_BYTES`).
    fn queue(&mut self, waiting: Waiting, mut record: MessageRecord) -> Result<(), SyncError> {
        record.truncated |= waiting.header_only;
        if Some(waiting.uid) == self.poisoned {
            record
                .warnings
                .push(ParseWarning::HeadersOnly(suspect::REASON.into()));
        }
        if record.truncated {
            self.report.truncated += 1;
        }
        let batch = waiting.batch;
        self.pending[batch].push(Delivery {
            record,
            crm_folder: self.sync.crm_folder,
            location: Location {
                remote_folder: self.sync.remote_folder.to_string(),
                uid_validity: waiting.uid_validity,
                uid: waiting.uid,
            },
            flags: waiting.flags,
            gmail: None,
        });
        if self.fetched[batch] && self.outstanding[batch] == 0 {
            return self.deliver_ready();
        }
        // Not before Gmail's ids are in for every queued message: they decide the dedupe key.
        let ids_in = !self.sync.gmail
            || self.pending[batch]
                .iter()
                .all(|d| self.gmail.contains_key(&d.location.uid));
        if self.pending_bytes[batch] >= EARLY_DELIVERY_BYTES && ids_in {
            self.deliver_pending(batch)?;
        }
        Ok(())
    }

    /// Every message of batch `batch` has been fetched: it is delivered once their records are
    /// all in and every batch before it is delivered.
    pub fn fetched(&mut self, batch: usize) -> Result<(), SyncError> {
        self.fetched[batch] = true;
        self.deliver_ready()
    }

    /// Delivers, in order, each batch whose records are all in, and checkpoints after each:
    /// records reach the inbox in UID order however the server or the other instances answered
    /// (only a batch past `EARLY_DELIVERY_BYTES` goes ahead, in part, before it is whole).
    fn deliver_ready(&mut self) -> Result<(), SyncError> {
        while self.fetched.get(self.next_batch) == Some(&true)
            && self.outstanding[self.next_batch] == 0
        {
            self.deliver_pending(self.next_batch)?;
            let last_uid = self.last_uids[self.next_batch];
            self.checkpoint.last_uid = self.checkpoint.last_uid.max(last_uid);
            checkpoint::save(self.sync.env.kv, self.sync.remote_folder, self.checkpoint)?;
            self.next_batch += 1;
        }
        Ok(())
    }

    /// Delivers the records of batch `batch` that are in, in UID order.
    fn deliver_pending(&mut self, batch: usize) -> Result<(), SyncError> {
        self.pending_bytes[batch] = 0;
        let mut batch = std::mem::take(&mut self.pending[batch]);
        if batch.is_empty() {
            return Ok(());
        }
        batch.sort_by_key(|d| d.location.uid);
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
        let delivered = self.deliver_isolating(&batch, &progress)?;
        self.report.add_delivery(delivered);
        Ok(())
    }

    /// Takes back the suspect written before a normalisation that ended; the suspect of an
    /// earlier run that died (kept as headers only in this run) stays written down.
    fn forget_suspect(&self, uid_validity: u32) -> Result<(), SyncError> {
        let (kv, folder) = (self.sync.env.kv, self.sync.remote_folder);
        match self.poisoned {
            Some(uid) => suspect::save(kv, folder, Suspect { uid_validity, uid })?,
            None => suspect::clear(kv, folder)?,
        }
        Ok(())
    }

    /// Delivers `batch`. When the inbox refuses it for what it holds (too large, a record it
    /// will not store), the records go one at a time, and one refused alone goes as its headers
    /// only, marked truncated with the reason: one message never stops the folder.
    fn deliver_isolating(
        &mut self,
        batch: &[Delivery],
        progress: &Progress,
    ) -> Result<DeliveryReport, SyncError> {
        let inbox = self.sync.env.inbox;
        let refusal = match inbox.deliver(batch, progress.clone()) {
            Ok(report) => return Ok(report),
            Err(f) if !f.refused_content => return Err(SyncError::Inbox(f)),
            Err(f) => f,
        };
        if let [one] = batch {
            let kept = headers_only(one, &refusal.message);
            self.report.truncated += u32::from(!one.record.truncated);
            self.sync.env.log.log(
                Level::Warn,
                "the inbox refused a message; kept as its headers only",
                &[
                    ("folder", self.sync.remote_folder),
                    ("uid", &one.location.uid.to_string()),
                    ("reason", &refusal.message),
                ],
            );
            return match inbox.deliver(std::slice::from_ref(&kept), progress.clone()) {
                // Its headers are refused too (a hostile header's long address or reference):
                // the bare record (key, Message-ID, date, size) stands in for the message.
                Err(f) if f.refused_content => inbox
                    .deliver(&[bare(&kept)], progress.clone())
                    .map_err(SyncError::Inbox),
                other => other.map_err(SyncError::Inbox),
            };
        }
        let mut total = DeliveryReport::default();
        for one in batch {
            let report = self.deliver_isolating(std::slice::from_ref(one), progress)?;
            total.created += report.created;
            total.updated += report.updated;
            total.unchanged += report.unchanged;
        }
        Ok(total)
    }
}

/// Lists in a headers-only record are cut at this many entries, its texts at this many bytes.
const HEADERS_ONLY_ENTRIES: usize = 100;
const HEADERS_ONLY_TEXT: usize = 4096;

/// A headers-only `delivery` reduced further to what identifies the message: its key, its
/// Message-ID, date and size, and why it was cut.
fn bare(delivery: &Delivery) -> Delivery {
    let mut bare = delivery.clone();
    let r = &mut bare.record;
    r.in_reply_to.clear();
    r.references.clear();
    r.subject = None;
    for list in [
        &mut r.from,
        &mut r.sender,
        &mut r.reply_to,
        &mut r.to,
        &mut r.cc,
        &mut r.bcc,
    ] {
        list.clear();
    }
    r.snippet.clear();
    r.classification = Default::default();
    // The reason `headers_only` gave, which it put last.
    r.warnings = r.warnings.pop().into_iter().collect();
    bare.gmail = bare.gmail.map(|mut ids| {
        ids.labels.truncate(HEADERS_ONLY_ENTRIES);
        ids
    });
    bare
}

/// `delivery` with its record reduced to the headers (bodies, attachments and long lists
/// dropped), marked truncated with `reason`.
pub fn headers_only(delivery: &Delivery, reason: &str) -> Delivery {
    let r = &delivery.record;
    let text = |s: &str| crate::normalize::prefix(s, HEADERS_ONLY_TEXT).to_string();
    fn list<T: Clone>(v: &[T]) -> Vec<T> {
        v.iter().take(HEADERS_ONLY_ENTRIES).cloned().collect()
    }
    let mut warnings: Vec<ParseWarning> = r
        .warnings
        .iter()
        .take(HEADERS_ONLY_ENTRIES)
        .cloned()
        .collect();
    warnings.push(ParseWarning::HeadersOnly(text(reason)));
    let record = MessageRecord {
        dedupe_key: r.dedupe_key.clone(),
        message_id: text(&r.message_id),
        message_id_derived: r.message_id_derived,
        in_reply_to: list(&r.in_reply_to),
        references: list(&r.references),
        thread_key: text(&r.thread_key),
        subject: r.subject.as_deref().map(text),
        from: list(&r.from),
        sender: list(&r.sender),
        reply_to: list(&r.reply_to),
        to: list(&r.to),
        cc: list(&r.cc),
        bcc: list(&r.bcc),
        date: r.date.clone(),
        snippet: text(&r.snippet),
        text_body: String::new(),
        html_body: None,
        attachments: Vec::new(),
        classification: r.classification.clone(),
        size: r.size,
        direction: r.direction,
        truncated: true,
        warnings,
    };
    Delivery {
        record,
        crm_folder: delivery.crm_folder,
        location: delivery.location.clone(),
        flags: delivery.flags,
        gmail: delivery.gmail.clone(),
    }
}
