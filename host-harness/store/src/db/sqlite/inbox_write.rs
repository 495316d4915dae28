//! The inbox's writes in SQLite's SQL: the steps `inbox_writes` takes, each a statement or a few
//! on the one writer, so every step is done when it returns. Each write is one immediate
//! transaction; its events are appended within it.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value;

use super::SqliteStore;
use super::events::append_within;
use crate::db::StoreResult;
use crate::db::inbox_writes::{DeliveryStart, InboxTx, MessageState};
use crate::inbox_store::{Location, NewMessage};
use crate::turns::Fence;

/// One write transaction on one mailbox's inbox.
pub(super) struct SqliteInboxTx<'a> {
    tx: Transaction<'a>,
    mailbox: &'a str,
}

const AT_PLACE: &str = "mailbox = ?1 AND remote_folder = ?2 AND uid_validity = ?3 AND uid = ?4";

impl InboxTx for SqliteInboxTx<'_> {
    async fn lock_mailbox(&mut self) -> StoreResult<()> {
        Ok(())
    }

    async fn check_turn(&mut self, _turn: &Fence) -> StoreResult<()> {
        // One process uses the file, and its turns are its own (`InProcessTurns`): no turn of
        // another holder can have been taken since, and none of them carries a fence.
        Ok(())
    }

    async fn begin_delivery(&mut self, batch: &[NewMessage]) -> StoreResult<DeliveryStart> {
        let mut held = HashMap::new();
        for m in batch {
            if let Some(id) = self.message_at(&m.location).await? {
                held.insert(m.location.clone(), id);
            }
        }
        let mut inserted = HashMap::new();
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO inbox_messages (mailbox, dedupe_key, message_id, thread_key, subject,
                 date_utc, direction, size, truncated, folder, flags, record_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (mailbox, dedupe_key) DO NOTHING",
        )?;
        for m in batch {
            let added = insert.execute(params![
                self.mailbox,
                m.dedupe_key,
                m.message_id,
                m.thread_key,
                m.subject,
                m.date_utc,
                m.direction,
                m.size as i64,
                m.truncated,
                m.folder,
                m.flags,
                m.record_json
            ])?;
            if added == 1 {
                inserted.insert(m.dedupe_key.clone(), self.tx.last_insert_rowid());
            }
        }
        Ok(DeliveryStart { inserted, held })
    }

    async fn id_of(&mut self, dedupe_key: &str) -> StoreResult<i64> {
        Ok(self
            .tx
            .prepare_cached("SELECT id FROM inbox_messages WHERE mailbox = ?1 AND dedupe_key = ?2")?
            .query_row(params![self.mailbox, dedupe_key], |row| row.get(0))?)
    }

    async fn message_at(&mut self, l: &Location) -> StoreResult<Option<i64>> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT message FROM inbox_locations WHERE {AT_PLACE}"
            ))?
            .query_row(
                params![self.mailbox, l.remote_folder, l.uid_validity, l.uid],
                |row| row.get(0),
            )
            .optional()?)
    }

    async fn place(&mut self, places: &[(&NewMessage, i64)]) -> StoreResult<()> {
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO inbox_locations (mailbox, remote_folder, uid_validity, uid, message, folder, flags)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT DO UPDATE SET message = excluded.message, folder = excluded.folder,
                 flags = excluded.flags",
        )?;
        for (m, id) in places {
            let l = &m.location;
            insert.execute(params![
                self.mailbox,
                l.remote_folder,
                l.uid_validity,
                l.uid,
                id,
                m.folder,
                m.flags
            ])?;
        }
        Ok(())
    }

    async fn set_place_flags(&mut self, l: &Location, flags: u8) -> StoreResult<Option<i64>> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "UPDATE inbox_locations SET flags = ?5 WHERE {AT_PLACE} RETURNING message"
            ))?
            .query_row(
                params![self.mailbox, l.remote_folder, l.uid_validity, l.uid, flags],
                |row| row.get(0),
            )
            .optional()?)
    }

    async fn move_place(
        &mut self,
        from: &Location,
        to: &Location,
        folder: u8,
        flags: u8,
    ) -> StoreResult<Option<i64>> {
        let message: Option<i64> = self
            .tx
            .prepare_cached(&format!(
                "DELETE FROM inbox_locations WHERE {AT_PLACE} RETURNING message"
            ))?
            .query_row(
                params![
                    self.mailbox,
                    from.remote_folder,
                    from.uid_validity,
                    from.uid
                ],
                |r| r.get(0),
            )
            .optional()?;
        let Some(message) = message else {
            return Ok(None);
        };
        self.tx
            .prepare_cached(
                "INSERT INTO inbox_locations (mailbox, remote_folder, uid_validity, uid, message,
                   folder, flags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (mailbox, remote_folder, uid_validity, uid)
                 DO UPDATE SET message = excluded.message, folder = excluded.folder,
                   flags = excluded.flags",
            )?
            .execute(params![
                self.mailbox,
                to.remote_folder,
                to.uid_validity,
                to.uid,
                message,
                folder,
                flags
            ])?;
        Ok(Some(message))
    }

    async fn remove_places(
        &mut self,
        folder: &str,
        validity: u32,
        uids: &[u32],
    ) -> StoreResult<Vec<i64>> {
        // One statement per UID costs no round trip here.
        let mut delete = self.tx.prepare_cached(&format!(
            "DELETE FROM inbox_locations WHERE {AT_PLACE} RETURNING message"
        ))?;
        let mut gone = Vec::new();
        for uid in uids {
            let message: Option<i64> = delete
                .query_row(params![self.mailbox, folder, validity, uid], |r| r.get(0))
                .optional()?;
            gone.extend(message);
        }
        Ok(gone)
    }

    async fn remove_other_validities(
        &mut self,
        folder: &str,
        validity: u32,
    ) -> StoreResult<Vec<i64>> {
        let mut delete = self.tx.prepare(
            "DELETE FROM inbox_locations
             WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity != ?3 RETURNING message",
        )?;
        let gone = delete
            .query_map(params![self.mailbox, folder, validity], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(gone)
    }

    async fn places_up_to(
        &mut self,
        folder: &str,
        validity: u32,
        up_to: u32,
    ) -> StoreResult<Vec<(u32, i64)>> {
        let mut select = self.tx.prepare_cached(
            "SELECT uid, message FROM inbox_locations
             WHERE mailbox = ?1 AND remote_folder = ?2 AND uid_validity = ?3 AND uid <= ?4",
        )?;
        let known = select
            .query_map(params![self.mailbox, folder, validity, up_to], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(known)
    }

    async fn message_state(&mut self, message: i64) -> StoreResult<MessageState> {
        Ok(self.tx.query_row(
            "SELECT folder, flags, removed, unplaced FROM inbox_messages WHERE id = ?1",
            params![message],
            |row| {
                Ok(MessageState {
                    folder: row.get(0)?,
                    flags: row.get(1)?,
                    removed: row.get(2)?,
                    unplaced: row.get(3)?,
                })
            },
        )?)
    }

    async fn shown(&mut self, message: i64) -> StoreResult<Option<(u8, u8)>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT folder, flags FROM inbox_locations WHERE message = ?1
                 ORDER BY folder, uid LIMIT 1",
            )?
            .query_row(params![message], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?)
    }

    async fn set_unplaced(&mut self, message: i64, unplaced: bool) -> StoreResult<()> {
        self.tx.execute(
            "UPDATE inbox_messages SET unplaced = ?2 WHERE id = ?1",
            params![message, unplaced],
        )?;
        Ok(())
    }

    async fn show(&mut self, message: i64, folder: u8, flags: u8) -> StoreResult<()> {
        self.tx.execute(
            "UPDATE inbox_messages SET folder = ?2, flags = ?3, removed = 0, unplaced = 0
             WHERE id = ?1",
            params![message, folder, flags],
        )?;
        Ok(())
    }

    async fn note_update(&mut self, message: i64, detail: &str) -> StoreResult<()> {
        self.tx
            .prepare_cached("INSERT INTO inbox_updates (message, what) VALUES (?1, ?2)")?
            .execute(params![message, detail])?;
        Ok(())
    }

    async fn remove_unplaced(&mut self, ids: &[i64]) -> StoreResult<Vec<(i64, u8)>> {
        let mut remove = self.tx.prepare_cached(
            "UPDATE inbox_messages SET removed = 1, unplaced = 0
             WHERE id = ?1 AND mailbox = ?2 AND unplaced RETURNING folder",
        )?;
        let mut removed = Vec::new();
        for &id in ids {
            let folder: Option<u8> = remove
                .query_row(params![id, self.mailbox], |r| r.get(0))
                .optional()?;
            removed.extend(folder.map(|f| (id, f)));
        }
        Ok(removed)
    }

    async fn append_events(&mut self, events: &[(&'static str, Value)]) -> StoreResult<()> {
        for (kind, body) in events {
            append_within(&self.tx, kind, self.mailbox, body)?;
        }
        Ok(())
    }
}

impl SqliteStore {
    /// Runs one of `inbox_writes`' writes on `mailbox` in one immediate transaction.
    pub(super) fn inbox_write<T>(
        &self,
        mailbox: &str,
        write: impl AsyncFnOnce(&mut SqliteInboxTx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.with_store(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut inbox = SqliteInboxTx { tx, mailbox };
            // No step waits, so the write is done when it is first polled.
            let done = futures_executor::block_on(write(&mut inbox))?;
            inbox.tx.commit()?;
            Ok(done)
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
}
