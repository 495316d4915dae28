//! The SQLite backend: one connection that writes and, with the WAL, readers beside it, so a
//! long write never holds up another mailbox's reads. Embedded, one file, the default.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use super::{AdminStore, Backend, OpenError, StoreResult};
use crate::turns::{InProcessTurns, MailboxTurns};

mod claim;
mod events;
mod inbox_read;
mod inbox_write;
mod kv;
mod leases;
mod migrations;
mod outbox;
mod panel;
mod readers;
#[cfg(test)]
mod tests;

use readers::Readers;

pub(super) struct SqliteStore {
    /// The one connection that writes (and reads too, for a database in memory).
    conn: Mutex<Connection>,
    readers: Readers,
    /// This handle's claim on the file (none in memory).
    claim: Option<claim::Claim>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`: its directory is made with mode 0700 and its
    /// files (the WAL and shared memory too) have mode 0600.
    pub(super) fn open(path: &Path) -> Result<Self, OpenError> {
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
        let mut store = Self::init(Connection::open(path)?, Some(path))?;
        store.claim = Some(claim::Claim::shared(path)?);
        Ok(store)
    }

    pub(super) fn open_in_memory() -> StoreResult<Self> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, path: Option<&Path>) -> StoreResult<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;",
        )?;
        migrations::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            readers: Readers::new(path.map(Path::to_path_buf)),
            claim: None,
        })
    }

    /// The writing connection, for one write at a time.
    fn writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        f(&mut self.writer())
    }

    /// As `with`, for work whose failures are the store's.
    pub(crate) fn with_store<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        f(&mut self.writer())
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
}

impl Backend for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    /// One process uses a SQLite file: its turns are kept in memory.
    fn mailbox_turns(&self) -> Arc<dyn MailboxTurns> {
        Arc::new(InProcessTurns::default())
    }

    fn sole_use(&self) -> StoreResult<crate::db::SoleUse> {
        match &self.claim {
            Some(claim) => claim.sole(),
            // A database in memory has one handle.
            None => Ok(crate::db::SoleUse::new(())),
        }
    }
}

impl AdminStore for SqliteStore {
    fn admin_value(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self.read(|c| {
            c.query_row(
                "SELECT value FROM admin_choices WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
        })?)
    }

    fn set_admin_value(&self, name: &str, value: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO admin_choices (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
        })?;
        Ok(())
    }
}
