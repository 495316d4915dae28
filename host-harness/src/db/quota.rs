//! What one mailbox may keep in the plugin's storage: bytes and keys, counted as writes happen
//! (one row per mailbox), so a batch over the quota is refused before it commits.

use rusqlite::{OptionalExtension, Transaction, params};

/// A mailbox's storage allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub bytes: u64,
    pub keys: u64,
}

/// What a mailbox holds, or would hold after a refused batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub bytes: u64,
    pub keys: u64,
}

/// A batch that would take a mailbox over its quota; nothing of it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the mailbox's storage would hold {} bytes in {} keys; its quota is {} bytes and {} keys",
    .would_use.bytes, .would_use.keys, .quota.bytes, .quota.keys
)]
pub struct OverQuota {
    pub quota: Quota,
    pub would_use: Usage,
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS plugin_kv_usage (
    mailbox TEXT PRIMARY KEY,
    keys    INTEGER NOT NULL,
    bytes   INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The mailbox's usage as counted, counting it from its rows the first time.
pub(super) fn usage(tx: &Transaction<'_>, mailbox: &str) -> rusqlite::Result<Usage> {
    let counted = tx
        .query_row(
            "SELECT keys, bytes FROM plugin_kv_usage WHERE mailbox = ?1",
            params![mailbox],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .optional()?;
    let (keys, bytes) = match counted {
        Some(c) => c,
        None => tx.query_row(
            "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0) FROM plugin_kv WHERE mailbox = ?1",
            params![mailbox],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?,
    };
    Ok(Usage {
        keys: keys.max(0) as u64,
        bytes: bytes.max(0) as u64,
    })
}

/// The stored size of `key`'s row (key and sealed value), if there is one.
pub(super) fn row_bytes(
    tx: &Transaction<'_>,
    mailbox: &str,
    key: &str,
) -> rusqlite::Result<Option<u64>> {
    tx.prepare_cached(
        "SELECT length(CAST(key AS BLOB)) + length(value) FROM plugin_kv WHERE mailbox = ?1 AND key = ?2",
    )?
    .query_row(params![mailbox, key], |r| r.get::<_, i64>(0))
    .optional()
    .map(|n| n.map(|n| n.max(0) as u64))
}

pub(super) fn save(tx: &Transaction<'_>, mailbox: &str, usage: Usage) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO plugin_kv_usage (mailbox, keys, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (mailbox) DO UPDATE SET keys = excluded.keys, bytes = excluded.bytes",
        params![mailbox, usage.keys as i64, usage.bytes as i64],
    )?;
    Ok(())
}

/// Whether a batch that takes usage from `before` to `after` may commit: within the quota, or
/// not growing (a mailbox over its quota may always delete).
pub(super) fn allows(quota: Option<Quota>, before: Usage, after: Usage) -> bool {
    let Some(q) = quota else {
        return true;
    };
    let within = after.bytes <= q.bytes && after.keys <= q.keys;
    let shrinking = after.bytes <= before.bytes && after.keys <= before.keys;
    within || shrinking
}
