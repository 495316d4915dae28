//! The CRM's inbox, as the store keeps it: one row per message (unique per mailbox and dedupe
//! key), the remote locations it was found at, and a row per update. A message in several mapped
//! folders shows in the first by priority (inbox, sent, archive, deleted); one in none is marked
//! removed, not deleted.

use serde::Serialize;

/// Sync reports kept per mailbox; older ones are pruned when a sync is recorded.
pub const KEPT_SYNC_RUNS: i64 = 100;
/// Updates (moves, flags, removals) kept per mailbox, likewise.
pub const KEPT_UPDATES: i64 = 10_000;

/// The CRM folders by priority; a message shows in the lowest number among its locations.
pub const FOLDERS: [&str; 4] = ["inbox", "sent", "archive", "deleted"];

/// Flag bits as stored.
pub const SEEN: u8 = 1;
pub const ANSWERED: u8 = 2;
pub const FLAGGED: u8 = 4;
pub const DRAFT: u8 = 8;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub remote_folder: String,
    pub uid_validity: u32,
    pub uid: u32,
}

/// One delivered message as the inbox stores it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub dedupe_key: String,
    pub message_id: String,
    pub thread_key: String,
    pub subject: Option<String>,
    pub date_utc: String,
    pub direction: &'static str,
    pub size: u64,
    pub truncated: bool,
    /// An index into `FOLDERS`.
    pub folder: u8,
    pub flags: u8,
    pub location: Location,
    pub record_json: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Flags(Location, u8),
    Vanished(Location),
    FolderReset(String, u32),
    /// The folder holds exactly these UIDs (sorted) up to the third field's.
    Present(String, u32, u32, Vec<u32>),
    /// The CRM moved the message from the first place to the second (in the CRM folder and
    /// with the flags given): the host's own write, so the sync that sees it finds nothing new.
    Moved {
        from: Location,
        to: Location,
        folder: u8,
        flags: u8,
    },
}

/// What changed in a message the CRM already has, as its update rows and `message.*` events
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// No place of it is left (a whole pass found it nowhere).
    Removed,
    /// It was removed, and is found again.
    Restored,
    /// It shows in another CRM folder.
    Moved,
    /// Its flags changed.
    Flags,
}

impl Update {
    /// The name the update rows and the events' `change` carry.
    pub fn name(self) -> &'static str {
        match self {
            Update::Removed => "removed",
            Update::Restored => "restored",
            Update::Moved => "moved",
            Update::Flags => "flags",
        }
    }

    /// The event it raises.
    pub fn event_kind(self) -> &'static str {
        match self {
            Update::Removed => "message.removed",
            _ => "message.updated",
        }
    }
}

/// The name of CRM folder `folder`, an index into `FOLDERS` (one out of range reads as the last,
/// never a panic).
pub fn folder_name(folder: u8) -> &'static str {
    FOLDERS[usize::from(folder).min(FOLDERS.len() - 1)]
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChangeCounts {
    pub updated: u32,
    pub removed: u32,
    pub unknown: u32,
}

/// How many of a message's From addresses a list of messages shows.
pub const LISTED_SENDERS: usize = 5;

/// A message as a list shows it: its columns and its first senders, never its whole record (up
/// to megabytes of text and HTML, and unbounded address lists), so a page's memory is bounded.
#[derive(Debug, Clone, Serialize)]
pub struct MessageSummary {
    #[serde(flatten)]
    pub message: StoredMessage,
    /// The first `LISTED_SENDERS` From addresses, as the record has them.
    pub from: serde_json::Value,
}

impl MessageSummary {
    /// From a row whose last column held the senders (JSON) in the record's place.
    pub fn from_row(mut message: StoredMessage) -> Self {
        let senders = std::mem::take(&mut message.record_json);
        MessageSummary {
            message,
            from: serde_json::from_str(&senders).unwrap_or_else(|_| serde_json::json!([])),
        }
    }
}

/// Where a message is, as the CRM last saw it: what acting on it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagePlaces {
    /// Its Message-ID header (without angle brackets).
    pub message_id: String,
    /// The CRM folder it shows in.
    pub folder: u8,
    /// Each place with its CRM folder and flags, by CRM folder order.
    pub places: Vec<(Location, u8, u8)>,
}

/// A message as the CRM shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredMessage {
    pub id: i64,
    pub dedupe_key: String,
    pub message_id: String,
    pub thread_key: String,
    pub subject: Option<String>,
    pub date_utc: String,
    pub direction: String,
    pub size: u64,
    pub truncated: bool,
    pub folder: &'static str,
    pub seen: bool,
    pub answered: bool,
    pub flagged: bool,
    pub removed: bool,
    /// Remote folder and UID of each place the message was found.
    pub locations: Vec<(String, u32)>,
    pub updates: Vec<String>,
    #[serde(skip)]
    pub record_json: String,
}
