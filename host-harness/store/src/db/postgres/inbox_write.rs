//! The inbox's writes in PostgreSQL's SQL: the steps `inbox_writes` takes, each one round trip,
//! a batch's many rows in one statement (`unnest`, `= ANY`). Each write is one transaction under
//! the mailbox's inbox lock; its events are appended last.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use serde_json::Value;

use super::events::append_within;
use super::{MailboxLock, PostgresStore, lock_mailbox, lock_mailbox_with, lock_statement};
use crate::db::StoreResult;
use crate::db::inbox_writes::{DeliveryStart, InboxTx, MessageState};
use crate::inbox_store::{Location, NewMessage};
use crate::turns::Fence;

/// Inserts the batch's records whose key the mailbox does not have yet.
const INSERT_NEW: &str = "INSERT INTO inbox_messages (mailbox, dedupe_key, message_id, thread_key,
         subject, date_utc, direction, size, truncated, folder, flags, record_json)
     SELECT $1, k, i, t, s, d, dir, sz, tr, f, fl, r
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                 $8::int8[], $9::bool[], $10::int2[], $11::int2[], $12::text[])
          WITH ORDINALITY AS b(k, i, t, s, d, dir, sz, tr, f, fl, r, n)
     ORDER BY n
     ON CONFLICT (mailbox, dedupe_key) DO NOTHING
     RETURNING id, dedupe_key";

/// The records holding any of a batch's places now.
const HOLDERS: &str = "SELECT l.remote_folder, l.uid_validity, l.uid, l.message
     FROM inbox_locations l
     JOIN unnest($2::text[], $3::int8[], $4::int8[]) AS b(f, v, u)
       ON l.remote_folder = b.f AND l.uid_validity = b.v AND l.uid = b.u
     WHERE l.mailbox = $1";

/// Places, taken over when held.
const PLACE: &str = "INSERT INTO inbox_locations (mailbox, remote_folder, uid_validity, uid,
         message, folder, flags)
     SELECT $1, * FROM unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int2[],
         $7::int2[])
     ON CONFLICT (mailbox, remote_folder, uid_validity, uid)
     DO UPDATE SET message = excluded.message, folder = excluded.folder, flags = excluded.flags";

const AT_FOLDER: &str = "mailbox = $1 AND remote_folder = $2 AND uid_validity = $3";

/// One write transaction on one mailbox's inbox.
pub(super) struct PgInboxTx<'t, 'c> {
    tx: &'t Transaction<'c>,
    mailbox: &'t str,
}

impl PgInboxTx<'_, '_> {
    /// Inserts the batch's records whose key the mailbox does not have yet; their ids by key.
    async fn insert_new(&self, batch: &[NewMessage]) -> StoreResult<HashMap<String, i64>> {
        let insert = self.tx.prepare_cached(INSERT_NEW).await?;
        let column = |f: fn(&NewMessage) -> &str| batch.iter().map(f).collect::<Vec<_>>();
        let subjects: Vec<Option<&str>> = batch.iter().map(|m| m.subject.as_deref()).collect();
        let sizes: Vec<i64> = batch.iter().map(|m| m.size as i64).collect();
        let truncated: Vec<bool> = batch.iter().map(|m| m.truncated).collect();
        let folders: Vec<i16> = batch.iter().map(|m| i16::from(m.folder)).collect();
        let flags: Vec<i16> = batch.iter().map(|m| i16::from(m.flags)).collect();
        let rows = self
            .tx
            .query(
                &insert,
                &[
                    &self.mailbox,
                    &column(|m| &m.dedupe_key),
                    &column(|m| &m.message_id),
                    &column(|m| &m.thread_key),
                    &subjects,
                    &column(|m| &m.date_utc),
                    &column(|m| m.direction),
                    &sizes,
                    &truncated,
                    &folders,
                    &flags,
                    &column(|m| &m.record_json),
                ],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(1), r.get(0))).collect())
    }

    /// The records holding any of the batch's places now.
    async fn holders(&self, batch: &[NewMessage]) -> StoreResult<HashMap<Location, i64>> {
        let select = self.tx.prepare_cached(HOLDERS).await?;
        let folders: Vec<&str> = batch
            .iter()
            .map(|m| m.location.remote_folder.as_str())
            .collect();
        let validities: Vec<i64> = batch
            .iter()
            .map(|m| i64::from(m.location.uid_validity))
            .collect();
        let uids: Vec<i64> = batch.iter().map(|m| i64::from(m.location.uid)).collect();
        let rows = self
            .tx
            .query(&select, &[&self.mailbox, &folders, &validities, &uids])
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let place = Location {
                    remote_folder: r.get(0),
                    uid_validity: u32::try_from(r.get::<_, i64>(1)).ok()?,
                    uid: u32::try_from(r.get::<_, i64>(2)).ok()?,
                };
                Some((place, r.get(3)))
            })
            .collect())
    }
}

/// A CRM folder or flags as stored (a small integer).
fn small(column: i16) -> u8 {
    u8::try_from(column).unwrap_or(0)
}

impl InboxTx for PgInboxTx<'_, '_> {
    async fn lock_mailbox(&mut self) -> StoreResult<()> {
        lock_mailbox(self.tx, MailboxLock::Inbox, self.mailbox).await
    }

    async fn check_turn(&mut self, turn: &Fence) -> StoreResult<()> {
        super::turns::check_turn(self.tx, self.mailbox, turn).await
    }

    async fn begin_delivery(&mut self, batch: &[NewMessage]) -> StoreResult<DeliveryStart> {
        // Prepared first (once per connection), so the three below go to the server back to
        // back, in this order, and are answered in one round trip.
        self.tx.prepare_cached(INSERT_NEW).await?;
        self.tx.prepare_cached(HOLDERS).await?;
        let lock = lock_statement(self.tx).await?;
        let (locked, inserted, held) = tokio::join!(
            biased;
            lock_mailbox_with(self.tx, &lock, MailboxLock::Inbox, self.mailbox),
            self.insert_new(batch),
            self.holders(batch),
        );
        locked?;
        Ok(DeliveryStart {
            inserted: inserted?,
            held: held?,
        })
    }

    async fn id_of(&mut self, dedupe_key: &str) -> StoreResult<i64> {
        // A redelivered batch comes this way message by message: prepared once.
        let select = self
            .tx
            .prepare_cached("SELECT id FROM inbox_messages WHERE mailbox = $1 AND dedupe_key = $2")
            .await?;
        Ok(self
            .tx
            .query_one(&select, &[&self.mailbox, &dedupe_key])
            .await?
            .get(0))
    }

    async fn message_at(&mut self, l: &Location) -> StoreResult<Option<i64>> {
        let select = self
            .tx
            .prepare_cached(&format!(
                "SELECT message FROM inbox_locations WHERE {AT_FOLDER} AND uid = $4"
            ))
            .await?;
        let (validity, uid) = (i64::from(l.uid_validity), i64::from(l.uid));
        let row = self
            .tx
            .query_opt(&select, &[&self.mailbox, &l.remote_folder, &validity, &uid])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn place(&mut self, places: &[(&NewMessage, i64)]) -> StoreResult<()> {
        let insert = self.tx.prepare_cached(PLACE).await?;
        let column =
            |f: fn(&NewMessage) -> i64| places.iter().map(|(m, _)| f(m)).collect::<Vec<_>>();
        let folders: Vec<&str> = places
            .iter()
            .map(|(m, _)| m.location.remote_folder.as_str())
            .collect();
        let messages: Vec<i64> = places.iter().map(|(_, id)| *id).collect();
        let shown_in: Vec<i16> = places.iter().map(|(m, _)| i16::from(m.folder)).collect();
        let flags: Vec<i16> = places.iter().map(|(m, _)| i16::from(m.flags)).collect();
        self.tx
            .execute(
                &insert,
                &[
                    &self.mailbox,
                    &folders,
                    &column(|m| i64::from(m.location.uid_validity)),
                    &column(|m| i64::from(m.location.uid)),
                    &messages,
                    &shown_in,
                    &flags,
                ],
            )
            .await?;
        Ok(())
    }

    async fn set_place_flags(&mut self, l: &Location, flags: u8) -> StoreResult<Option<i64>> {
        let (validity, uid) = (i64::from(l.uid_validity), i64::from(l.uid));
        let row = self
            .tx
            .query_opt(
                &format!(
                    "UPDATE inbox_locations SET flags = $5 WHERE {AT_FOLDER} AND uid = $4
                     RETURNING message"
                ),
                &[
                    &self.mailbox,
                    &l.remote_folder,
                    &validity,
                    &uid,
                    &i16::from(flags),
                ],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn move_place(
        &mut self,
        from: &Location,
        to: &Location,
        folder: u8,
        flags: u8,
    ) -> StoreResult<Option<i64>> {
        let (validity, uid) = (i64::from(from.uid_validity), i64::from(from.uid));
        let row = self
            .tx
            .query_opt(
                &format!(
                    "DELETE FROM inbox_locations WHERE {AT_FOLDER} AND uid = $4 RETURNING message"
                ),
                &[&self.mailbox, &from.remote_folder, &validity, &uid],
            )
            .await?;
        let Some(message) = row.map(|r| r.get::<_, i64>(0)) else {
            return Ok(None);
        };
        self.tx
            .execute(
                "INSERT INTO inbox_locations (mailbox, remote_folder, uid_validity, uid, message,
                   folder, flags) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (mailbox, remote_folder, uid_validity, uid)
                 DO UPDATE SET message = excluded.message, folder = excluded.folder,
                   flags = excluded.flags",
                &[
                    &self.mailbox,
                    &to.remote_folder,
                    &i64::from(to.uid_validity),
                    &i64::from(to.uid),
                    &message,
                    &i16::from(folder),
                    &i16::from(flags),
                ],
            )
            .await?;
        Ok(Some(message))
    }

    async fn remove_places(
        &mut self,
        folder: &str,
        validity: u32,
        uids: &[u32],
    ) -> StoreResult<Vec<i64>> {
        let uids: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
        let rows = self
            .tx
            .query(
                &format!(
                    "DELETE FROM inbox_locations WHERE {AT_FOLDER} AND uid = ANY($4)
                     RETURNING message"
                ),
                &[&self.mailbox, &folder, &i64::from(validity), &uids],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn remove_other_validities(
        &mut self,
        folder: &str,
        validity: u32,
    ) -> StoreResult<Vec<i64>> {
        let rows = self
            .tx
            .query(
                "DELETE FROM inbox_locations
                 WHERE mailbox = $1 AND remote_folder = $2 AND uid_validity != $3
                 RETURNING message",
                &[&self.mailbox, &folder, &i64::from(validity)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn places_up_to(
        &mut self,
        folder: &str,
        validity: u32,
        up_to: u32,
    ) -> StoreResult<Vec<(u32, i64)>> {
        let rows = self
            .tx
            .query(
                &format!(
                    "SELECT uid, message FROM inbox_locations WHERE {AT_FOLDER} AND uid <= $4"
                ),
                &[
                    &self.mailbox,
                    &folder,
                    &i64::from(validity),
                    &i64::from(up_to),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((u32::try_from(r.get::<_, i64>(0)).ok()?, r.get(1))))
            .collect())
    }

    async fn message_state(&mut self, message: i64) -> StoreResult<MessageState> {
        let row = self
            .tx
            .query_one(
                "SELECT folder, flags, removed, unplaced FROM inbox_messages WHERE id = $1",
                &[&message],
            )
            .await?;
        Ok(MessageState {
            folder: small(row.get(0)),
            flags: small(row.get(1)),
            removed: row.get(2),
            unplaced: row.get(3),
        })
    }

    async fn shown(&mut self, message: i64) -> StoreResult<Option<(u8, u8)>> {
        let row = self
            .tx
            .query_opt(
                "SELECT folder, flags FROM inbox_locations WHERE message = $1
                 ORDER BY folder, uid LIMIT 1",
                &[&message],
            )
            .await?;
        Ok(row.map(|r| (small(r.get(0)), small(r.get(1)))))
    }

    async fn set_unplaced(&mut self, message: i64, unplaced: bool) -> StoreResult<()> {
        self.tx
            .execute(
                "UPDATE inbox_messages SET unplaced = $2 WHERE id = $1",
                &[&message, &unplaced],
            )
            .await?;
        Ok(())
    }

    async fn show(&mut self, message: i64, folder: u8, flags: u8) -> StoreResult<()> {
        self.tx
            .execute(
                "UPDATE inbox_messages SET folder = $2, flags = $3, removed = false,
                     unplaced = false
                 WHERE id = $1",
                &[&message, &i16::from(folder), &i16::from(flags)],
            )
            .await?;
        Ok(())
    }

    async fn note_update(&mut self, message: i64, detail: &str) -> StoreResult<()> {
        self.tx
            .execute(
                "INSERT INTO inbox_updates (message, what) VALUES ($1, $2)",
                &[&message, &detail],
            )
            .await?;
        Ok(())
    }

    async fn remove_unplaced(&mut self, ids: &[i64]) -> StoreResult<Vec<(i64, u8)>> {
        let rows = self
            .tx
            .query(
                "UPDATE inbox_messages SET removed = true, unplaced = false
                 WHERE id = ANY($1) AND mailbox = $2 AND unplaced RETURNING id, folder",
                &[&ids, &self.mailbox],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), small(r.get(1)))).collect())
    }

    async fn append_events(&mut self, events: &[(&'static str, Value)]) -> StoreResult<()> {
        append_within(self.tx, self.mailbox, events).await?;
        Ok(())
    }
}

impl PostgresStore {
    /// Runs one of `inbox_writes`' writes on `mailbox` in one transaction.
    pub(super) async fn inbox_write<T>(
        &self,
        mailbox: &str,
        write: impl AsyncFnOnce(&mut PgInboxTx<'_, '_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let done = write(&mut PgInboxTx { tx: &tx, mailbox }).await?;
        tx.commit().await?;
        Ok(done)
    }
}
