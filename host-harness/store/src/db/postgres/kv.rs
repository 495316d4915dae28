//! The plugin's storage in PostgreSQL: sealed values per mailbox and key, each mailbox's usage
//! counted as writes happen, and the provider record. A mailbox's writes take its lock, so two
//! nodes never count its usage from the same starting point.

use deadpool_postgres::Transaction;

use super::{MailboxLock, PostgresStore, lock_mailbox, locks};
use crate::db::quota::allows;
use crate::db::{KvStore, KvWrite, OverQuota, Quota, Reseal, StoreResult, Usage};
use crate::outbox_store::SEALED_DRAFT_PREFIX;
use crate::turns::Fence;

/// The mailbox's usage as counted, counting it from its rows the first time.
async fn usage(tx: &Transaction<'_>, mailbox: &str) -> StoreResult<Usage> {
    let counted = tx
        .prepare_cached("SELECT keys, bytes FROM plugin_kv_usage WHERE mailbox = $1")
        .await?;
    let counted = tx.query_opt(&counted, &[&mailbox]).await?;
    let row = match counted {
        Some(row) => row,
        None => {
            tx.query_one(
                "SELECT count(*), coalesce(sum(octet_length(key) + octet_length(value)), 0)::BIGINT
                 FROM plugin_kv WHERE mailbox = $1",
                &[&mailbox],
            )
            .await?
        }
    };
    Ok(Usage {
        keys: row.get::<_, i64>(0).max(0) as u64,
        bytes: row.get::<_, i64>(1).max(0) as u64,
    })
}

impl KvStore for PostgresStore {
    fn kv_get_sealed(&self, mailbox: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.block(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached("SELECT value FROM plugin_kv WHERE mailbox = $1 AND key = $2")
                .await?;
            let row = client.query_opt(&statement, &[&mailbox, &key]).await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn kv_list(&self, mailbox: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT key FROM plugin_kv WHERE mailbox = $1 AND starts_with(key, $2) ORDER BY key",
                    &[&mailbox, &prefix],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn kv_write_sealed(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        writes: &[KvWrite],
        quota: Option<Quota>,
    ) -> StoreResult<Result<(), OverQuota>> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            lock_mailbox(&tx, MailboxLock::Storage, mailbox).await?;
            if let Some(turn) = turn {
                super::turns::check_turn(&tx, mailbox, turn).await?;
            }
            let before = usage(&tx, mailbox).await?;
            let (mut bytes, mut count) = (before.bytes as i128, before.keys as i128);
            let old_size = tx
                .prepare_cached(
                    "SELECT (octet_length(key) + octet_length(value))::BIGINT FROM plugin_kv
                     WHERE mailbox = $1 AND key = $2",
                )
                .await?;
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO plugin_kv (mailbox, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (mailbox, key) DO UPDATE SET value = excluded.value",
                )
                .await?;
            let delete = tx
                .prepare_cached("DELETE FROM plugin_kv WHERE mailbox = $1 AND key = $2")
                .await?;
            for write in writes {
                let key = write.key();
                if let Some(old) = tx.query_opt(&old_size, &[&mailbox, &key]).await? {
                    bytes -= i128::from(old.get::<_, i64>(0));
                    count -= 1;
                }
                match write {
                    KvWrite::Set(key, sealed) => {
                        bytes += (key.len() + sealed.len()) as i128;
                        count += 1;
                        tx.execute(&upsert, &[&mailbox, key, sealed]).await?
                    }
                    KvWrite::Delete(key) => tx.execute(&delete, &[&mailbox, key]).await?,
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
            let count = tx
                .prepare_cached(
                    "INSERT INTO plugin_kv_usage (mailbox, keys, bytes) VALUES ($1, $2, $3)
                     ON CONFLICT (mailbox) DO UPDATE SET keys = excluded.keys, bytes = excluded.bytes",
                )
                .await?;
            tx.execute(&count, &[&mailbox, &(after.keys as i64), &(after.bytes as i64)])
                .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn kv_usage(&self, mailbox: &str) -> StoreResult<Usage> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            usage(&tx, mailbox).await
        })
    }

    fn kv_reseal(&self, only_clear: bool, reseal: &mut Reseal<'_>) -> StoreResult<u64> {
        let magic = only_clear.then_some(&crate::at_rest::MAGIC[..]);
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&locks::RESEAL])
                .await?;
            let rows = tx
                .query(
                    "SELECT mailbox, key, value FROM plugin_kv
                     WHERE $1::bytea IS NULL OR substring(value FROM 1 FOR 4) <> $1
                     FOR UPDATE",
                    &[&magic],
                )
                .await?;
            // The outboxes' drafts, sealed as the plugin's values are, under a name of their own.
            let drafts = tx
                .query(
                    "SELECT mailbox, id, draft FROM outbox_entries
                     WHERE octet_length(draft) > 0
                       AND ($1::bytea IS NULL OR substring(draft FROM 1 FOR 4) <> $1)
                     FOR UPDATE",
                    &[&magic],
                )
                .await?;
            // Nothing in clear (every open, once sealed): nothing changes, usage stays counted.
            if rows.is_empty() && drafts.is_empty() {
                return Ok(0);
            }
            let mut replaced = 0;
            for row in &rows {
                let (mailbox, key, value): (&str, &str, &[u8]) =
                    (row.get(0), row.get(1), row.get(2));
                if let Some(next) = reseal(mailbox, key, value)? {
                    tx.execute(
                        "UPDATE plugin_kv SET value = $3 WHERE mailbox = $1 AND key = $2",
                        &[&mailbox, &key, &next],
                    )
                    .await?;
                    replaced += 1;
                }
            }
            for row in &drafts {
                let (mailbox, id, draft): (&str, &str, &[u8]) =
                    (row.get(0), row.get(1), row.get(2));
                let name = format!("{SEALED_DRAFT_PREFIX}{id}");
                if let Some(next) = reseal(mailbox, &name, draft)? {
                    tx.execute(
                        "UPDATE outbox_entries SET draft = $2 WHERE id = $1",
                        &[&id, &next],
                    )
                    .await?;
                    replaced += 1;
                }
            }
            tx.execute("DELETE FROM plugin_kv_usage", &[]).await?;
            tx.commit().await?;
            Ok(replaced)
        })
    }

    fn mailbox_provider(&self, mailbox: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT provider FROM mailbox_providers WHERE mailbox = $1",
                    &[&mailbox],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn linked_address(&self, mailbox: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT address FROM mailbox_providers WHERE mailbox = $1",
                    &[&mailbox],
                )
                .await?;
            Ok(row.and_then(|r| r.get(0)))
        })
    }

    fn set_linked_address(&self, mailbox: &str, address: &str) -> StoreResult<()> {
        self.block(async {
            self.client()
                .await?
                .execute(
                    "UPDATE mailbox_providers SET address = $2 WHERE mailbox = $1",
                    &[&mailbox, &address],
                )
                .await?;
            Ok(())
        })
    }

    fn mailboxes_with_provider(&self) -> StoreResult<Vec<String>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT mailbox FROM mailbox_providers ORDER BY mailbox",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn set_mailbox_provider(&self, mailbox: &str, provider: Option<&str>) -> StoreResult<()> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            match provider {
                Some(p) => {
                    tx.execute(
                        "INSERT INTO mailbox_providers (mailbox, provider) VALUES ($1, $2)
                         ON CONFLICT (mailbox) DO UPDATE SET provider = excluded.provider",
                        &[&mailbox, &p],
                    )
                    .await?;
                    // A mailbox with a provider has a lease, free until a node claims it.
                    tx.execute(
                        "INSERT INTO mailbox_leases (mailbox) VALUES ($1) ON CONFLICT DO NOTHING",
                        &[&mailbox],
                    )
                    .await?
                }
                None => {
                    tx.execute(
                        "DELETE FROM mailbox_providers WHERE mailbox = $1",
                        &[&mailbox],
                    )
                    .await?;
                    tx.execute("DELETE FROM mailbox_leases WHERE mailbox = $1", &[&mailbox])
                        .await?
                }
            };
            tx.commit().await?;
            Ok(())
        })
    }

    fn sends_since(&self, mailbox: &str, since_ms: i64) -> StoreResult<Vec<i64>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT at_ms FROM mailbox_sends WHERE mailbox = $1 AND at_ms >= $2
                     ORDER BY at_ms",
                    &[&mailbox, &since_ms],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn record_send(&self, mailbox: &str, at_ms: i64, forget_before_ms: i64) -> StoreResult<()> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "DELETE FROM mailbox_sends WHERE mailbox = $1 AND at_ms < $2",
                &[&mailbox, &forget_before_ms],
            )
            .await?;
            tx.execute(
                "INSERT INTO mailbox_sends (mailbox, at_ms) VALUES ($1, $2)",
                &[&mailbox, &at_ms],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
