//! The panel's tickets and sessions in SQLite (see `PanelStore`).

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::leases::NOW_MS;
use crate::db::{PanelStore, StoreResult};

impl PanelStore for SqliteStore {
    fn panel_put(
        &self,
        kind: &str,
        id_hash: &str,
        body: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<()> {
        let ttl_ms = ttl.as_millis() as i64;
        self.with(|c| {
            c.execute(
                &format!("DELETE FROM panel_sessions WHERE kind = ?1 AND expires_ms < {NOW_MS}"),
                params![kind],
            )?;
            c.execute(
                &format!(
                    "INSERT INTO panel_sessions (kind, id_hash, body, expires_ms)
                     VALUES (?1, ?2, ?3, {NOW_MS} + ?4)"
                ),
                params![kind, id_hash, body, ttl_ms],
            )
        })?;
        Ok(())
    }

    fn panel_get(&self, kind: &str, id_hash: &str) -> StoreResult<Option<String>> {
        Ok(self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT body FROM panel_sessions
                     WHERE kind = ?1 AND id_hash = ?2 AND expires_ms >= {NOW_MS}"
                ),
                params![kind, id_hash],
                |r| r.get(0),
            )
            .optional()
        })?)
    }

    fn panel_take(&self, kind: &str, id_hash: &str) -> StoreResult<Option<String>> {
        Ok(self.with(|c| {
            c.query_row(
                &format!(
                    "DELETE FROM panel_sessions
                     WHERE kind = ?1 AND id_hash = ?2 AND expires_ms >= {NOW_MS} RETURNING body"
                ),
                params![kind, id_hash],
                |r| r.get(0),
            )
            .optional()
        })?)
    }
}
