//! Writing the inbox in SQLite: deliveries and changes, each batch one transaction, and a message's row
//! brought in line with its locations after each; the CRM's `message.*` events are appended to
//! the outbox in the same transaction, so an event exists exactly when its change does.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::SqliteStore;
use super::events::append_within;
use crate::inbox_store::{Change, ChangeCounts, DeliveryCounts, FOLDERS, Location, NewMessage};

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

/// Brings a message's row in line with its locations; returns what changed, if anything. A
/// message whose last place went is not removed here: it may have moved to a folder not looked
/// at yet. It is marked unplaced, and removed once a whole pass finds it nowhere
/// (`settle_unplaced`).
fn refresh(tx: &Transaction<'_>, message: i64) -> rusqlite::Result<Option<&'static str>> {
    let (folder, flags, removed, unplaced): (u8, u8, bool, bool) = tx.query_row(
        "SELECT folder, flags, removed, unplaced FROM inbox_messages WHERE id = ?1",
        params![message],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )?;
    let what = match shown(tx, message)? {
        None if removed || unplaced => return Ok(None),
        None => {
            tx.execute(
                "UPDATE inbox_messages SET unplaced = 1 WHERE id = ?1",
                params![message],
            )?;
            return Ok(None);
        }
        Some((f, fl)) if (f, fl, removed) == (folder, flags, false) => {
            if unplaced {
                tx.execute(
                    "UPDATE inbox_messages SET unplaced = 0 WHERE id = ?1",
                    params![message],
                )?;
            }
            return Ok(None);
        }
        Some((f, fl)) => {
            tx.execute(
                "UPDATE inbox_messages SET folder = ?2, flags = ?3, removed = 0, unplaced = 0 WHERE id = ?1",
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

/// The event for a message whose folder, flags or presence changed (`what`, from `refresh`).
fn changed_event(
    tx: &Transaction<'_>,
    mailbox: &str,
    message: i64,
    what: Option<&str>,
) -> rusqlite::Result<()> {
    let Some(what) = what else { return Ok(()) };
    let kind = if what == "removed" {
        "message.removed"
    } else {
        "message.updated"
    };
    let body = serde_json::json!({ "message": message, "change": what });
    append_within(tx, kind, mailbox, &body).map(|_| ())
}

fn message_at(tx: &Transaction<'_>, mailbox: &str, l: &Location) -> rusqlite::Result<Option<i64>> {
    tx.prepare_cached(
        "SELECT message FROM inbox_locations WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity = ?3 AND uid = ?4",
    )?
    .query_row(params![mailbox, l.remote_folder, l.uid_validity, l.uid], |row| row.get(0))
    .optional()
}

impl SqliteStore {
    /// Stores a batch of deliveries in one transaction.
    pub(super) fn deliver(
        &self,
        mailbox: &str,
        batch: &[NewMessage],
    ) -> rusqlite::Result<DeliveryCounts> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
                // A location held by another record (a dedupe key that changed) leaves it.
                let previous = message_at(&tx, mailbox, &m.location)?.filter(|p| *p != id);
                tx.prepare_cached(
                    "INSERT INTO inbox_locations (mailbox, remote_folder, uid_validity, uid, message, folder, flags)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT DO UPDATE SET message = excluded.message, folder = excluded.folder, flags = excluded.flags",
                )?
                .execute(params![mailbox, m.location.remote_folder, m.location.uid_validity, m.location.uid, id, m.folder, m.flags])?;
                if let Some(previous) = previous {
                    let what = refresh(&tx, previous)?;
                    changed_event(&tx, mailbox, previous, what)?;
                }
                if !existing {
                    counts.created += 1;
                    let body = serde_json::json!({
                        "message": id,
                        "message_id": m.message_id,
                        "folder": FOLDERS[usize::from(m.folder).min(3)],
                    });
                    append_within(&tx, "message.created", mailbox, &body)?;
                } else if let Some(what) = refresh(&tx, id)? {
                    counts.updated += 1;
                    changed_event(&tx, mailbox, id, Some(what))?;
                } else {
                    counts.unchanged += 1;
                }
            }
            tx.commit()?;
            Ok(counts)
        })
    }

    /// Applies changes to known locations in one transaction.
    pub(super) fn apply(
        &self,
        mailbox: &str,
        changes: &[Change],
    ) -> rusqlite::Result<ChangeCounts> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
                let what = refresh(&tx, id)?;
                match what {
                    Some("removed") => counts.removed += 1,
                    Some(_) => counts.updated += 1,
                    None => {}
                }
                changed_event(&tx, mailbox, id, what)?;
            }
            tx.commit()?;
            Ok(counts)
        })
    }

    /// The mailbox's messages with no place left, not yet removed.
    pub(super) fn unplaced(&self, mailbox: &str) -> rusqlite::Result<Vec<i64>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT id FROM inbox_messages WHERE mailbox = ?1 AND unplaced ORDER BY id",
            )?
            .query_map(params![mailbox], |r| r.get(0))?
            .collect()
        })
    }

    /// Removes those of `ids` that still have no place, each with its `message.removed`
    /// event; returns them with the CRM folder each was in.
    pub(super) fn settle_unplaced(
        &self,
        mailbox: &str,
        ids: &[i64],
    ) -> rusqlite::Result<Vec<(i64, u8)>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut settled = Vec::new();
            for &id in ids {
                let folder: Option<u8> = tx
                    .query_row(
                        "UPDATE inbox_messages SET removed = 1, unplaced = 0
                         WHERE id = ?1 AND mailbox = ?2 AND unplaced RETURNING folder",
                        params![id, mailbox],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(folder) = folder else { continue };
                tx.execute(
                    "INSERT INTO inbox_updates (message, what) VALUES (?1, 'removed')",
                    params![id],
                )?;
                changed_event(&tx, mailbox, id, Some("removed"))?;
                settled.push((id, folder));
            }
            tx.commit()?;
            Ok(settled)
        })
    }
}
