//! The CRM's inbox in SQLite: one row per message (unique per mailbox and dedupe key), the remote
//! locations it was found at, and a row per update. A message in several mapped folders shows in
//! the first by priority (inbox, sent, archive, deleted); one in none is marked removed, not deleted.

mod read;
pub use read::{KEPT_SYNC_RUNS, KEPT_UPDATES};
#[cfg(test)]
mod tests;
mod write;

use serde::Serialize;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inbox_messages (
    id           INTEGER PRIMARY KEY,
    mailbox      TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    thread_key   TEXT NOT NULL,
    subject      TEXT,
    date_utc     TEXT NOT NULL,
    direction    TEXT NOT NULL,
    size         INTEGER NOT NULL,
    truncated    INTEGER NOT NULL,
    folder       INTEGER NOT NULL,
    flags        INTEGER NOT NULL,
    removed      INTEGER NOT NULL DEFAULT 0,
    record_json  TEXT NOT NULL,
    delivered_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (mailbox, dedupe_key)
);
CREATE TABLE IF NOT EXISTS inbox_locations (
    mailbox       TEXT NOT NULL,
    remote_folder TEXT NOT NULL,
    uid_validity  INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    message       INTEGER NOT NULL REFERENCES inbox_messages (id),
    folder        INTEGER NOT NULL,
    flags         INTEGER NOT NULL,
    PRIMARY KEY (mailbox, remote_folder, uid_validity, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbox_locations_by_message ON inbox_locations (message);
CREATE TABLE IF NOT EXISTS inbox_updates (
    id      INTEGER PRIMARY KEY,
    message INTEGER NOT NULL REFERENCES inbox_messages (id),
    what    TEXT NOT NULL,
    at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS inbox_updates_by_message ON inbox_updates (message);
CREATE TABLE IF NOT EXISTS sync_runs (
    id          INTEGER PRIMARY KEY,
    mailbox     TEXT NOT NULL,
    report_json TEXT NOT NULL,
    at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
";

/// The CRM folders by priority; a message shows in the lowest number among its locations.
pub const FOLDERS: [&str; 4] = ["inbox", "sent", "archive", "deleted"];

/// Flag bits as stored.
pub const SEEN: u8 = 1;
pub const ANSWERED: u8 = 2;
pub const FLAGGED: u8 = 4;
pub const DRAFT: u8 = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone)]
pub enum Change {
    Flags(Location, u8),
    Vanished(Location),
    FolderReset(String, u32),
    /// The folder holds exactly these UIDs (sorted) up to the third field's.
    Present(String, u32, u32, Vec<u32>),
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
