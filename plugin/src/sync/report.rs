//! What a sync run reports: per folder, what was created, updated, removed and skipped, and
//! whether it hit an error; for the run, whether it finished and what it cost.

use crate::errors::MailboxError;
use crate::model::{ChangeReport, CrmFolder, DeliveryReport};

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
