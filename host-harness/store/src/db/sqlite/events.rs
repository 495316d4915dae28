//! The events outbox in SQLite: one writer, so ids increase in commit order. An event is
//! appended in the same transaction as what it tells of (`append_within`).

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::SqliteStore;
use super::leases::NOW_MS;
use crate::db::{EventStore, StoreResult};
use crate::event_store::{
    DROPPED_KIND, DeadLetter, FORGOTTEN_CURSOR_MS, MAX_DEAD_LETTERS, StoredEvent, prune_point,
};

/// Appends an event within `tx`, so it is stored if and only if what it tells of is (the
/// inbox's messages, say).
pub(super) fn append_within(
    tx: &Transaction<'_>,
    kind: &str,
    mailbox: &str,
    body: &serde_json::Value,
) -> rusqlite::Result<i64> {
    tx.prepare_cached("INSERT INTO event_outbox (kind, mailbox, body) VALUES (?1, ?2, ?3)")?
        .execute(params![kind, mailbox, body.to_string()])?;
    let id = tx.last_insert_rowid();
    if id % 1000 == 0 {
        let forgotten = tx.execute(
            &format!("DELETE FROM webhook_cursors WHERE seen_ms < {NOW_MS} - ?1"),
            params![FORGOTTEN_CURSOR_MS],
        )?;
        if forgotten > 0 {
            tracing::warn!(
                forgotten,
                "cursors of webhooks no node has delivered for 7 days were dropped"
            );
        }
        let slowest: Option<i64> =
            tx.query_row("SELECT MIN(last_id) FROM webhook_cursors", [], |r| r.get(0))?;
        let (cut, dropped) = prune_point(id, slowest);
        tx.execute("DELETE FROM event_outbox WHERE id <= ?1", params![cut])?;
        if let Some((after, through)) = dropped {
            tracing::warn!(
                after,
                through,
                "events a webhook had not taken were dropped"
            );
            let body = serde_json::json!({ "after": after, "through": through });
            tx.prepare_cached(
                "INSERT INTO event_outbox (kind, mailbox, body) VALUES (?1, '', ?2)",
            )?
            .execute(params![DROPPED_KIND, body.to_string()])?;
        }
    }
    Ok(id)
}

impl EventStore for SqliteStore {
    fn event_append(
        &self,
        kind: &str,
        mailbox: &str,
        body: &serde_json::Value,
    ) -> StoreResult<i64> {
        Ok(self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = append_within(&tx, kind, mailbox, body)?;
            tx.commit()?;
            Ok(id)
        })?)
    }

    fn events_latest_id(&self) -> StoreResult<i64> {
        Ok(self.read(|c| {
            c.query_row("SELECT COALESCE(MAX(id), 0) FROM event_outbox", [], |r| {
                r.get(0)
            })
        })?)
    }

    fn events_of(
        &self,
        mailbox: Option<&str>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        Ok(self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, mailbox, at, body FROM event_outbox
                 WHERE id > ?1 AND (?3 IS NULL OR mailbox = ?3) ORDER BY id LIMIT ?2",
            )?;
            stmt.query_map(params![after, limit, mailbox], |r| {
                let body: String = r.get(4)?;
                Ok(StoredEvent {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    mailbox: r.get(2)?,
                    at: r.get(3)?,
                    data: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                })
            })?
            .collect()
        })?)
    }

    fn webhook_cursor(&self, webhook: &str) -> StoreResult<Option<i64>> {
        Ok(self.read(|c| {
            c.query_row(
                "SELECT last_id FROM webhook_cursors WHERE webhook = ?1",
                params![webhook],
                |r| r.get(0),
            )
            .optional()
        })?)
    }

    fn set_webhook_cursor(&self, webhook: &str, last_id: i64) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO webhook_cursors (webhook, last_id, seen_ms) VALUES (?1, ?2, {NOW_MS})
                     ON CONFLICT (webhook) DO UPDATE
                         SET last_id = excluded.last_id, seen_ms = excluded.seen_ms"
                ),
                params![webhook, last_id],
            )
        })?;
        Ok(())
    }

    fn touch_webhook_cursor(&self, webhook: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                &format!("UPDATE webhook_cursors SET seen_ms = {NOW_MS} WHERE webhook = ?1"),
                params![webhook],
            )
        })?;
        Ok(())
    }

    fn webhook_dead_letter(&self, webhook: &str, letter: &DeadLetter) -> StoreResult<()> {
        let event = serde_json::to_string(&letter.event).map_err(|e| {
            crate::db::StoreError::Unreachable(format!("an event that cannot be written: {e}"))
        })?;
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO webhook_dead_letters (webhook, event_id, event, attempts, error)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![
                    webhook,
                    letter.event.id,
                    event,
                    letter.attempts as i64,
                    letter.error
                ],
            )?;
            tx.execute(
                "DELETE FROM webhook_dead_letters WHERE webhook = ?1 AND event_id <= (
                     SELECT event_id FROM webhook_dead_letters WHERE webhook = ?1
                     ORDER BY event_id DESC LIMIT 1 OFFSET ?2)",
                params![webhook, MAX_DEAD_LETTERS],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO webhook_cursors (webhook, last_id, seen_ms) VALUES (?1, ?2, {NOW_MS})
                     ON CONFLICT (webhook) DO UPDATE
                         SET last_id = max(last_id, excluded.last_id), seen_ms = excluded.seen_ms"
                ),
                params![webhook, letter.event.id],
            )?;
            tx.commit()
        })?;
        Ok(())
    }

    fn webhook_dead_letters(&self, webhook: &str, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        let rows: Vec<(String, i64, String, String)> = self.read(|c| {
            c.prepare_cached(
                "SELECT event, attempts, error, at FROM webhook_dead_letters
                 WHERE webhook = ?1 ORDER BY event_id DESC LIMIT ?2",
            )?
            .query_map(params![webhook, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })?;
        Ok(rows.into_iter().filter_map(DeadLetter::read_back).collect())
    }
}
