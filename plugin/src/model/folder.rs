//! Where a message is: the CRM's folders, a UID of a remote folder, and what the server says
//! about a message beside its bytes (the flags the CRM keeps, Gmail's ids and labels).

/// The CRM's folders in priority order: a message in several is shown in the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CrmFolder {
    Inbox,
    Sent,
    Archive,
    Deleted,
}

impl CrmFolder {
    pub fn name(self) -> &'static str {
        match self {
            CrmFolder::Inbox => "inbox",
            CrmFolder::Sent => "sent",
            CrmFolder::Archive => "archive",
            CrmFolder::Deleted => "deleted",
        }
    }
}

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
