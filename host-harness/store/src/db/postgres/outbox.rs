//! The mailboxes' outboxes in PostgreSQL: one row per entry, its draft sealed, unique per
//! mailbox and idempotency key; a state change and its event are one transaction.

use super::PostgresStore;
use super::events::append_within;
use crate::db::StoreResult;
use crate::db::backend::OutboxStore;
use crate::outbox_store::{NewOutboxEntry, OutboxEntry, OutboxKind, OutboxState, OutboxUpdate};

const ENTRY_COLUMNS: &str = "id, mailbox, idempotency_key, message_id, digest, state, attempts, \
                             next_attempt_ms, created_ms, updated_ms, outcome, kind";

fn entry_row(r: &tokio_postgres::Row) -> OutboxEntry {
    let state: &str = r.get(5);
    let attempts: i32 = r.get(6);
    let outcome: Option<String> = r.get(10);
    OutboxEntry {
        id: r.get(0),
        mailbox: r.get(1),
        kind: OutboxKind::parse(r.get(11)),
        idempotency_key: r.get(2),
        message_id: r.get(3),
        digest: r.get(4),
        state: OutboxState::parse(state),
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_ms: r.get(7),
        created_ms: r.get(8),
        updated_ms: r.get(9),
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
    }
}

impl OutboxStore for PostgresStore {
    fn outbox_add(
        &self,
        entry: &NewOutboxEntry,
        sealed_draft: &[u8],
    ) -> StoreResult<(OutboxEntry, bool)> {
        self.block(async {
            let client = self.client().await?;
            let added = client
                .execute(
                    "INSERT INTO outbox_entries (id, mailbox, idempotency_key, message_id, digest,
                       draft, state, next_attempt_ms, created_ms, updated_ms, kind)
                     VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7, $7, $8)
                     ON CONFLICT (mailbox, idempotency_key) DO NOTHING",
                    &[
                        &entry.id,
                        &entry.mailbox,
                        &entry.idempotency_key,
                        &entry.message_id,
                        &entry.digest,
                        &sealed_draft,
                        &entry.now_ms,
                        &entry.kind.as_str(),
                    ],
                )
                .await?
                == 1;
            // Committed by whichever node added it: unique per key, it reads the same here.
            let row = client
                .query_one(
                    &format!(
                        "SELECT {ENTRY_COLUMNS} FROM outbox_entries
                         WHERE mailbox = $1 AND idempotency_key = $2"
                    ),
                    &[&entry.mailbox, &entry.idempotency_key],
                )
                .await?;
            Ok((entry_row(&row), added))
        })
    }

    fn outbox_entry(&self, mailbox: &str, id: &str) -> StoreResult<Option<OutboxEntry>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    &format!(
                        "SELECT {ENTRY_COLUMNS} FROM outbox_entries WHERE mailbox = $1 AND id = $2"
                    ),
                    &[&mailbox, &id],
                )
                .await?;
            Ok(row.as_ref().map(entry_row))
        })
    }

    fn outbox_entry_by_key(&self, mailbox: &str, key: &str) -> StoreResult<Option<OutboxEntry>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    &format!(
                        "SELECT {ENTRY_COLUMNS} FROM outbox_entries
                         WHERE mailbox = $1 AND idempotency_key = $2"
                    ),
                    &[&mailbox, &key],
                )
                .await?;
            Ok(row.as_ref().map(entry_row))
        })
    }

    fn outbox_draft_sealed(&self, mailbox: &str, id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT draft FROM outbox_entries WHERE mailbox = $1 AND id = $2",
                    &[&mailbox, &id],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn outbox_head(&self, mailbox: &str) -> StoreResult<Option<OutboxEntry>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    &format!(
                        "SELECT {ENTRY_COLUMNS} FROM outbox_entries
                         WHERE mailbox = $1 AND state IN ('queued', 'sending')
                         ORDER BY seq LIMIT 1"
                    ),
                    &[&mailbox],
                )
                .await?;
            Ok(row.as_ref().map(entry_row))
        })
    }

    fn outbox_update(&self, mailbox: &str, id: &str, update: &OutboxUpdate) -> StoreResult<()> {
        let outcome = update.outcome.as_ref().map(|o| o.to_string());
        let attempts = i32::try_from(update.attempts).unwrap_or(i32::MAX);
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "UPDATE outbox_entries SET state = $3, attempts = $4, next_attempt_ms = $5,
                   outcome = $6, updated_ms = $7
                 WHERE mailbox = $1 AND id = $2",
                &[
                    &mailbox,
                    &id,
                    &update.state.as_str(),
                    &attempts,
                    &update.next_attempt_ms,
                    &outcome,
                    &update.now_ms,
                ],
            )
            .await?;
            if !update.state.is_open() {
                // Nothing will send it again: the draft goes, the entry stays for its key.
                tx.execute(
                    "UPDATE outbox_entries SET draft = ''::bytea WHERE mailbox = $1 AND id = $2",
                    &[&mailbox, &id],
                )
                .await?;
            }
            if let Some((kind, body)) = &update.event {
                append_within(&tx, mailbox, &[(kind, body.clone())]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn outbox_forget(&self, before_ms: i64) -> StoreResult<u64> {
        self.block(async {
            Ok(self
                .client()
                .await?
                .execute(
                    "DELETE FROM outbox_entries
                     WHERE state NOT IN ('queued', 'sending') AND updated_ms < $1",
                    &[&before_ms],
                )
                .await?)
        })
    }

    fn outbox_open_count(&self, mailbox: &str) -> StoreResult<u64> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_one(
                    "SELECT COUNT(*) FROM outbox_entries
                     WHERE mailbox = $1 AND state IN ('queued', 'sending')",
                    &[&mailbox],
                )
                .await?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    fn outbox_due_mailboxes(&self, now_ms: i64) -> StoreResult<Vec<String>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT o.mailbox FROM outbox_entries o
                     WHERE o.state IN ('queued', 'sending') AND o.next_attempt_ms <= $1
                       AND o.seq = (SELECT MIN(h.seq) FROM outbox_entries h
                                    WHERE h.mailbox = o.mailbox
                                      AND h.state IN ('queued', 'sending'))",
                    &[&now_ms],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}
