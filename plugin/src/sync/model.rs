//! What sync hands the CRM's inbox and what it reports: deliveries with their location and flags,
//! changes to known locations, and the per-folder report of a run.

use crate::errors::MailboxError;
use crate::record::MessageRecord;

pub use crate::folders::CrmFolder;

/// A UID of a remote folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub remote_folder: String,
    pub uid_validity: u32,
    pub uid: u32,
}

/// The IMAP flags the CRM keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub seen: bool,
    pub answered: bool,
    pub flagged: bool,
    pub draft: bool,
}

/// Gmail's own ids and labels (X-GM-EXT-1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GmailIds {
    pub message_id: u64,
    pub thread_id: u64,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub record: MessageRecord,
    pub crm_folder: CrmFolder,
    pub location: Location,
    pub flags: Flags,
    pub gmail: Option<GmailIds>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    FlagsChanged(Location, Flags),
    Vanished(Location),
    /// The remote folder's locations under any other UIDVALIDITY are forgotten.
    FolderReset(String, u32),
    /// The folder holds exactly these UIDs up to `up_to` (without QRESYNC): the others vanished.
    Present {
        remote_folder: String,
        uid_validity: u32,
        up_to: u32,
        uids: Vec<u32>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeReport {
    pub updated: u32,
    pub removed: u32,
    pub unknown: u32,
}

/// How far sync is through one folder, for the host's progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    pub remote_folder: String,
    pub crm_folder: CrmFolder,
    pub done: u32,
    pub total: u32,
    pub bytes: u64,
}

/// The inbox refused or failed a call; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InboxFailure {
    /// Refused for what the call held (too large, an invalid record), so the same records
    /// would be refused again; otherwise the inbox itself failed.
    pub refused_content: bool,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct FolderReport {
    pub crm_folder: CrmFolder,
    pub remote_folder: String,
    pub created: u32,
    pub updated: u32,
    pub removed: u32,
    pub skipped: u32,
    pub truncated: u32,
    pub bytes: u64,
    pub uid_validity_reset: bool,
    pub first_sync: bool,
    pub error: Option<MailboxError>,
    pub millis: u64,
}

impl FolderReport {
    pub fn new(crm_folder: CrmFolder, remote_folder: &str) -> Self {
        FolderReport {
            crm_folder,
            remote_folder: remote_folder.to_string(),
            created: 0,
            updated: 0,
            removed: 0,
            skipped: 0,
            truncated: 0,
            bytes: 0,
            uid_validity_reset: false,
            first_sync: false,
            error: None,
            millis: 0,
        }
    }

    pub fn add_delivery(&mut self, report: DeliveryReport) {
        self.created += report.created;
        self.updated += report.updated;
        self.skipped += report.unchanged;
    }

    pub fn add_changes(&mut self, report: ChangeReport) {
        self.updated += report.updated;
        self.removed += report.removed;
    }
}

#[derive(Debug, Clone)]
pub struct SyncReport {
    pub started_at: String,
    pub folders: Vec<FolderReport>,
    pub complete: bool,
    pub imap_commands: u32,
    pub millis: u64,
}
