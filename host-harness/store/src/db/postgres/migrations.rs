//! The PostgreSQL schema, as numbered migrations applied in order at start-up. Nodes that
//! start at once take turns under an advisory lock; a node older than the schema refuses it.

use super::locks;
use crate::db::{StoreError, StoreResult};

/// Text timestamps in the same forms SQLite writes (UTC, seconds or milliseconds).
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE plugin_kv (
    mailbox TEXT COLLATE "C" NOT NULL,
    key     TEXT COLLATE "C" NOT NULL,
    value   BYTEA NOT NULL,
    PRIMARY KEY (mailbox, key)
);
CREATE TABLE plugin_kv_usage (
    mailbox TEXT PRIMARY KEY,
    keys    BIGINT NOT NULL,
    bytes   BIGINT NOT NULL
);
CREATE TABLE mailbox_providers (
    mailbox  TEXT COLLATE "C" PRIMARY KEY,
    provider TEXT NOT NULL
);
CREATE TABLE inbox_messages (
    id           BIGSERIAL PRIMARY KEY,
    mailbox      TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    thread_key   TEXT NOT NULL,
    subject      TEXT,
    date_utc     TEXT COLLATE "C" NOT NULL,
    direction    TEXT NOT NULL,
    size         BIGINT NOT NULL,
    truncated    BOOLEAN NOT NULL,
    folder       SMALLINT NOT NULL,
    flags        SMALLINT NOT NULL,
    removed      BOOLEAN NOT NULL DEFAULT false,
    record_json  TEXT NOT NULL,
    delivered_at TEXT NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    UNIQUE (mailbox, dedupe_key)
);
CREATE INDEX inbox_messages_by_mailbox ON inbox_messages (mailbox, id);
CREATE TABLE inbox_locations (
    mailbox       TEXT NOT NULL,
    remote_folder TEXT NOT NULL,
    uid_validity  BIGINT NOT NULL,
    uid           BIGINT NOT NULL,
    message       BIGINT NOT NULL REFERENCES inbox_messages (id),
    folder        SMALLINT NOT NULL,
    flags         SMALLINT NOT NULL,
    PRIMARY KEY (mailbox, remote_folder, uid_validity, uid)
);
CREATE INDEX inbox_locations_by_message ON inbox_locations (message);
CREATE TABLE inbox_updates (
    id      BIGSERIAL PRIMARY KEY,
    message BIGINT NOT NULL REFERENCES inbox_messages (id),
    what    TEXT NOT NULL,
    at      TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
);
CREATE INDEX inbox_updates_by_message ON inbox_updates (message);
CREATE TABLE sync_runs (
    id          BIGSERIAL PRIMARY KEY,
    mailbox     TEXT NOT NULL,
    report_json TEXT NOT NULL,
    at          TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
);
CREATE INDEX sync_runs_by_mailbox ON sync_runs (mailbox, id);
CREATE TABLE event_outbox (
    id      BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    body    TEXT NOT NULL,
    at      TEXT NOT NULL
        DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
CREATE TABLE webhook_cursors (
    webhook TEXT PRIMARY KEY,
    last_id BIGINT NOT NULL
);
CREATE TABLE admin_choices (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE mailbox_leases (
    mailbox    TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT,
    expires_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX mailbox_leases_by_owner ON mailbox_leases (owner);
INSERT INTO mailbox_leases (mailbox) SELECT mailbox FROM mailbox_providers;
CREATE TABLE cluster_nodes (
    node       TEXT PRIMARY KEY,
    expires_ms BIGINT NOT NULL
);
"#,
    r#"
CREATE TABLE panel_sessions (
    kind       TEXT NOT NULL,
    id_hash    TEXT NOT NULL,
    body       TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (kind, id_hash)
);
"#,
    r#"
ALTER TABLE mailbox_leases ADD COLUMN nudged BOOLEAN NOT NULL DEFAULT false;
-- Each heartbeat looks for its nudges: only the nudged rows are indexed.
CREATE INDEX mailbox_leases_nudged ON mailbox_leases (owner) WHERE nudged;
-- Records are compressed with lz4 where the server has it (pglz, the default, costs several
-- times the CPU); a server built without it keeps pglz.
DO $$ BEGIN
    ALTER TABLE inbox_messages ALTER COLUMN record_json SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN NULL;
END $$;
"#,
    r#"
-- Keys compare byte by byte, as in SQLite, whatever the server's locale; a locale's collation
-- costs each index comparison a call into the C library.
ALTER TABLE inbox_messages
    ALTER COLUMN mailbox TYPE TEXT COLLATE "C",
    ALTER COLUMN dedupe_key TYPE TEXT COLLATE "C";
ALTER TABLE inbox_locations
    ALTER COLUMN mailbox TYPE TEXT COLLATE "C",
    ALTER COLUMN remote_folder TYPE TEXT COLLATE "C";
-- A place or an update names its record by the id the record's own insert returned, and no
-- record is ever deleted, so the reference cannot dangle. Checking it again cost a query and
-- a lock on the record (a write to its row) for every place, as SQLite does not.
ALTER TABLE inbox_locations DROP CONSTRAINT inbox_locations_message_fkey;
ALTER TABLE inbox_updates DROP CONSTRAINT inbox_updates_message_fkey;
"#,
    r#"
-- A state-changing call's turn on a mailbox: held by one node's store while it renews it each
-- second (see `turns.rs`); another may take it once `renewed_ms` is older than the grace.
-- `token` grows with each taking, so a late release never frees a later holder's turn.
CREATE TABLE mailbox_turns (
    mailbox    TEXT COLLATE "C" PRIMARY KEY,
    holder     TEXT,
    token      BIGINT NOT NULL,
    renewed_ms BIGINT NOT NULL
);
-- Events a webhook's receiver never took, set aside after their attempts (`webhooks.rs`).
CREATE TABLE webhook_dead_letters (
    webhook  TEXT COLLATE "C" NOT NULL,
    event_id BIGINT NOT NULL,
    event    TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    error    TEXT NOT NULL,
    at       TEXT NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    PRIMARY KEY (webhook, event_id)
);
-- A message whose last place went: removed only once a whole pass finds it nowhere.
ALTER TABLE inbox_messages ADD COLUMN unplaced BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX inbox_messages_unplaced ON inbox_messages (mailbox) WHERE unplaced;
-- When a node last moved or tried to move each webhook's cursor (ms since the epoch).
ALTER TABLE webhook_cursors ADD COLUMN seen_ms BIGINT NOT NULL DEFAULT 0;
UPDATE webhook_cursors SET seen_ms = (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;
"#,
    r#"
-- A turn's token is a key: a taking, which changes it, waits for the writes fenced by the
-- token before (each holds the row FOR KEY SHARE until it commits), while a renewal, which
-- changes only `renewed_ms`, never waits for them (`turns.rs`, `check_turn`).
CREATE UNIQUE INDEX mailbox_turns_fence ON mailbox_turns (mailbox, token);
"#,
    r#"
-- When each mailbox's messages were sent (ms since the epoch), for its send rates; a day kept.
CREATE TABLE mailbox_sends (
    mailbox TEXT NOT NULL,
    at_ms   BIGINT NOT NULL
);
CREATE INDEX mailbox_sends_by_time ON mailbox_sends (mailbox, at_ms);
"#,
    r#"
-- Each mailbox's outbox: a send is stored, its draft sealed, under the platform's idempotency
-- key before anything goes out; `seq` keeps the order the entries came in.
CREATE TABLE outbox_entries (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    mailbox         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    digest          TEXT NOT NULL,
    draft           BYTEA NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL,
    outcome         TEXT,
    UNIQUE (mailbox, idempotency_key)
);
CREATE INDEX outbox_entries_open ON outbox_entries (mailbox, seq)
    WHERE state IN ('queued', 'sending');
"#,
    r#"
-- The outbox keeps actions (seen, flagged, moves) beside sends, in one order per mailbox.
ALTER TABLE outbox_entries ADD COLUMN kind TEXT NOT NULL DEFAULT 'send';
-- The address a mailbox was linked with, as the host saw the link complete: the only sender
-- its sends may use.
ALTER TABLE mailbox_providers ADD COLUMN address TEXT;
"#,
];

/// The schema version this host writes.
const VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration the database has not had yet, in one transaction.
pub(super) async fn migrate(client: &mut deadpool_postgres::Object) -> StoreResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&locks::MIGRATIONS])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let found: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if found > VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: VERSION,
        });
    }
    for (version, sql) in (1i64..).zip(MIGRATIONS).skip(found as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
