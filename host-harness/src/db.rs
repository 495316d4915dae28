//! The host's SQLite database: the plugin's key-value storage (scoped per mailbox) and which
//! provider each mailbox was linked through (the host's own record, which scopes the grants).
//! The CRM's inbox tables are in `inbox_store`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS plugin_kv (
    mailbox TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   BLOB NOT NULL,
    PRIMARY KEY (mailbox, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mailbox_providers (
    mailbox  TEXT PRIMARY KEY,
    provider TEXT NOT NULL
) WITHOUT ROWID;
";

/// One key-value write of a batch.
pub enum KvWrite {
    Set(String, Vec<u8>),
    Delete(String),
}

#[derive(Clone)]
pub struct Database {
    conn: Arc<Mutex<Connection>>,
}

impl Database {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        Self::init(Connection::open(path)?)
    }

    pub fn open_in_memory() -> rusqlite::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> rusqlite::Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(crate::inbox_store::SCHEMA)?;
        Ok(Database {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `op` on a blocking thread, off the async workers; a failure comes back as its text.
    pub async fn run_blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let db = self.clone();
        match tokio::task::spawn_blocking(move || op(&db)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn)
    }

    pub fn kv_get(&self, mailbox: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.with(|c| {
            c.query_row(
                "SELECT value FROM plugin_kv WHERE mailbox = ?1 AND key = ?2",
                params![mailbox, key],
                |row| row.get(0),
            )
            .optional()
        })
    }

    pub fn kv_list(&self, mailbox: &str, prefix: &str) -> rusqlite::Result<Vec<String>> {
        self.with(|c| {
            // Prefix match by range, so `%` and `_` in keys mean nothing special.
            let mut stmt = c.prepare_cached(
                "SELECT key FROM plugin_kv WHERE mailbox = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![mailbox, prefix], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// All the writes in one transaction.
    pub fn kv_write(&self, mailbox: &str, writes: &[KvWrite]) -> rusqlite::Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for write in writes {
                match write {
                    KvWrite::Set(key, value) => tx.execute(
                        "INSERT INTO plugin_kv (mailbox, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (mailbox, key) DO UPDATE SET value = excluded.value",
                        params![mailbox, key, value],
                    )?,
                    KvWrite::Delete(key) => tx.execute(
                        "DELETE FROM plugin_kv WHERE mailbox = ?1 AND key = ?2",
                        params![mailbox, key],
                    )?,
                };
            }
            tx.commit()
        })
    }

    /// The provider the platform chose for `mailbox`, if any.
    pub fn mailbox_provider(&self, mailbox: &str) -> rusqlite::Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT provider FROM mailbox_providers WHERE mailbox = ?1",
                params![mailbox],
                |row| row.get(0),
            )
            .optional()
        })
    }

    /// Records (or with `None`, forgets) the provider of `mailbox`.
    pub fn set_mailbox_provider(
        &self,
        mailbox: &str,
        provider: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.with(|c| {
            match provider {
                Some(p) => c.execute(
                    "INSERT INTO mailbox_providers (mailbox, provider) VALUES (?1, ?2)
                     ON CONFLICT (mailbox) DO UPDATE SET provider = excluded.provider",
                    params![mailbox, p],
                )?,
                None => c.execute(
                    "DELETE FROM mailbox_providers WHERE mailbox = ?1",
                    params![mailbox],
                )?,
            };
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_scoped_per_mailbox() {
        let db = Database::open_in_memory().unwrap();
        db.kv_write("a", &[KvWrite::Set("k".into(), b"1".to_vec())])
            .unwrap();
        assert_eq!(db.kv_get("a", "k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.kv_get("b", "k").unwrap(), None);
        assert!(db.kv_list("b", "").unwrap().is_empty());
    }

    #[test]
    fn list_by_prefix_treats_wildcards_literally() {
        let db = Database::open_in_memory().unwrap();
        let set = |k: &str| KvWrite::Set(k.into(), vec![]);
        db.kv_write("a", &[set("f%/1"), set("f%/2"), set("fx/1"), set("g")])
            .unwrap();
        assert_eq!(db.kv_list("a", "f%/").unwrap(), ["f%/1", "f%/2"]);
    }
}
