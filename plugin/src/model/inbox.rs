//! What sync hands the CRM's inbox and what the inbox answers: deliveries with their location
//! and flags, changes to known locations, progress, and the inbox's reports and refusals.

use super::{CrmFolder, Flags, GmailIds, Location};
use crate::record::MessageRecord;

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
