//! The events outbox in PostgreSQL. Ids come from a sequence, and nodes commit in any order;
//! so an event's id is drawn under a lock held until its transaction ends, and ids become
//! visible in increasing order: a reader resuming after the last id it saw misses none.

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::leases::NOW_MS;
use super::{PostgresStore, locks};
use crate::db::{EventStore, StoreResult};
use crate::event_store::{
    DROPPED_KIND, DeadLetter, FORGOTTEN_CURSOR_MS, MAX_DEAD_LETTERS, StoredEvent, prune_point,
};

/// Appends events within `tx`, so they are stored if and only if what they tell of is. Call it
/// last in the transaction: the events lock is held from here to the commit. Under that lock
/// no other transaction draws from the sequence, so the batch's ids are consecutive and in the
/// events' order. The lock and the insert go to the server together, so the lock is held for
/// one round trip and the commit's rather than one per statement.
pub(super) async fn append_within(
    tx: &Transaction<'_>,
    mailbox: &str,
    events: &[(&str, serde_json::Value)],
) -> StoreResult<i64> {
    if events.is_empty() {
        return Ok(0);
    }
    // Prepared first (once per connection), so the two below are sent back to back, in order.
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await?;
    // Volatile expressions are computed after the sort: ids follow the events' order.
    let insert = tx
        .prepare_cached(
            "WITH added AS (
                 INSERT INTO event_outbox (id, kind, mailbox, body)
                 SELECT nextval('event_outbox_id_seq'), k, $1, b
                 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS e(k, b, n)
                 ORDER BY n
                 RETURNING id)
             SELECT min(id), max(id) FROM added",
        )
        .await?;
    let kinds: Vec<&str> = events.iter().map(|(kind, _)| *kind).collect();
    let bodies: Vec<String> = events.iter().map(|(_, body)| body.to_string()).collect();
    let lock_params: [&(dyn ToSql + Sync); 1] = [&locks::EVENTS];
    let insert_params: [&(dyn ToSql + Sync); 3] = [&mailbox, &kinds, &bodies];
    let (locked, added) = tokio::join!(
        biased;
        tx.execute(&lock, &lock_params),
        tx.query_one(&insert, &insert_params),
    );
    locked?;
    let added = added?;
    let (first, last): (i64, i64) = (added.get(0), added.get(1));
    // Every thousandth id, the oldest beyond the kept number go.
    if last / 1000 > (first - 1) / 1000 {
        let forgotten = tx
            .execute(
                &format!("DELETE FROM webhook_cursors WHERE seen_ms < {NOW_MS} - $1"),
                &[&FORGOTTEN_CURSOR_MS],
            )
            .await?;
        if forgotten > 0 {
            tracing::warn!(
                forgotten,
                "cursors of webhooks no node has delivered for 7 days were dropped"
            );
        }
        let slowest: Option<i64> = tx
            .query_one("SELECT MIN(last_id) FROM webhook_cursors", &[])
            .await?
            .get(0);
        let (cut, dropped) = prune_point(last, slowest);
        let trim = tx
            .prepare_cached("DELETE FROM event_outbox WHERE id <= $1")
            .await?;
        tx.execute(&trim, &[&cut]).await?;
        if let Some((after, through)) = dropped {
            tracing::warn!(
                after,
                through,
                "events a webhook had not taken were dropped"
            );
            let body = serde_json::json!({ "after": after, "through": through }).to_string();
            tx.execute(
                "INSERT INTO event_outbox (id, kind, mailbox, body)
                 VALUES (nextval('event_outbox_id_seq'), $1, '', $2)",
                &[&DROPPED_KIND, &body],
            )
            .await?;
        }
    }
    Ok(last)
}

impl EventStore for PostgresStore {
    fn event_append(
        &self,
        kind: &str,
        mailbox: &str,
        body: &serde_json::Value,
    ) -> StoreResult<i64> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let id = append_within(&tx, mailbox, &[(kind, body.clone())]).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn events_latest_id(&self) -> StoreResult<i64> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_one("SELECT coalesce(max(id), 0)::BIGINT FROM event_outbox", &[])
                .await?;
            Ok(row.get(0))
        })
    }

    fn events_of(
        &self,
        mailbox: Option<&str>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT id, kind, mailbox, at, body FROM event_outbox
                     WHERE id > $1 AND ($3::text IS NULL OR mailbox = $3) ORDER BY id LIMIT $2",
                    &[&after, &i64::from(limit), &mailbox],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| StoredEvent {
                    id: r.get(0),
                    kind: r.get(1),
                    mailbox: r.get(2),
                    at: r.get(3),
                    data: serde_json::from_str(r.get(4)).unwrap_or(serde_json::Value::Null),
                })
                .collect())
        })
    }

    fn webhook_cursor(&self, webhook: &str) -> StoreResult<Option<i64>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT last_id FROM webhook_cursors WHERE webhook = $1",
                    &[&webhook],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn set_webhook_cursor(&self, webhook: &str, last_id: i64) -> StoreResult<()> {
        self.block(async {
            self.client()
                .await?
                .execute(
                    &format!(
                        "INSERT INTO webhook_cursors (webhook, last_id, seen_ms)
                         VALUES ($1, $2, {NOW_MS})
                         ON CONFLICT (webhook) DO UPDATE
                             SET last_id = excluded.last_id, seen_ms = excluded.seen_ms"
                    ),
                    &[&webhook, &last_id],
                )
                .await?;
            Ok(())
        })
    }

    fn touch_webhook_cursor(&self, webhook: &str) -> StoreResult<()> {
        self.block(async {
            self.client()
                .await?
                .execute(
                    &format!("UPDATE webhook_cursors SET seen_ms = {NOW_MS} WHERE webhook = $1"),
                    &[&webhook],
                )
                .await?;
            Ok(())
        })
    }

    fn webhook_dead_letter(&self, webhook: &str, letter: &DeadLetter) -> StoreResult<()> {
        let event = serde_json::to_string(&letter.event).map_err(|e| {
            crate::db::StoreError::Unreachable(format!("an event that cannot be written: {e}"))
        })?;
        let attempts = letter.attempts as i64;
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO webhook_dead_letters (webhook, event_id, event, attempts, error)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&webhook, &letter.event.id, &event, &attempts, &letter.error],
            )
            .await?;
            tx.execute(
                "DELETE FROM webhook_dead_letters WHERE webhook = $1 AND event_id <= (
                     SELECT event_id FROM webhook_dead_letters WHERE webhook = $1
                     ORDER BY event_id DESC LIMIT 1 OFFSET $2)",
                &[&webhook, &MAX_DEAD_LETTERS],
            )
            .await?;
            tx.execute(
                &format!(
                    "INSERT INTO webhook_cursors (webhook, last_id, seen_ms) VALUES ($1, $2, {NOW_MS})
                     ON CONFLICT (webhook) DO UPDATE
                         SET last_id = greatest(webhook_cursors.last_id, excluded.last_id),
                             seen_ms = excluded.seen_ms"
                ),
                &[&webhook, &letter.event.id],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn webhook_dead_letters(&self, webhook: &str, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT event, attempts, error, at FROM webhook_dead_letters
                     WHERE webhook = $1 ORDER BY event_id DESC LIMIT $2",
                    &[&webhook, &i64::from(limit)],
                )
                .await?;
            Ok(rows
                .into_iter()
                .filter_map(|r| DeadLetter::read_back((r.get(0), r.get(1), r.get(2), r.get(3))))
                .collect())
        })
    }
}
