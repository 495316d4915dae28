//! The panel's tickets and sessions in PostgreSQL (see `PanelStore`), shared by every node.

use super::PostgresStore;
use super::leases::NOW_MS;
use crate::db::{PanelStore, StoreResult};

impl PanelStore for PostgresStore {
    fn panel_put(
        &self,
        kind: &str,
        id_hash: &str,
        body: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<()> {
        let ttl_ms = ttl.as_millis() as i64;
        self.block(async {
            let client = self.client().await?;
            client
                .execute(
                    &format!(
                        "DELETE FROM panel_sessions WHERE kind = $1 AND expires_ms < {NOW_MS}"
                    ),
                    &[&kind],
                )
                .await?;
            client
                .execute(
                    &format!(
                        "INSERT INTO panel_sessions (kind, id_hash, body, expires_ms)
                         VALUES ($1, $2, $3, {NOW_MS} + $4)"
                    ),
                    &[&kind, &id_hash, &body, &ttl_ms],
                )
                .await?;
            Ok(())
        })
    }

    fn panel_get(&self, kind: &str, id_hash: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    &format!(
                        "SELECT body FROM panel_sessions
                         WHERE kind = $1 AND id_hash = $2 AND expires_ms >= {NOW_MS}"
                    ),
                    &[&kind, &id_hash],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn panel_take(&self, kind: &str, id_hash: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    &format!(
                        "DELETE FROM panel_sessions
                         WHERE kind = $1 AND id_hash = $2 AND expires_ms >= {NOW_MS} RETURNING body"
                    ),
                    &[&kind, &id_hash],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }
}
