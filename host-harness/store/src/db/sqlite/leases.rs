//! Leases in SQLite: the steps of `lease_round` in SQLite's SQL, for the one process that uses
//! the file, so the service runs alike on both (a lone node claims every mailbox).

use rusqlite::{Transaction, TransactionBehavior, params};

use super::SqliteStore;
use crate::db::lease_round::{self, LeaseTx};
use crate::db::{LeaseRound, LeaseStore, StoreResult};

/// The database's clock, in milliseconds since the epoch.
pub(super) const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// One lease round's transaction.
struct SqliteLeaseTx<'a> {
    tx: Transaction<'a>,
}

impl LeaseTx for SqliteLeaseTx<'_> {
    async fn heartbeat(&mut self, node: &str, ttl_ms: i64) -> StoreResult<()> {
        self.tx.execute(
            &format!(
                "INSERT INTO cluster_nodes (node, expires_ms) VALUES (?1, {NOW_MS} + ?2)
                 ON CONFLICT (node) DO UPDATE SET expires_ms = excluded.expires_ms"
            ),
            params![node, ttl_ms],
        )?;
        self.tx.execute(
            &format!("DELETE FROM cluster_nodes WHERE expires_ms < {NOW_MS}"),
            [],
        )?;
        self.tx.execute(
            &format!("UPDATE mailbox_leases SET expires_ms = {NOW_MS} + ?2 WHERE owner = ?1"),
            params![node, ttl_ms],
        )?;
        Ok(())
    }

    async fn held(&mut self, node: &str) -> StoreResult<Vec<String>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT mailbox FROM mailbox_leases WHERE owner = ?1 ORDER BY mailbox",
        )?;
        let held = stmt
            .query_map(params![node], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(held)
    }

    async fn census(&mut self) -> StoreResult<(u32, u32)> {
        Ok(self.tx.query_row(
            "SELECT (SELECT count(*) FROM mailbox_leases), (SELECT count(*) FROM cluster_nodes)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    async fn claim(&mut self, node: &str, ttl_ms: i64, count: u32) -> StoreResult<()> {
        // One writer: nobody else is claiming.
        self.tx.execute(
            &format!(
                "UPDATE mailbox_leases SET owner = ?1, expires_ms = {NOW_MS} + ?2
                 WHERE mailbox IN (SELECT mailbox FROM mailbox_leases
                     WHERE owner IS NULL OR expires_ms < {NOW_MS} ORDER BY mailbox LIMIT ?3)"
            ),
            params![node, ttl_ms, count],
        )?;
        Ok(())
    }

    async fn shed(&mut self, node: &str, count: u32) -> StoreResult<()> {
        self.tx.execute(
            "UPDATE mailbox_leases SET owner = NULL, expires_ms = 0
             WHERE mailbox IN (SELECT mailbox FROM mailbox_leases
                 WHERE owner = ?1 ORDER BY mailbox DESC LIMIT ?2)",
            params![node, count],
        )?;
        Ok(())
    }

    async fn take_nudges(&mut self, node: &str) -> StoreResult<Vec<String>> {
        let mut stmt = self.tx.prepare_cached(
            "UPDATE mailbox_leases SET nudged = 0 WHERE owner = ?1 AND nudged RETURNING mailbox",
        )?;
        let nudged = stmt
            .query_map(params![node], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(nudged)
    }
}

impl LeaseStore for SqliteStore {
    fn lease_round(
        &self,
        node: &str,
        ttl: std::time::Duration,
        max_claims: u32,
    ) -> StoreResult<LeaseRound> {
        self.with_store(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut leases = SqliteLeaseTx { tx };
            // No step waits, so the round is done when it is first polled.
            let round =
                futures_executor::block_on(lease_round::round(&mut leases, node, ttl, max_claims))?;
            leases.tx.commit()?;
            Ok(round)
        })
    }

    fn lease_release_all(&self, node: &str) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE mailbox_leases SET owner = NULL, expires_ms = 0 WHERE owner = ?1",
                params![node],
            )?;
            tx.execute("DELETE FROM cluster_nodes WHERE node = ?1", params![node])?;
            tx.commit()
        })?;
        Ok(())
    }

    fn lease_holders(&self) -> StoreResult<Vec<(String, Option<String>)>> {
        Ok(self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT mailbox, CASE WHEN expires_ms >= {NOW_MS} THEN owner END
                 FROM mailbox_leases ORDER BY mailbox"
            ))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?)
    }

    fn lease_nudge(&self, mailbox: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE mailbox_leases SET nudged = 1 WHERE mailbox = ?1",
                params![mailbox],
            )
        })?;
        Ok(())
    }
}
