//! The inbox in PostgreSQL, reading: a mailbox's messages with their locations and updates,
//! and the sync reports (recorded and pruned here too).

use super::{MailboxLock, PostgresStore, lock_mailbox};
use crate::db::inbox_writes;
use crate::db::{InboxStore, StoreResult};
use crate::inbox_store::{
    ANSWERED, Change, ChangeCounts, DeliveryCounts, FLAGGED, KEPT_SYNC_RUNS, KEPT_UPDATES,
    LISTED_SENDERS, Location, MessagePlaces, MessageSummary, NewMessage, SEEN, StoredMessage,
    folder_name,
};
use crate::turns::Fence;

const MESSAGE_COLUMNS: &str = "id, dedupe_key, message_id, thread_key, subject, date_utc, direction, size, truncated, folder, flags, removed, record_json";

impl InboxStore for PostgresStore {
    fn inbox_deliver_in_turn(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        batch: &[NewMessage],
    ) -> StoreResult<DeliveryCounts> {
        self.block(self.inbox_write(mailbox, async |tx| {
            inbox_writes::deliver(tx, turn, batch).await
        }))
    }

    fn inbox_apply_in_turn(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        changes: &[Change],
    ) -> StoreResult<ChangeCounts> {
        self.block(self.inbox_write(mailbox, async |tx| {
            inbox_writes::apply(tx, turn, changes).await
        }))
    }

    fn inbox_unplaced(&self, mailbox: &str) -> StoreResult<Vec<i64>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT id FROM inbox_messages WHERE mailbox = $1 AND unplaced ORDER BY id",
                    &[&mailbox],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn inbox_settle_unplaced(&self, mailbox: &str, ids: &[i64]) -> StoreResult<Vec<(i64, u8)>> {
        self.block(self.inbox_write(mailbox, async |tx| {
            inbox_writes::settle_unplaced(tx, ids).await
        }))
    }

    fn inbox_places(&self, mailbox: &str, id: i64) -> StoreResult<Option<MessagePlaces>> {
        self.block(async {
            let client = self.client().await?;
            let Some(row) = client
                .query_opt(
                    "SELECT message_id, folder FROM inbox_messages
                     WHERE mailbox = $1 AND id = $2",
                    &[&mailbox, &id],
                )
                .await?
            else {
                return Ok(None);
            };
            let places = client
                .query(
                    "SELECT remote_folder, uid_validity, uid, folder, flags FROM inbox_locations
                     WHERE message = $1 ORDER BY folder, remote_folder, uid",
                    &[&id],
                )
                .await?
                .iter()
                .map(|r| {
                    let small = |i: usize| u8::try_from(r.get::<_, i16>(i)).unwrap_or(0);
                    let number = |i: usize| u32::try_from(r.get::<_, i64>(i)).unwrap_or(0);
                    (
                        Location {
                            remote_folder: r.get(0),
                            uid_validity: number(1),
                            uid: number(2),
                        },
                        small(3),
                        small(4),
                    )
                })
                .collect();
            Ok(Some(MessagePlaces {
                message_id: row.get(0),
                folder: u8::try_from(row.get::<_, i16>(1)).unwrap_or(0),
                places,
            }))
        })
    }

    fn inbox_record(&self, mailbox: &str, id: i64) -> StoreResult<Option<String>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT record_json FROM inbox_messages WHERE mailbox = $1 AND id = $2",
                    &[&mailbox, &id],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn inbox_messages(&self, mailbox: &str) -> StoreResult<Vec<StoredMessage>> {
        self.block(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    &format!("SELECT {MESSAGE_COLUMNS} FROM inbox_messages WHERE mailbox = $1 ORDER BY date_utc, id"),
                    &[&mailbox],
                )
                .await?;
            let mut messages: Vec<StoredMessage> = rows.iter().map(message_row).collect();
            let locations = client
                .query(
                    "SELECT message, remote_folder, uid FROM inbox_locations
                     WHERE mailbox = $1 ORDER BY message, folder, uid",
                    &[&mailbox],
                )
                .await?;
            let updates = client
                .query(
                    "SELECT u.message, u.what FROM inbox_updates u
                     JOIN inbox_messages m ON m.id = u.message
                     WHERE m.mailbox = $1 ORDER BY u.id",
                    &[&mailbox],
                )
                .await?;
            let index: std::collections::HashMap<i64, usize> =
                messages.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
            for row in &locations {
                if let Some(&i) = index.get(&row.get::<_, i64>(0)) {
                    let uid: i64 = row.get(2);
                    messages[i]
                        .locations
                        .push((row.get(1), u32::try_from(uid).unwrap_or(u32::MAX)));
                }
            }
            for row in &updates {
                if let Some(&i) = index.get(&row.get::<_, i64>(0)) {
                    messages[i].updates.push(row.get(1));
                }
            }
            Ok(messages)
        })
    }

    fn inbox_page(
        &self,
        mailbox: &str,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<MessageSummary>> {
        // The first senders, taken out of the record by the server: the record itself never
        // leaves the database.
        let columns = MESSAGE_COLUMNS.replace(
            "record_json",
            &format!(
                "COALESCE(jsonb_path_query_array(record_json::jsonb, '$.record.from[0 to {}]'), '[]')::text",
                LISTED_SENDERS - 1
            ),
        );
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    &format!("SELECT {columns} FROM inbox_messages WHERE mailbox = $1 AND id < $2 ORDER BY id DESC LIMIT $3"),
                    &[&mailbox, &before.unwrap_or(i64::MAX), &i64::from(limit)],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| MessageSummary::from_row(message_row(r)))
                .collect())
        })
    }

    fn record_sync_run(&self, mailbox: &str, report_json: &str) -> StoreResult<()> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            lock_mailbox(&tx, MailboxLock::Inbox, mailbox).await?;
            tx.execute(
                "INSERT INTO sync_runs (mailbox, report_json) VALUES ($1, $2)",
                &[&mailbox, &report_json],
            )
            .await?;
            tx.execute(
                "DELETE FROM sync_runs WHERE mailbox = $1 AND id NOT IN
                 (SELECT id FROM sync_runs WHERE mailbox = $1 ORDER BY id DESC LIMIT $2)",
                &[&mailbox, &KEPT_SYNC_RUNS],
            )
            .await?;
            tx.execute(
                "DELETE FROM inbox_updates WHERE id IN
                 (SELECT u.id FROM inbox_updates u JOIN inbox_messages m ON m.id = u.message
                  WHERE m.mailbox = $1 ORDER BY u.id DESC OFFSET $2)",
                &[&mailbox, &KEPT_UPDATES],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn sync_runs(&self, mailbox: &str, limit: u32) -> StoreResult<Vec<(String, String)>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT at, report_json FROM sync_runs WHERE mailbox = $1 ORDER BY id DESC LIMIT $2",
                    &[&mailbox, &i64::from(limit)],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn last_sync_run(&self, mailbox: &str) -> StoreResult<Option<String>> {
        Ok(self.sync_runs(mailbox, 1)?.pop().map(|(_, report)| report))
    }
}

/// A message's row (the columns `MESSAGE_COLUMNS` names, in order).
fn message_row(r: &tokio_postgres::Row) -> StoredMessage {
    let flags: i16 = r.get(10);
    let folder: i16 = r.get(9);
    StoredMessage {
        id: r.get(0),
        dedupe_key: r.get(1),
        message_id: r.get(2),
        thread_key: r.get(3),
        subject: r.get(4),
        date_utc: r.get(5),
        direction: r.get(6),
        size: r.get::<_, i64>(7).max(0) as u64,
        truncated: r.get(8),
        folder: folder_name(u8::try_from(folder).unwrap_or(0)),
        seen: flags & i16::from(SEEN) != 0,
        answered: flags & i16::from(ANSWERED) != 0,
        flagged: flags & i16::from(FLAGGED) != 0,
        removed: r.get(11),
        locations: Vec::new(),
        updates: Vec::new(),
        record_json: r.get(12),
    }
}
