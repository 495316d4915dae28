//! The inbox in SQLite, reading: a mailbox's messages with their locations and updates, and the sync runs.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::db::inbox_writes;
use crate::db::{InboxStore, StoreResult};
use crate::inbox_store::{
    ANSWERED, Change, ChangeCounts, DeliveryCounts, FLAGGED, KEPT_SYNC_RUNS, KEPT_UPDATES,
    LISTED_SENDERS, Location, MessagePlaces, MessageSummary, NewMessage, SEEN, StoredMessage,
    folder_name,
};
use crate::turns::Fence;

impl InboxStore for SqliteStore {
    fn inbox_deliver_in_turn(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        batch: &[NewMessage],
    ) -> StoreResult<DeliveryCounts> {
        self.inbox_write(mailbox, async |tx| {
            inbox_writes::deliver(tx, turn, batch).await
        })
    }

    fn inbox_apply_in_turn(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        changes: &[Change],
    ) -> StoreResult<ChangeCounts> {
        self.inbox_write(mailbox, async |tx| {
            inbox_writes::apply(tx, turn, changes).await
        })
    }

    fn inbox_unplaced(&self, mailbox: &str) -> StoreResult<Vec<i64>> {
        Ok(self.unplaced(mailbox)?)
    }

    fn inbox_settle_unplaced(&self, mailbox: &str, ids: &[i64]) -> StoreResult<Vec<(i64, u8)>> {
        self.inbox_write(mailbox, async |tx| {
            inbox_writes::settle_unplaced(tx, ids).await
        })
    }

    /// A mailbox's messages, oldest first.
    fn inbox_messages(&self, mailbox: &str) -> StoreResult<Vec<StoredMessage>> {
        Ok(self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, dedupe_key, message_id, thread_key, subject, date_utc, direction, size, truncated, folder, flags, removed, record_json
                 FROM inbox_messages WHERE mailbox = ?1 ORDER BY date_utc, id",
            )?;
            let mut messages: Vec<StoredMessage> = stmt
                .query_map(params![mailbox], message_row)?
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
        })?)
    }

    fn inbox_places(&self, mailbox: &str, id: i64) -> StoreResult<Option<MessagePlaces>> {
        Ok(self.read(|c| {
            let found = c
                .query_row(
                    "SELECT message_id, folder FROM inbox_messages WHERE mailbox = ?1 AND id = ?2",
                    params![mailbox, id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, u8>(1)?)),
                )
                .optional()?;
            let Some((message_id, folder)) = found else {
                return Ok(None);
            };
            let places = c
                .prepare_cached(
                    "SELECT remote_folder, uid_validity, uid, folder, flags FROM inbox_locations
                     WHERE message = ?1 ORDER BY folder, remote_folder, uid",
                )?
                .query_map(params![id], |r| {
                    Ok((
                        Location {
                            remote_folder: r.get(0)?,
                            uid_validity: r.get(1)?,
                            uid: r.get(2)?,
                        },
                        r.get(3)?,
                        r.get(4)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            Ok(Some(MessagePlaces {
                message_id,
                folder,
                places,
            }))
        })?)
    }

    fn inbox_record(&self, mailbox: &str, id: i64) -> StoreResult<Option<String>> {
        Ok(self.read(|c| {
            c.query_row(
                "SELECT record_json FROM inbox_messages WHERE mailbox = ?1 AND id = ?2",
                params![mailbox, id],
                |r| r.get(0),
            )
            .optional()
        })?)
    }

    /// One page of a mailbox's messages, newest delivery first: those delivered before the
    /// message `before` (by id), at most `limit`; without locations or updates.
    fn inbox_page(
        &self,
        mailbox: &str,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<MessageSummary>> {
        Ok(self.read(|c| {
            // The first senders, taken out of the record by SQLite: the record itself never
            // leaves the database.
            let mut stmt = c.prepare_cached(&format!(
                "SELECT id, dedupe_key, message_id, thread_key, subject, date_utc, direction, size, truncated, folder, flags, removed,
                   (SELECT json_group_array(json(value)) FROM
                     (SELECT value FROM json_each(record_json, '$.record.from') LIMIT {LISTED_SENDERS}))
                 FROM inbox_messages WHERE mailbox = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
            ))?;
            stmt.query_map(
                params![mailbox, before.unwrap_or(i64::MAX), limit],
                |r| message_row(r).map(MessageSummary::from_row),
            )?
            .collect()
        })?)
    }

    /// The latest `limit` sync reports of a mailbox, newest first: when each was recorded, and
    /// the report (JSON).
    fn sync_runs(&self, mailbox: &str, limit: u32) -> StoreResult<Vec<(String, String)>> {
        Ok(self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, report_json FROM sync_runs WHERE mailbox = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            stmt.query_map(params![mailbox, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?)
    }

    /// Records a sync's report, and prunes what the mailbox's history has grown past: the
    /// reports beyond the latest `KEPT_SYNC_RUNS`, the updates beyond the latest
    /// `KEPT_UPDATES`.
    fn record_sync_run(&self, mailbox: &str, report_json: &str) -> StoreResult<()> {
        Ok(self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO sync_runs (mailbox, report_json) VALUES (?1, ?2)",
                params![mailbox, report_json],
            )?;
            tx.execute(
                "DELETE FROM sync_runs WHERE mailbox = ?1 AND id NOT IN
                 (SELECT id FROM sync_runs WHERE mailbox = ?1 ORDER BY id DESC LIMIT ?2)",
                params![mailbox, KEPT_SYNC_RUNS],
            )?;
            tx.execute(
                "DELETE FROM inbox_updates WHERE id IN
                 (SELECT u.id FROM inbox_updates u JOIN inbox_messages m ON m.id = u.message
                  WHERE m.mailbox = ?1 ORDER BY u.id DESC LIMIT -1 OFFSET ?2)",
                params![mailbox, KEPT_UPDATES],
            )?;
            tx.commit()
        })?)
    }

    /// The last sync's report (JSON), if any.
    fn last_sync_run(&self, mailbox: &str) -> StoreResult<Option<String>> {
        Ok(self.read(|c| {
            c.query_row(
                "SELECT report_json FROM sync_runs WHERE mailbox = ?1 ORDER BY id DESC LIMIT 1",
                params![mailbox],
                |r| r.get(0),
            )
            .optional()
        })?)
    }
}

/// A message's row (the columns `inbox_messages` and `inbox_page` select, in order).
fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
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
        folder: folder_name(folder),
        seen: flags & SEEN != 0,
        answered: flags & ANSWERED != 0,
        flagged: flags & FLAGGED != 0,
        removed: r.get(11)?,
        locations: Vec::new(),
        updates: Vec::new(),
        record_json: r.get(12)?,
    })
}
