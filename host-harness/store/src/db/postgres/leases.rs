//! Leases in PostgreSQL: the steps of `lease_round` in PostgreSQL's SQL. A node claims free or
//! expired leases with `FOR UPDATE SKIP LOCKED`, so nodes claiming at once take different
//! mailboxes and never wait for each other. Time is the database server's.

use deadpool_postgres::Transaction;

use super::PostgresStore;
use crate::db::lease_round::{self, LeaseTx};
use crate::db::{LeaseRound, LeaseStore, StoreResult};

/// The database's clock, in milliseconds since the epoch.
pub(super) const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

/// One lease round's transaction.
struct PgLeaseTx<'t, 'c> {
    tx: &'t Transaction<'c>,
}

impl LeaseTx for PgLeaseTx<'_, '_> {
    async fn heartbeat(&mut self, node: &str, ttl_ms: i64) -> StoreResult<()> {
        self.tx
            .execute(
                &format!(
                    "INSERT INTO cluster_nodes (node, expires_ms) VALUES ($1, {NOW_MS} + $2)
                     ON CONFLICT (node) DO UPDATE SET expires_ms = excluded.expires_ms"
                ),
                &[&node, &ttl_ms],
            )
            .await?;
        self.tx
            .execute(
                &format!("DELETE FROM cluster_nodes WHERE expires_ms < {NOW_MS}"),
                &[],
            )
            .await?;
        self.tx
            .execute(
                &format!("UPDATE mailbox_leases SET expires_ms = {NOW_MS} + $2 WHERE owner = $1"),
                &[&node, &ttl_ms],
            )
            .await?;
        Ok(())
    }

    async fn held(&mut self, node: &str) -> StoreResult<Vec<String>> {
        let rows = self
            .tx
            .query(
                "SELECT mailbox FROM mailbox_leases WHERE owner = $1 ORDER BY mailbox",
                &[&node],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn census(&mut self) -> StoreResult<(u32, u32)> {
        let counts = self
            .tx
            .query_one(
                "SELECT (SELECT count(*) FROM mailbox_leases), (SELECT count(*) FROM cluster_nodes)",
                &[],
            )
            .await?;
        let count = |i: usize| u32::try_from(counts.get::<_, i64>(i).max(0)).unwrap_or(u32::MAX);
        Ok((count(0), count(1)))
    }

    async fn claim(&mut self, node: &str, ttl_ms: i64, count: u32) -> StoreResult<()> {
        // Leases another node is claiming at this moment are skipped, never waited for.
        self.tx
            .execute(
                &format!(
                    "UPDATE mailbox_leases SET owner = $1, expires_ms = {NOW_MS} + $2
                     WHERE mailbox IN (SELECT mailbox FROM mailbox_leases
                         WHERE owner IS NULL OR expires_ms < {NOW_MS}
                         ORDER BY mailbox LIMIT $3 FOR UPDATE SKIP LOCKED)"
                ),
                &[&node, &ttl_ms, &i64::from(count)],
            )
            .await?;
        Ok(())
    }

    async fn shed(&mut self, node: &str, count: u32) -> StoreResult<()> {
        self.tx
            .execute(
                "UPDATE mailbox_leases SET owner = NULL, expires_ms = 0
                 WHERE mailbox IN (SELECT mailbox FROM mailbox_leases
                     WHERE owner = $1 ORDER BY mailbox DESC LIMIT $2)",
                &[&node, &i64::from(count)],
            )
            .await?;
        Ok(())
    }

    async fn take_nudges(&mut self, node: &str) -> StoreResult<Vec<String>> {
        let rows = self
            .tx
            .query(
                "UPDATE mailbox_leases SET nudged = false WHERE owner = $1 AND nudged
                 RETURNING mailbox",
                &[&node],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

impl LeaseStore for PostgresStore {
    fn lease_round(
        &self,
        node: &str,
        ttl: std::time::Duration,
        max_claims: u32,
    ) -> StoreResult<LeaseRound> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let round =
                lease_round::round(&mut PgLeaseTx { tx: &tx }, node, ttl, max_claims).await?;
            tx.commit().await?;
            Ok(round)
        })
    }

    fn lease_release_all(&self, node: &str) -> StoreResult<()> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "UPDATE mailbox_leases SET owner = NULL, expires_ms = 0 WHERE owner = $1",
                &[&node],
            )
            .await?;
            tx.execute("DELETE FROM cluster_nodes WHERE node = $1", &[&node])
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn lease_holders(&self) -> StoreResult<Vec<(String, Option<String>)>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    &format!(
                        "SELECT mailbox, CASE WHEN expires_ms >= {NOW_MS} THEN owner END
                         FROM mailbox_leases ORDER BY mailbox"
                    ),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn lease_nudge(&self, mailbox: &str) -> StoreResult<()> {
        self.block(async {
            self.client()
                .await?
                .execute(
                    "UPDATE mailbox_leases SET nudged = true WHERE mailbox = $1",
                    &[&mailbox],
                )
                .await?;
            Ok(())
        })
    }
}
