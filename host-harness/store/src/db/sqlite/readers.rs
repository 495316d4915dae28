//! Connections that only read, beside the one that writes: with SQLite's WAL, a reader sees the
//! last commit while a long write goes on, so one mailbox's delivery never holds up another's
//! storage reads. A database in memory has no second connection; it reads on the writer.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

/// Idle readers kept for reuse; more may be open at once while many calls read.
const IDLE_READERS: usize = 8;

pub(super) struct Readers {
    path: Option<PathBuf>,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// Readers of the database file at `path`; `None` for a database in memory.
    pub(super) fn new(path: Option<PathBuf>) -> Self {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A reader, or `None` when the database has no file to open a second connection on.
    pub(super) fn take(&self) -> Option<rusqlite::Result<Connection>> {
        let path = self.path.as_ref()?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Some(idle.map(Ok).unwrap_or_else(|| {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            Ok(conn)
        }))
    }

    pub(super) fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}
