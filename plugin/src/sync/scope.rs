//! Which folder a sync works on, and for whom: what delivering its messages needs to know, apart
//! from how the folder is walked (`folder.rs`) and how its messages are delivered (`deliver.rs`).

use crate::model::CrmFolder;
use crate::ports::Env;

/// The folder being synced, as delivery sees it.
#[derive(Clone, Copy)]
pub struct FolderScope<'a> {
    pub env: &'a Env<'a>,
    pub crm_folder: CrmFolder,
    pub remote_folder: &'a str,
    /// The mailbox's own address, which tells sent mail from received.
    pub address: &'a str,
    /// Whether the server is Gmail's (its message ids key the dedupe).
    pub gmail: bool,
}
