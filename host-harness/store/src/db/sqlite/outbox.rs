//! The mailboxes' outboxes in SQLite: one row per entry, its draft sealed, unique per mailbox
//! and idempotency key; a state change and its event are one transaction.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use super::events::append_within;
use crate::db::StoreResult;
use crate::db::backend::OutboxStore;
use crate::outbox_store::{NewOutboxEntry, OutboxEntry, OutboxKind, OutboxState, OutboxUpdate};

const ENTRY_COLUMNS: &str = "id, mailbox, idempotency_key, message_id, digest, state, attempts, \
                             next_attempt_ms, created_ms, updated_ms, outcome, kind";

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let state: String = r.get(5)?;
    let outcome: Option<String> = r.get(10)?;
    let kind: String = r.get(11)?;
    Ok(OutboxEntry {
        id: r.get(0)?,
        mailbox: r.get(1)?,
        kind: OutboxKind::parse(&kind),
        idempotency_key: r.get(2)?,
        message_id: r.get(3)?,
        digest: r.get(4)?,
        state: OutboxState::parse(&state),
        attempts: r.get(6)?,
        next_attempt_ms: r.get(7)?,
        created_ms: r.get(8)?,
        updated_ms: r.get(9)?,
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
    })
}

impl OutboxStore for SqliteStore {
    fn outbox_add(
        &self,
        entry: &NewOutboxEntry,
        sealed_draft: &[u8],
    ) -> StoreResult<(OutboxEntry, bool)> {
        Ok(self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let added = tx.execute(
                "INSERT INTO outbox_entries (id, mailbox, idempotency_key, message_id, digest,
                   draft, state, next_attempt_ms, created_ms, updated_ms, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?7, ?8)
                 ON CONFLICT (mailbox, idempotency_key) DO NOTHING",
                params![
                    entry.id,
                    entry.mailbox,
                    entry.idempotency_key,
                    entry.message_id,
                    entry.digest,
                    sealed_draft,
                    entry.now_ms,
                    entry.kind.as_str()
                ],
            )? == 1;
            let stored = tx.query_row(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM outbox_entries
                     WHERE mailbox = ?1 AND idempotency_key = ?2"
                ),
                params![entry.mailbox, entry.idempotency_key],
                entry_row,
            )?;
            tx.commit()?;
            Ok((stored, added))
        })?)
    }

    fn outbox_entry(&self, mailbox: &str, id: &str) -> StoreResult<Option<OutboxEntry>> {
        Ok(self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM outbox_entries WHERE mailbox = ?1 AND id = ?2"
                ),
                params![mailbox, id],
                entry_row,
            )
            .optional()
        })?)
    }

    fn outbox_entry_by_key(&self, mailbox: &str, key: &str) -> StoreResult<Option<OutboxEntry>> {
        Ok(self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM outbox_entries
                     WHERE mailbox = ?1 AND idempotency_key = ?2"
                ),
                params![mailbox, key],
                entry_row,
            )
            .optional()
        })?)
    }

    fn outbox_draft_sealed(&self, mailbox: &str, id: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read(|c| {
            c.query_row(
                "SELECT draft FROM outbox_entries WHERE mailbox = ?1 AND id = ?2",
                params![mailbox, id],
                |r| r.get(0),
            )
            .optional()
        })?)
    }

    fn outbox_head(&self, mailbox: &str) -> StoreResult<Option<OutboxEntry>> {
        Ok(self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM outbox_entries
                     WHERE mailbox = ?1 AND state IN ('queued', 'sending')
                     ORDER BY seq LIMIT 1"
                ),
                params![mailbox],
                entry_row,
            )
            .optional()
        })?)
    }

    fn outbox_update(&self, mailbox: &str, id: &str, update: &OutboxUpdate) -> StoreResult<()> {
        let outcome = update.outcome.as_ref().map(|o| o.to_string());
        Ok(self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE outbox_entries SET state = ?3, attempts = ?4, next_attempt_ms = ?5,
                   outcome = ?6, updated_ms = ?7
                 WHERE mailbox = ?1 AND id = ?2",
                params![
                    mailbox,
                    id,
                    update.state.as_str(),
                    update.attempts,
                    update.next_attempt_ms,
                    outcome,
                    update.now_ms
                ],
            )?;
            if !update.state.is_open() {
                // Nothing will send it again: the draft goes, the entry stays for its key.
                tx.execute(
                    "UPDATE outbox_entries SET draft = X'' WHERE mailbox = ?1 AND id = ?2",
                    params![mailbox, id],
                )?;
            }
            if let Some((kind, body)) = &update.event {
                append_within(&tx, kind, mailbox, body)?;
            }
            tx.commit()
        })?)
    }

    fn outbox_forget(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(self.with(|c| {
            c.execute(
                "DELETE FROM outbox_entries
                 WHERE state NOT IN ('queued', 'sending') AND updated_ms < ?1",
                params![before_ms],
            )
        })? as u64)
    }

    fn outbox_open_count(&self, mailbox: &str) -> StoreResult<u64> {
        Ok(self.read(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM outbox_entries
                 WHERE mailbox = ?1 AND state IN ('queued', 'sending')",
                params![mailbox],
                |r| r.get::<_, i64>(0),
            )
        })? as u64)
    }

    fn outbox_due_mailboxes(&self, now_ms: i64) -> StoreResult<Vec<String>> {
        Ok(self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT o.mailbox FROM outbox_entries o
                 WHERE o.state IN ('queued', 'sending') AND o.next_attempt_ms <= ?1
                   AND o.seq = (SELECT MIN(h.seq) FROM outbox_entries h
                                WHERE h.mailbox = o.mailbox AND h.state IN ('queued', 'sending'))",
            )?;
            stmt.query_map(params![now_ms], |r| r.get(0))?.collect()
        })?)
    }
}
