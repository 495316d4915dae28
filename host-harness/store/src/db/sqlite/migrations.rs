//! The SQLite schema, as numbered migrations applied in order at open. The first is the schema
//! as it stood before migrations were counted, so a database from then opens unchanged.

use rusqlite::{Connection, TransactionBehavior, params};

use crate::db::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS plugin_kv (
    mailbox TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   BLOB NOT NULL,
    PRIMARY KEY (mailbox, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plugin_kv_usage (
    mailbox TEXT PRIMARY KEY,
    keys    INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mailbox_providers (
    mailbox  TEXT PRIMARY KEY,
    provider TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox_messages (
    id           INTEGER PRIMARY KEY,
    mailbox      TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    thread_key   TEXT NOT NULL,
    subject      TEXT,
    date_utc     TEXT NOT NULL,
    direction    TEXT NOT NULL,
    size         INTEGER NOT NULL,
    truncated    INTEGER NOT NULL,
    folder       INTEGER NOT NULL,
    flags        INTEGER NOT NULL,
    removed      INTEGER NOT NULL DEFAULT 0,
    record_json  TEXT NOT NULL,
    delivered_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (mailbox, dedupe_key)
);
CREATE TABLE IF NOT EXISTS inbox_locations (
    mailbox       TEXT NOT NULL,
    remote_folder TEXT NOT NULL,
    uid_validity  INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    message       INTEGER NOT NULL REFERENCES inbox_messages (id),
    folder        INTEGER NOT NULL,
    flags         INTEGER NOT NULL,
    PRIMARY KEY (mailbox, remote_folder, uid_validity, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbox_locations_by_message ON inbox_locations (message);
CREATE TABLE IF NOT EXISTS inbox_updates (
    id      INTEGER PRIMARY KEY,
    message INTEGER NOT NULL REFERENCES inbox_messages (id),
    what    TEXT NOT NULL,
    at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS inbox_updates_by_message ON inbox_updates (message);
CREATE TABLE IF NOT EXISTS sync_runs (
    id          INTEGER PRIMARY KEY,
    mailbox     TEXT NOT NULL,
    report_json TEXT NOT NULL,
    at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
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
CREATE TABLE IF NOT EXISTS admin_choices (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
",
    "
CREATE TABLE mailbox_leases (
    mailbox    TEXT PRIMARY KEY,
    owner      TEXT,
    expires_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX mailbox_leases_by_owner ON mailbox_leases (owner);
INSERT INTO mailbox_leases (mailbox) SELECT mailbox FROM mailbox_providers;
CREATE TABLE cluster_nodes (
    node       TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
",
    "
CREATE TABLE panel_sessions (
    kind       TEXT NOT NULL,
    id_hash    TEXT NOT NULL,
    body       TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (kind, id_hash)
) WITHOUT ROWID;
",
    "
ALTER TABLE mailbox_leases ADD COLUMN nudged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX mailbox_leases_nudged ON mailbox_leases (owner) WHERE nudged;
",
    "
CREATE TABLE webhook_dead_letters (
    webhook  TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    event    TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error    TEXT NOT NULL,
    at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (webhook, event_id)
) WITHOUT ROWID;
-- A message whose last place went: removed only once a whole pass finds it nowhere.
ALTER TABLE inbox_messages ADD COLUMN unplaced INTEGER NOT NULL DEFAULT 0;
CREATE INDEX inbox_messages_unplaced ON inbox_messages (mailbox) WHERE unplaced;
-- When a node last moved or tried to move each webhook's cursor (ms since the epoch).
ALTER TABLE webhook_cursors ADD COLUMN seen_ms INTEGER NOT NULL DEFAULT 0;
UPDATE webhook_cursors SET seen_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
",
    "
-- When each mailbox's messages were sent (ms since the epoch), for its send rates; a day kept.
CREATE TABLE mailbox_sends (
    mailbox TEXT NOT NULL,
    at_ms   INTEGER NOT NULL
);
CREATE INDEX mailbox_sends_by_time ON mailbox_sends (mailbox, at_ms);
",
    "
-- Each mailbox's outbox: a send is stored, its draft sealed, under the platform's idempotency
-- key before anything goes out; `seq` keeps the order the entries came in.
CREATE TABLE outbox_entries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    mailbox         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    digest          TEXT NOT NULL,
    draft           BLOB NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    outcome         TEXT,
    UNIQUE (mailbox, idempotency_key)
);
CREATE INDEX outbox_entries_open ON outbox_entries (mailbox, seq)
    WHERE state IN ('queued', 'sending');
",
    "
-- The outbox keeps actions (seen, flagged, moves) beside sends, in one order per mailbox.
ALTER TABLE outbox_entries ADD COLUMN kind TEXT NOT NULL DEFAULT 'send';
-- The address a mailbox was linked with, as the host saw the link complete: the only sender
-- its sends may use.
ALTER TABLE mailbox_providers ADD COLUMN address TEXT;
",
];

/// The schema version this host writes.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration the database has not had yet, in one transaction that holds the
/// write lock from its start, so processes opening the file at once migrate one after another.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
         )",
    )?;
    let found: i64 = tx.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if found > VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: VERSION,
        });
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES (?1)",
            params![version],
        )?;
    }
    tx.commit()?;
    Ok(())
}
