//! The host's SQLite database: the plugin's key-value storage (scoped per mailbox, every value
//! sealed with the host's key) and which provider each mailbox was linked through (the host's own
//! record, which scopes the grants). The CRM's inbox tables are in `inbox_store`.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension, params};

use crate::at_rest::{KeyRing, SealError};

mod quota;
mod readers;

pub use quota::{OverQuota, Quota, Usage};
use readers::Readers;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA secure_delete = ON;
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

impl KvWrite {
    fn key(&self) -> &str {
        match self {
            KvWrite::Set(key, _) | KvWrite::Delete(key) => key,
        }
    }
}

#[derive(Clone)]
pub struct Database {
    /// The one connection that writes (and reads too, for a database in memory).
    conn: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
    keys: Arc<RwLock<KeyRing>>,
}

/// A storage write that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KvWriteError {
    #[error(transparent)]
    OverQuota(#[from] OverQuota),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// A database that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: {source}")]
    Files {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the secret key: {0}")]
    Key(#[from] crate::at_rest::KeyError),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl Database {
    /// Opens (or creates) the database at `path` with its key from `MAILSYNC_SECRET_KEY`, else
    /// from the key file beside it, made on first use.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let env_key = std::env::var(crate::at_rest::KEY_ENV).ok();
        let (keys, _) = crate::at_rest::load(env_key.as_deref(), None, path)?;
        Self::open_with_keys(path, keys)
    }

    /// Opens (or creates) the database at `path`, its values sealed with `keys`. Its directory is
    /// made with mode 0700 and its files (the WAL and shared memory too) have mode 0600.
    pub fn open_with_keys(path: &Path, keys: KeyRing) -> Result<Self, OpenError> {
        let files = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Files { path, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::file_modes::create_private_dir(dir).map_err(files(dir))?;
        }
        // SQLite gives the WAL and shared-memory files the database file's mode.
        crate::file_modes::ensure_private_file(path).map_err(files(path))?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = path.as_os_str().to_os_string();
            side.push(suffix);
            let side = std::path::PathBuf::from(side);
            if side.exists() {
                crate::file_modes::ensure_private_file(&side).map_err(files(&side))?;
            }
        }
        let db = Self::init(Connection::open(path)?, keys, Some(path.to_path_buf()))?;
        db.seal_plain_values()?;
        Ok(db)
    }

    /// A database in memory, its values sealed with a key that lives as long as it does.
    pub fn open_in_memory() -> rusqlite::Result<Self> {
        Self::init(Connection::open_in_memory()?, KeyRing::ephemeral(), None)
    }

    fn init(
        conn: Connection,
        keys: KeyRing,
        path: Option<std::path::PathBuf>,
    ) -> rusqlite::Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(quota::SCHEMA)?;
        conn.execute_batch(crate::inbox_store::SCHEMA)?;
        conn.execute_batch(crate::event_store::SCHEMA)?;
        conn.execute_batch(crate::admin_store::SCHEMA)?;
        Ok(Database {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Readers::new(path)),
            keys: Arc::new(RwLock::new(keys)),
        })
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// What a value is bound to: its mailbox and key.
    fn context(mailbox: &str, key: &str) -> Vec<u8> {
        [mailbox.as_bytes(), b"\0", key.as_bytes()].concat()
    }

    fn open_value(
        keys: &KeyRing,
        mailbox: &str,
        key: &str,
        value: Vec<u8>,
    ) -> rusqlite::Result<Vec<u8>> {
        if !KeyRing::is_sealed(&value) {
            // Written before values were sealed; sealed when the database is next opened.
            return Ok(value);
        }
        keys.open(&Self::context(mailbox, key), &value)
            .map_err(unreadable)
    }

    /// Seals every value still stored in clear (from before values were sealed).
    fn seal_plain_values(&self) -> rusqlite::Result<()> {
        let keys = self.keys().clone();
        self.with(|c| {
            let tx = c.transaction()?;
            let plain: Vec<(String, String, Vec<u8>)> = tx
                .prepare("SELECT mailbox, key, value FROM plugin_kv WHERE substr(value, 1, 4) != CAST('MSv1' AS BLOB)")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (mailbox, key, value) in plain.iter().filter(|(_, _, v)| !KeyRing::is_sealed(v)) {
                tx.execute(
                    "UPDATE plugin_kv SET value = ?3 WHERE mailbox = ?1 AND key = ?2",
                    params![mailbox, key, keys.seal(&Self::context(mailbox, key), value)],
                )?;
            }
            // Sealed values are longer, and counts kept by older versions may be off (they
            // counted key characters, not bytes): each mailbox's usage is counted again, from
            // its own rows, at its next write.
            tx.execute("DELETE FROM plugin_kv_usage", [])?;
            tx.commit()?;
            if !plain.is_empty() {
                // Into the database file at once, where secure_delete overwrites the old values,
                // and out of the WAL.
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(())
        })
    }

    /// Seals every value again under `keys`' current key, in one transaction; from then on the
    /// database uses `keys`. Returns how many values were sealed again.
    pub fn rotate_key(&self, keys: KeyRing) -> rusqlite::Result<u64> {
        let mut held = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let count = self.with(|c| {
            let tx = c.transaction()?;
            let rows: Vec<(String, String, Vec<u8>)> = tx
                .prepare("SELECT mailbox, key, value FROM plugin_kv")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (mailbox, key, value) in &rows {
                let context = Self::context(mailbox, key);
                let plain = if KeyRing::is_sealed(value) {
                    keys.open(&context, value)
                        .or_else(|_| held.open(&context, value))
                        .map_err(unreadable)?
                } else {
                    value.clone()
                };
                tx.execute(
                    "UPDATE plugin_kv SET value = ?3 WHERE mailbox = ?1 AND key = ?2",
                    params![mailbox, key, keys.seal(&context, &plain)],
                )?;
            }
            // Another key id may change every value's length: usage is counted again.
            tx.execute("DELETE FROM plugin_kv_usage", [])?;
            tx.commit()?;
            // Durable before the new key file replaces the old one, and no value sealed under
            // the retired key left behind in the WAL.
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(rows.len() as u64)
        })?;
        *held = keys;
        Ok(count)
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

    /// Runs a query on a reader: it sees the last commit, and no write waits for it or holds it
    /// up. A database in memory reads on its writer.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        match self.readers.take() {
            None => self.with(|c| f(c)),
            Some(conn) => {
                let conn = conn?;
                let result = f(&conn);
                self.readers.give_back(conn);
                result
            }
        }
    }

    pub fn kv_get(&self, mailbox: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        // Held across the read (keys, then a connection: the order a rotation takes them), so
        // a rotation cannot retire the key of a value between reading and opening it.
        let keys = self.keys();
        let sealed: Option<Vec<u8>> = self.read(|c| {
            c.query_row(
                "SELECT value FROM plugin_kv WHERE mailbox = ?1 AND key = ?2",
                params![mailbox, key],
                |row| row.get(0),
            )
            .optional()
        })?;
        sealed
            .map(|value| Self::open_value(&keys, mailbox, key, value))
            .transpose()
    }

    pub fn kv_list(&self, mailbox: &str, prefix: &str) -> rusqlite::Result<Vec<String>> {
        self.read(|c| {
            // Prefix match by range, so `%` and `_` in keys mean nothing special.
            let mut stmt = c.prepare_cached(
                "SELECT key FROM plugin_kv WHERE mailbox = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![mailbox, prefix], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// All the writes in one transaction, each value sealed, with no quota.
    pub fn kv_write(&self, mailbox: &str, writes: &[KvWrite]) -> rusqlite::Result<()> {
        self.kv_write_within(mailbox, writes, None)
            .map_err(|e| match e {
                KvWriteError::Sqlite(e) => e,
                KvWriteError::OverQuota(_) => unreachable!("no quota was given"),
            })
    }

    /// All the writes in one transaction, each value sealed; refused whole when it would take
    /// the mailbox over `quota` (a batch that does not grow its storage always passes).
    pub fn kv_write_within(
        &self,
        mailbox: &str,
        writes: &[KvWrite],
        quota: Option<Quota>,
    ) -> Result<(), KvWriteError> {
        // Held across the write: a rotation waits for it, so nothing is sealed under a key it
        // has just retired.
        let keys = self.keys();
        self.with(|c| {
            let tx = c.transaction()?;
            let before = quota::usage(&tx, mailbox)?;
            let (mut bytes, mut count) = (before.bytes as i128, before.keys as i128);
            for write in writes {
                let old = quota::row_bytes(&tx, mailbox, write.key())?;
                if let Some(old) = old {
                    bytes -= i128::from(old);
                    count -= 1;
                }
                match write {
                    KvWrite::Set(key, value) => {
                        let sealed = keys.seal(&Self::context(mailbox, key), value);
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
            if !quota::allows(quota, before, after) {
                // Dropping the transaction rolls it back.
                return Ok(Err(OverQuota {
                    quota: quota.expect("allows() refuses only under a quota"),
                    would_use: after,
                }));
            }
            quota::save(&tx, mailbox, after)?;
            tx.commit()?;
            Ok(Ok(()))
        })?
        .map_err(KvWriteError::OverQuota)
    }

    /// What `mailbox` holds in storage.
    pub fn kv_usage(&self, mailbox: &str) -> rusqlite::Result<Usage> {
        self.with(|c| quota::usage(&c.transaction()?, mailbox))
    }

    /// The provider the platform chose for `mailbox`, if any.
    pub fn mailbox_provider(&self, mailbox: &str) -> rusqlite::Result<Option<String>> {
        self.read(|c| {
            c.query_row(
                "SELECT provider FROM mailbox_providers WHERE mailbox = ?1",
                params![mailbox],
                |row| row.get(0),
            )
            .optional()
        })
    }

    /// Every mailbox with a provider recorded (linked, or linking), by id.
    pub fn mailboxes_with_provider(&self) -> rusqlite::Result<Vec<String>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT mailbox FROM mailbox_providers ORDER BY mailbox")?;
            stmt.query_map([], |row| row.get(0))?.collect()
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

/// A stored value that does not open, as a database error naming why.
fn unreadable(e: SealError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
}

#[cfg(test)]
mod tests;
