//! Leases in SQLite: the same rounds as on PostgreSQL, for the one process that uses the file,
//! so the service runs alike on both (a lone node claims every mailbox).

use rusqlite::{Transaction, TransactionBehavior, params};

use super::SqliteStore;
use crate::db::{LeaseMove, LeaseRound, LeaseStore, StoreResult, lease_plan};

/// The database's clock, in milliseconds since the epoch.
pub(super) const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

fn held(tx: &Transaction<'_>, node: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        tx.prepare_cached("SELECT mailbox FROM mailbox_leases WHERE owner = ?1 ORDER BY mailbox")?;
    stmt.query_map(params![node], |r| r.get(0))?.collect()
}

impl LeaseStore for SqliteStore {
    fn lease_round(
        &self,
        node: &str,
        ttl: std::time::Duration,
        max_claims: u32,
    ) -> StoreResult<LeaseRound> {
        let ttl_ms = ttl.as_millis() as i64;
        Ok(self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                &format!(
                    "INSERT INTO cluster_nodes (node, expires_ms) VALUES (?1, {NOW_MS} + ?2)
                     ON CONFLICT (node) DO UPDATE SET expires_ms = excluded.expires_ms"
                ),
                params![node, ttl_ms],
            )?;
            tx.execute(
                &format!("DELETE FROM cluster_nodes WHERE expires_ms < {NOW_MS}"),
                [],
            )?;
            tx.execute(
                &format!("UPDATE mailbox_leases SET expires_ms = {NOW_MS} + ?2 WHERE owner = ?1"),
                params![node, ttl_ms],
            )?;
            let holding = held(&tx, node)?.len() as u32;
            let (mailboxes, nodes): (u32, u32) = tx.query_row(
                "SELECT (SELECT count(*) FROM mailbox_leases), (SELECT count(*) FROM cluster_nodes)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            match lease_plan(holding, mailboxes, nodes, max_claims) {
                LeaseMove::Claim(k) => tx.execute(
                    &format!(
                        "UPDATE mailbox_leases SET owner = ?1, expires_ms = {NOW_MS} + ?2
                         WHERE mailbox IN (SELECT mailbox FROM mailbox_leases
                             WHERE owner IS NULL OR expires_ms < {NOW_MS} ORDER BY mailbox LIMIT ?3)"
                    ),
                    params![node, ttl_ms, k],
                )?,
                LeaseMove::Shed(k) => tx.execute(
                    "UPDATE mailbox_leases SET owner = NULL, expires_ms = 0
                     WHERE mailbox IN (SELECT mailbox FROM mailbox_leases
                         WHERE owner = ?1 ORDER BY mailbox DESC LIMIT ?2)",
                    params![node, k],
                )?,
                LeaseMove::Stay => 0,
            };
            let held = held(&tx, node)?;
            let nudged = {
                let mut stmt = tx.prepare_cached(
                    "UPDATE mailbox_leases SET nudged = 0 WHERE owner = ?1 AND nudged
                     RETURNING mailbox",
                )?;
                stmt.query_map(params![node], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?
            };
            tx.commit()?;
            Ok(LeaseRound {
                held,
                nodes,
                mailboxes,
                nudged,
            })
        })?)
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
