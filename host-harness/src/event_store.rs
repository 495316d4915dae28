//! The events outbox in SQLite: every event the service raises for the CRM is appended here
//! first, with an increasing id, so that delivering it (webhooks, the event stream) can resume
//! after a restart and a reader can ask for what came after the last id it saw.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::db::Database;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS event_outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    body    TEXT NOT NULL,
    at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS webhook_cursors (
    webhook  TEXT PRIMARY KEY,
    last_id  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Appends an event within `tx`, so it is stored if and only if what it tells of is (the
/// inbox's messages, say).
pub(crate) fn append_within(
    tx: &Transaction<'_>,
    kind: &str,
    mailbox: &str,
    body: &serde_json::Value,
) -> rusqlite::Result<i64> {
    tx.prepare_cached("INSERT INTO event_outbox (kind, mailbox, body) VALUES (?1, ?2, ?3)")?
        .execute(params![kind, mailbox, body.to_string()])?;
    let id = tx.last_insert_rowid();
    if id % 1000 == 0 {
        tx.execute(
            "DELETE FROM event_outbox WHERE id <= ?1",
            params![id - KEPT_EVENTS],
        )?;
    }
    Ok(id)
}

/// Events kept; older ones are pruned as new ones arrive.
pub const KEPT_EVENTS: i64 = 100_000;

/// One stored event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub mailbox: String,
    /// When it was raised (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The event's own data (JSON).
    pub data: serde_json::Value,
}

impl Database {
    /// Appends an event; returns its id.
    pub fn event_append(
        &self,
        kind: &str,
        mailbox: &str,
        body: &serde_json::Value,
    ) -> rusqlite::Result<i64> {
        self.with(|c| {
            let tx = c.transaction()?;
            let id = append_within(&tx, kind, mailbox, body)?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// The newest event's id (0 with none).
    pub fn events_latest_id(&self) -> rusqlite::Result<i64> {
        self.read(|c| {
            c.query_row("SELECT COALESCE(MAX(id), 0) FROM event_outbox", [], |r| {
                r.get(0)
            })
        })
    }

    /// The last event id `webhook` acknowledged, if it has a cursor.
    pub fn webhook_cursor(&self, webhook: &str) -> rusqlite::Result<Option<i64>> {
        self.read(|c| {
            c.query_row(
                "SELECT last_id FROM webhook_cursors WHERE webhook = ?1",
                params![webhook],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Records that `webhook` acknowledged every event up to `last_id`.
    pub fn set_webhook_cursor(&self, webhook: &str, last_id: i64) -> rusqlite::Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO webhook_cursors (webhook, last_id) VALUES (?1, ?2)
                 ON CONFLICT (webhook) DO UPDATE SET last_id = excluded.last_id",
                params![webhook, last_id],
            )?;
            Ok(())
        })
    }

    /// Up to `limit` events after id `after`, oldest first.
    pub fn events_after(&self, after: i64, limit: u32) -> rusqlite::Result<Vec<StoredEvent>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, mailbox, at, body FROM event_outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            stmt.query_map(params![after, limit], |r| {
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_in_order_after_the_last_id_seen() {
        let db = Database::open_in_memory().unwrap();
        let a = db
            .event_append("mailbox.linked", "m1", &serde_json::json!({ "x": 1 }))
            .unwrap();
        let b = db
            .event_append("sync.failed", "m2", &serde_json::json!({}))
            .unwrap();
        assert_eq!(db.events_latest_id().unwrap(), b);
        assert!(b > a);
        let all = db.events_after(0, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].kind, "mailbox.linked");
        assert_eq!(all[0].data["x"], 1);
        let later = db.events_after(a, 10).unwrap();
        assert_eq!(later.iter().map(|e| e.id).collect::<Vec<_>>(), [b]);
    }
}
