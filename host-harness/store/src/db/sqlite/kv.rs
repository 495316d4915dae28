//! The plugin's storage in SQLite: sealed values per mailbox and key, each mailbox's usage
//! counted as writes happen (one row per mailbox), and the provider record.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::SqliteStore;
use crate::db::quota::allows;
use crate::db::{KvStore, KvWrite, OverQuota, Quota, Reseal, StoreResult, Usage};
use crate::outbox_store::SEALED_DRAFT_PREFIX;
use crate::turns::Fence;

/// The mailbox's usage as counted, counting it from its rows the first time.
fn usage(tx: &Transaction<'_>, mailbox: &str) -> rusqlite::Result<Usage> {
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
fn row_bytes(tx: &Transaction<'_>, mailbox: &str, key: &str) -> rusqlite::Result<Option<u64>> {
    tx.prepare_cached(
        "SELECT length(CAST(key AS BLOB)) + length(value) FROM plugin_kv WHERE mailbox = ?1 AND key = ?2",
    )?
    .query_row(params![mailbox, key], |r| r.get::<_, i64>(0))
    .optional()
    .map(|n| n.map(|n| n.max(0) as u64))
}

fn save_usage(tx: &Transaction<'_>, mailbox: &str, usage: Usage) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO plugin_kv_usage (mailbox, keys, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (mailbox) DO UPDATE SET keys = excluded.keys, bytes = excluded.bytes",
        params![mailbox, usage.keys as i64, usage.bytes as i64],
    )?;
    Ok(())
}

impl KvStore for SqliteStore {
    fn kv_get_sealed(&self, mailbox: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read(|c| {
            c.query_row(
                "SELECT value FROM plugin_kv WHERE mailbox = ?1 AND key = ?2",
                params![mailbox, key],
                |row| row.get(0),
            )
            .optional()
        })?)
    }

    fn kv_list(&self, mailbox: &str, prefix: &str) -> StoreResult<Vec<String>> {
        Ok(self.read(|c| {
            // Prefix match by range, so `%` and `_` in keys mean nothing special.
            let mut stmt = c.prepare_cached(
                "SELECT key FROM plugin_kv WHERE mailbox = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![mailbox, prefix], |row| row.get(0))?;
            rows.collect()
        })?)
    }

    fn kv_write_sealed(
        &self,
        // One process uses the file; its turns carry no fence (see `check_turn` of the inbox).
        _turn: Option<&Fence>,
        mailbox: &str,
        writes: &[KvWrite],
        quota: Option<Quota>,
    ) -> StoreResult<Result<(), OverQuota>> {
        Ok(self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let before = usage(&tx, mailbox)?;
            let (mut bytes, mut count) = (before.bytes as i128, before.keys as i128);
            for write in writes {
                if let Some(old) = row_bytes(&tx, mailbox, write.key())? {
                    bytes -= i128::from(old);
                    count -= 1;
                }
                match write {
                    KvWrite::Set(key, sealed) => {
                        bytes += (key.len() + sealed.len()) as i128;
                        count += 1;
                        tx.execute(
                            "INSERT INTO plugin_kv (mailbox, key, value) VALUES (?1, ?2, ?3)
                             ON CONFLICT (mailbox, key) DO UPDATE SET value = excluded.value",
                            params![mailbox, key, sealed],
                        )?
                    }
                    KvWrite::Delete(key) => tx.execute(
                        "DELETE FROM plugin_kv WHERE mailbox = ?1 AND key = ?2",
                        params![mailbox, key],
                    )?,
                };
            }
            let after = Usage {
                bytes: bytes.max(0) as u64,
                keys: count.max(0) as u64,
            };
            if !allows(quota, before, after) {
                // Dropping the transaction rolls it back.
                return Ok(Err(OverQuota {
                    quota: quota.expect("allows() refuses only under a quota"),
                    would_use: after,
                }));
            }
            save_usage(&tx, mailbox, after)?;
            tx.commit()?;
            Ok(Ok(()))
        })?)
    }

    fn kv_usage(&self, mailbox: &str) -> StoreResult<Usage> {
        Ok(self.with(|c| usage(&c.transaction()?, mailbox))?)
    }

    fn kv_reseal(&self, only_clear: bool, reseal: &mut Reseal<'_>) -> StoreResult<u64> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // At every open only values still in clear are read, not the whole table.
        let magic = only_clear.then_some(&crate::at_rest::MAGIC[..]);
        let rows: Vec<(String, String, Vec<u8>)> = tx
            .prepare(
                "SELECT mailbox, key, value FROM plugin_kv
                 WHERE ?1 IS NULL OR substr(value, 1, 4) != ?1",
            )?
            .query_map(params![magic], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut replaced = 0;
        for (mailbox, key, value) in &rows {
            if let Some(next) = reseal(mailbox, key, value)? {
                tx.execute(
                    "UPDATE plugin_kv SET value = ?3 WHERE mailbox = ?1 AND key = ?2",
                    params![mailbox, key, next],
                )?;
                replaced += 1;
            }
        }
        // The outboxes' drafts, sealed as the plugin's values are, under a name of their own.
        let drafts: Vec<(String, String, Vec<u8>)> = tx
            .prepare(
                "SELECT mailbox, id, draft FROM outbox_entries
                 WHERE length(draft) > 0 AND (?1 IS NULL OR substr(draft, 1, 4) != ?1)",
            )?
            .query_map(params![magic], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (mailbox, id, draft) in &drafts {
            let name = format!("{SEALED_DRAFT_PREFIX}{id}");
            if let Some(next) = reseal(mailbox, &name, draft)? {
                tx.execute(
                    "UPDATE outbox_entries SET draft = ?2 WHERE id = ?1",
                    params![id, next],
                )?;
                replaced += 1;
            }
        }
        // Values change length with their sealing: each mailbox's usage is counted again, from
        // its own rows, at its next write.
        tx.execute("DELETE FROM plugin_kv_usage", [])?;
        tx.commit()?;
        if replaced > 0 {
            // Into the database file at once, where secure_delete overwrites the old values,
            // and out of the WAL.
            tx_checkpoint(&conn)?;
        }
        Ok(replaced)
    }

    fn mailbox_provider(&self, mailbox: &str) -> StoreResult<Option<String>> {
        Ok(self.read(|c| {
            c.query_row(
                "SELECT provider FROM mailbox_providers WHERE mailbox = ?1",
                params![mailbox],
                |row| row.get(0),
            )
            .optional()
        })?)
    }

    fn linked_address(&self, mailbox: &str) -> StoreResult<Option<String>> {
        Ok(self
            .read(|c| {
                c.query_row(
                    "SELECT address FROM mailbox_providers WHERE mailbox = ?1",
                    params![mailbox],
                    |row| row.get(0),
                )
                .optional()
            })?
            .flatten())
    }

    fn set_linked_address(&self, mailbox: &str, address: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE mailbox_providers SET address = ?2 WHERE mailbox = ?1",
                params![mailbox, address],
            )
        })?;
        Ok(())
    }

    fn mailboxes_with_provider(&self) -> StoreResult<Vec<String>> {
        Ok(self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT mailbox FROM mailbox_providers ORDER BY mailbox")?;
            stmt.query_map([], |row| row.get(0))?.collect()
        })?)
    }

    fn set_mailbox_provider(&self, mailbox: &str, provider: Option<&str>) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match provider {
                Some(p) => {
                    tx.execute(
                        "INSERT INTO mailbox_providers (mailbox, provider) VALUES (?1, ?2)
                         ON CONFLICT (mailbox) DO UPDATE SET provider = excluded.provider",
                        params![mailbox, p],
                    )?;
                    // A mailbox with a provider has a lease, free until a node claims it.
                    tx.execute(
                        "INSERT INTO mailbox_leases (mailbox) VALUES (?1) ON CONFLICT DO NOTHING",
                        params![mailbox],
                    )?
                }
                None => {
                    tx.execute(
                        "DELETE FROM mailbox_providers WHERE mailbox = ?1",
                        params![mailbox],
                    )?;
                    tx.execute(
                        "DELETE FROM mailbox_leases WHERE mailbox = ?1",
                        params![mailbox],
                    )?
                }
            };
            tx.commit()
        })?;
        Ok(())
    }

    fn sends_since(&self, mailbox: &str, since_ms: i64) -> StoreResult<Vec<i64>> {
        Ok(self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT at_ms FROM mailbox_sends WHERE mailbox = ?1 AND at_ms >= ?2
                 ORDER BY at_ms",
            )?;
            stmt.query_map(params![mailbox, since_ms], |row| row.get(0))?
                .collect()
        })?)
    }

    fn record_send(&self, mailbox: &str, at_ms: i64, forget_before_ms: i64) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM mailbox_sends WHERE mailbox = ?1 AND at_ms < ?2",
                params![mailbox, forget_before_ms],
            )?;
            tx.execute(
                "INSERT INTO mailbox_sends (mailbox, at_ms) VALUES (?1, ?2)",
                params![mailbox, at_ms],
            )?;
            tx.commit()
        })?;
        Ok(())
    }
}

fn tx_checkpoint(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}
