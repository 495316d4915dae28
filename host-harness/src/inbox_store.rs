//! The CRM's inbox in SQLite: one row per message (unique per mailbox and dedupe key), the remote
//! locations it was found at, and a row per update. A message in several mapped folders shows in
//! the first by priority (inbox, sent, archive, deleted); one in none is marked removed, not deleted.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::db::Database;

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

/// The folder and flags a message shows: its first location by priority, or `None` when it has
/// none left.
fn shown(tx: &Transaction<'_>, message: i64) -> rusqlite::Result<Option<(u8, u8)>> {
    tx.query_row(
        "SELECT folder, flags FROM inbox_locations WHERE message = ?1 ORDER BY folder, uid LIMIT 1",
        params![message],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
}

/// Brings a message's row in line with its locations; returns what changed, if anything.
fn refresh(tx: &Transaction<'_>, message: i64) -> rusqlite::Result<Option<&'static str>> {
    let (folder, flags, removed): (u8, u8, bool) = tx.query_row(
        "SELECT folder, flags, removed FROM inbox_messages WHERE id = ?1",
        params![message],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let what = match shown(tx, message)? {
        None if removed => return Ok(None),
        None => {
            tx.execute(
                "UPDATE inbox_messages SET removed = 1 WHERE id = ?1",
                params![message],
            )?;
            "removed"
        }
        Some((f, fl)) if (f, fl, removed) == (folder, flags, false) => return Ok(None),
        Some((f, fl)) => {
            tx.execute(
                "UPDATE inbox_messages SET folder = ?2, flags = ?3, removed = 0 WHERE id = ?1",
                params![message, f, fl],
            )?;
            if removed {
                "restored"
            } else if f != folder {
                "moved"
            } else {
                "flags"
            }
        }
    };
    let detail = match what {
        "moved" | "restored" => {
            let f = shown(tx, message)?.map_or(0, |(f, _)| f);
            format!("{what} to {}", FOLDERS[usize::from(f).min(3)])
        }
        _ => what.to_string(),
    };
    tx.execute(
        "INSERT INTO inbox_updates (message, what) VALUES (?1, ?2)",
        params![message, detail],
    )?;
    Ok(Some(what))
}

fn message_at(tx: &Transaction<'_>, mailbox: &str, l: &Location) -> rusqlite::Result<Option<i64>> {
    tx.query_row(
        "SELECT message FROM inbox_locations WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity = ?3 AND uid = ?4",
        params![mailbox, l.remote_folder, l.uid_validity, l.uid],
        |row| row.get(0),
    )
    .optional()
}

impl Database {
    /// Stores a batch of deliveries in one transaction.
    pub fn inbox_deliver(
        &self,
        mailbox: &str,
        batch: &[NewMessage],
    ) -> rusqlite::Result<DeliveryCounts> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut counts = DeliveryCounts::default();
            for m in batch {
                // New messages are the common case: one statement, no lookup first.
                let inserted = tx
                    .prepare_cached(
                        "INSERT INTO inbox_messages (mailbox, dedupe_key, message_id, thread_key, subject, date_utc, direction, size, truncated, folder, flags, record_json)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                         ON CONFLICT (mailbox, dedupe_key) DO NOTHING",
                    )?
                    .execute(params![mailbox, m.dedupe_key, m.message_id, m.thread_key, m.subject, m.date_utc, m.direction, m.size as i64, m.truncated, m.folder, m.flags, m.record_json])?;
                let existing = inserted == 0;
                let id: i64 = if existing {
                    tx.prepare_cached(
                        "SELECT id FROM inbox_messages WHERE mailbox = ?1 AND dedupe_key = ?2",
                    )?
                    .query_row(params![mailbox, m.dedupe_key], |row| row.get(0))?
                } else {
                    tx.last_insert_rowid()
                };
                tx.prepare_cached(
                    "INSERT INTO inbox_locations (mailbox, remote_folder, uid_validity, uid, message, folder, flags)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT DO UPDATE SET message = excluded.message, folder = excluded.folder, flags = excluded.flags",
                )?
                .execute(params![mailbox, m.location.remote_folder, m.location.uid_validity, m.location.uid, id, m.folder, m.flags])?;
                if !existing {
                    counts.created += 1;
                } else if refresh(&tx, id)?.is_some() {
                    counts.updated += 1;
                } else {
                    counts.unchanged += 1;
                }
            }
            tx.commit()?;
            Ok(counts)
        })
    }

    /// Applies changes to known locations in one transaction.
    pub fn inbox_apply(&self, mailbox: &str, changes: &[Change]) -> rusqlite::Result<ChangeCounts> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut counts = ChangeCounts::default();
            let mut touched = Vec::new();
            for change in changes {
                match change {
                    Change::Flags(l, flags) => match message_at(&tx, mailbox, l)? {
                        None => counts.unknown += 1,
                        Some(id) => {
                            tx.execute(
                                "UPDATE inbox_locations SET flags = ?5 WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity = ?3 AND uid = ?4",
                                params![mailbox, l.remote_folder, l.uid_validity, l.uid, flags],
                            )?;
                            touched.push(id);
                        }
                    },
                    Change::Vanished(l) => match message_at(&tx, mailbox, l)? {
                        None => counts.unknown += 1,
                        Some(id) => {
                            tx.execute(
                                "DELETE FROM inbox_locations WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity = ?3 AND uid = ?4",
                                params![mailbox, l.remote_folder, l.uid_validity, l.uid],
                            )?;
                            touched.push(id);
                        }
                    },
                    Change::FolderReset(folder, validity) => {
                        let ids: Vec<i64> = {
                            let mut stmt = tx.prepare(
                                "SELECT message FROM inbox_locations WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity != ?3",
                            )?;
                            stmt.query_map(params![mailbox, folder, validity], |r| r.get(0))?
                                .collect::<Result<_, _>>()?
                        };
                        tx.execute(
                            "DELETE FROM inbox_locations WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity != ?3",
                            params![mailbox, folder, validity],
                        )?;
                        touched.extend(ids);
                    }
                    Change::Present(folder, validity, up_to, present) => {
                        let known: Vec<(u32, i64)> = {
                            let mut stmt = tx.prepare_cached(
                                "SELECT uid, message FROM inbox_locations WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity = ?3 AND uid <= ?4",
                            )?;
                            stmt.query_map(params![mailbox, folder, validity, up_to], |r| {
                                Ok((r.get(0)?, r.get(1)?))
                            })?
                            .collect::<Result<_, _>>()?
                        };
                        for (uid, id) in known {
                            if present.binary_search(&uid).is_err() {
                                tx.execute(
                                    "DELETE FROM inbox_locations WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity = ?3 AND uid = ?4",
                                    params![mailbox, folder, validity, uid],
                                )?;
                                touched.push(id);
                            }
                        }
                    }
                }
            }
            touched.sort_unstable();
            touched.dedup();
            for id in touched {
                match refresh(&tx, id)? {
                    Some("removed") => counts.removed += 1,
                    Some(_) => counts.updated += 1,
                    None => {}
                }
            }
            tx.commit()?;
            Ok(counts)
        })
    }

    /// A mailbox's messages, oldest first.
    pub fn inbox_messages(&self, mailbox: &str) -> rusqlite::Result<Vec<StoredMessage>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, dedupe_key, message_id, thread_key, subject, date_utc, direction, size, truncated, folder, flags, removed, record_json
                 FROM inbox_messages WHERE mailbox = ?1 ORDER BY date_utc, id",
            )?;
            let mut messages: Vec<StoredMessage> = stmt
                .query_map(params![mailbox], |r| {
                    let flags: u8 = r.get(10)?;
                    let folder: u8 = r.get(9)?;
                    Ok(StoredMessage {
                        id: r.get(0)?,
                        dedupe_key: r.get(1)?,
                        message_id: r.get(2)?,
                        thread_key: r.get(3)?,
                        subject: r.get(4)?,
                        date_utc: r.get(5)?,
                        direction: r.get(6)?,
                        size: r.get::<_, i64>(7)? as u64,
                        truncated: r.get(8)?,
                        folder: FOLDERS[usize::from(folder).min(3)],
                        seen: flags & SEEN != 0,
                        answered: flags & ANSWERED != 0,
                        flagged: flags & FLAGGED != 0,
                        removed: r.get(11)?,
                        locations: Vec::new(),
                        updates: Vec::new(),
                        record_json: r.get(12)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let mut locations = c.prepare_cached(
                "SELECT remote_folder, uid FROM inbox_locations WHERE message = ?1 ORDER BY folder, uid",
            )?;
            let mut updates =
                c.prepare_cached("SELECT what FROM inbox_updates WHERE message = ?1 ORDER BY id")?;
            for m in &mut messages {
                m.locations = locations
                    .query_map(params![m.id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                m.updates = updates
                    .query_map(params![m.id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
            }
            Ok(messages)
        })
    }

    /// The stored records of a mailbox's messages, oldest first, as JSON.
    pub fn inbox_records(&self, mailbox: &str) -> rusqlite::Result<Vec<String>> {
        Ok(self
            .inbox_messages(mailbox)?
            .into_iter()
            .map(|m| m.record_json)
            .collect())
    }

    pub fn record_sync_run(&self, mailbox: &str, report_json: &str) -> rusqlite::Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO sync_runs (mailbox, report_json) VALUES (?1, ?2)",
                params![mailbox, report_json],
            )?;
            Ok(())
        })
    }

    /// The last sync's report (JSON), if any.
    pub fn last_sync_run(&self, mailbox: &str) -> rusqlite::Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT report_json FROM sync_runs WHERE mailbox = ?1 ORDER BY id DESC LIMIT 1",
                params![mailbox],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(folder: &str, uid: u32) -> Location {
        Location {
            remote_folder: folder.into(),
            uid_validity: 1,
            uid,
        }
    }

    fn message(key: &str, folder: u8, location: Location) -> NewMessage {
        NewMessage {
            dedupe_key: key.into(),
            message_id: format!("{key}@x"),
            thread_key: format!("{key}@x"),
            subject: None,
            date_utc: "2026-01-01T00:00:00Z".into(),
            direction: "inbound",
            size: 10,
            truncated: false,
            folder,
            flags: 0,
            location,
            record_json: "{}".into(),
        }
    }

    fn counts(created: u32, updated: u32, unchanged: u32) -> DeliveryCounts {
        DeliveryCounts {
            created,
            updated,
            unchanged,
        }
    }

    #[test]
    fn redelivery_stores_nothing_twice() {
        let db = Database::open_in_memory().unwrap();
        let batch = [
            message("1", 0, at("INBOX", 1)),
            message("2", 0, at("INBOX", 2)),
        ];
        assert_eq!(db.inbox_deliver("a", &batch).unwrap(), counts(2, 0, 0));
        assert_eq!(db.inbox_deliver("a", &batch).unwrap(), counts(0, 0, 2));
        assert_eq!(db.inbox_messages("a").unwrap().len(), 2);
        assert_eq!(db.inbox_deliver("b", &batch[..1]).unwrap(), counts(1, 0, 0));
    }

    #[test]
    fn a_message_in_two_folders_shows_in_the_first_by_priority() {
        let db = Database::open_in_memory().unwrap();
        db.inbox_deliver("a", &[message("k", 2, at("Archive", 7))])
            .unwrap();
        // Found in the inbox too: the same record, now shown there.
        assert_eq!(
            db.inbox_deliver("a", &[message("k", 0, at("INBOX", 3))])
                .unwrap(),
            counts(0, 1, 0)
        );
        let m = &db.inbox_messages("a").unwrap()[0];
        assert_eq!(m.folder, "inbox");
        assert_eq!(m.locations.len(), 2);
        // Leaving the inbox moves it back to the archive; leaving both marks it removed.
        let gone = db
            .inbox_apply("a", &[Change::Vanished(at("INBOX", 3))])
            .unwrap();
        assert_eq!((gone.updated, gone.removed), (1, 0));
        assert_eq!(db.inbox_messages("a").unwrap()[0].folder, "archive");
        let gone = db
            .inbox_apply("a", &[Change::Vanished(at("Archive", 7))])
            .unwrap();
        assert_eq!((gone.updated, gone.removed), (0, 1));
        let m = &db.inbox_messages("a").unwrap()[0];
        assert!(m.removed);
        assert_eq!(m.updates, ["moved to inbox", "moved to archive", "removed"]);
    }

    #[test]
    fn flags_change_once_and_unknown_locations_are_counted() {
        let db = Database::open_in_memory().unwrap();
        db.inbox_deliver("a", &[message("k", 0, at("INBOX", 1))])
            .unwrap();
        let flags = Change::Flags(at("INBOX", 1), SEEN | FLAGGED);
        let first = db.inbox_apply("a", std::slice::from_ref(&flags)).unwrap();
        let again = db
            .inbox_apply("a", &[flags, Change::Vanished(at("INBOX", 9))])
            .unwrap();
        assert_eq!(first.updated, 1);
        assert_eq!((again.updated, again.unknown), (0, 1));
        let m = &db.inbox_messages("a").unwrap()[0];
        assert!(m.seen && m.flagged && !m.answered);
    }

    #[test]
    fn uids_missing_from_a_present_list_have_vanished() {
        let db = Database::open_in_memory().unwrap();
        let batch: Vec<NewMessage> = (1..=4)
            .map(|uid| message(&format!("k{uid}"), 0, at("INBOX", uid)))
            .collect();
        db.inbox_deliver("a", &batch).unwrap();
        // UID 2 is gone; UID 4 is above `up_to`, so the list says nothing about it.
        let present = Change::Present("INBOX".into(), 1, 3, vec![1, 3]);
        let counts = db.inbox_apply("a", &[present]).unwrap();
        assert_eq!((counts.updated, counts.removed), (0, 1));
        let removed: Vec<String> = db
            .inbox_messages("a")
            .unwrap()
            .into_iter()
            .filter(|m| m.removed)
            .map(|m| m.dedupe_key)
            .collect();
        assert_eq!(removed, ["k2"]);
    }

    #[test]
    fn a_folder_reset_forgets_the_old_uids_only() {
        let db = Database::open_in_memory().unwrap();
        db.inbox_deliver(
            "a",
            &[
                message("k", 0, at("INBOX", 1)),
                message("gone", 0, at("INBOX", 2)),
            ],
        )
        .unwrap();
        let mut rescanned = message("k", 0, at("INBOX", 1));
        rescanned.location.uid_validity = 2;
        assert_eq!(
            db.inbox_deliver("a", &[rescanned]).unwrap(),
            counts(0, 0, 1)
        );
        let reset = db
            .inbox_apply("a", &[Change::FolderReset("INBOX".into(), 2)])
            .unwrap();
        assert_eq!((reset.updated, reset.removed), (0, 1));
        let messages = db.inbox_messages("a").unwrap();
        assert_eq!(messages.iter().filter(|m| m.removed).count(), 1);
    }
}
