//! Leases in PostgreSQL: each node's heartbeat renews what it holds, and claims its fair share
//! of free or expired leases with `FOR UPDATE SKIP LOCKED`, so nodes claiming at once take
//! different mailboxes and never wait for each other. Time is the database server's.

use deadpool_postgres::Transaction;

use super::PostgresStore;
use crate::db::{LeaseMove, LeaseRound, LeaseStore, StoreResult, lease_plan};

/// The database's clock, in milliseconds since the epoch.
pub(super) const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

async fn held(tx: &Transaction<'_>, node: &str) -> StoreResult<Vec<String>> {
    let rows = tx
        .query(
            "SELECT mailbox FROM mailbox_leases WHERE owner = $1 ORDER BY mailbox",
            &[&node],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

impl LeaseStore for PostgresStore {
    fn lease_round(
        &self,
        node: &str,
        ttl: std::time::Duration,
        max_claims: u32,
    ) -> StoreResult<LeaseRound> {
        let ttl_ms = ttl.as_millis() as i64;
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute(
                &format!(
                    "INSERT INTO cluster_nodes (node, expires_ms) VALUES ($1, {NOW_MS} + $2)
                     ON CONFLICT (node) DO UPDATE SET expires_ms = excluded.expires_ms"
                ),
                &[&node, &ttl_ms],
            )
            .await?;
            tx.execute(
                &format!("DELETE FROM cluster_nodes WHERE expires_ms < {NOW_MS}"),
                &[],
            )
            .await?;
            tx.execute(
                &format!("UPDATE mailbox_leases SET expires_ms = {NOW_MS} + $2 WHERE owner = $1"),
                &[&node, &ttl_ms],
            )
            .await?;
            let holding = held(&tx, node).await?.len() as u32;
            let counts = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM mailbox_leases), (SELECT count(*) FROM cluster_nodes)",
                    &[],
                )
                .await?;
            let mailboxes = counts.get::<_, i64>(0).max(0) as u32;
            let nodes = counts.get::<_, i64>(1).max(0) as u32;
            match lease_plan(holding, mailboxes, nodes, max_claims) {
                LeaseMove::Claim(k) => {
                    tx.execute(
                        &format!(
                            "UPDATE mailbox_leases SET owner = $1, expires_ms = {NOW_MS} + $2
                             WHERE mailbox IN (SELECT mailbox FROM mailbox_leases
                                 WHERE owner IS NULL OR expires_ms < {NOW_MS}
                                 ORDER BY mailbox LIMIT $3 FOR UPDATE SKIP LOCKED)"
                        ),
                        &[&node, &ttl_ms, &i64::from(k)],
                    )
                    .await?
                }
                LeaseMove::Shed(k) => {
                    tx.execute(
                        "UPDATE mailbox_leases SET owner = NULL, expires_ms = 0
                         WHERE mailbox IN (SELECT mailbox FROM mailbox_leases
                             WHERE owner = $1 ORDER BY mailbox DESC LIMIT $2)",
                        &[&node, &i64::from(k)],
                    )
                    .await?
                }
                LeaseMove::Stay => 0,
            };
            let held = held(&tx, node).await?;
            let nudged = tx
                .query(
                    "UPDATE mailbox_leases SET nudged = false WHERE owner = $1 AND nudged
                     RETURNING mailbox",
                    &[&node],
                )
                .await?;
            tx.commit().await?;
            Ok(LeaseRound {
                held,
                nodes,
                mailboxes,
                nudged: nudged.iter().map(|r| r.get(0)).collect(),
            })
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
