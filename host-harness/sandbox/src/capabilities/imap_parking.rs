//! `imap-socket.park` and `unpark`: the plugin hands its IDLE connection to the host, so no
//! instance stays alive while the server is quiet, and takes it back in the next call. The
//! service's push watcher waits on it meanwhile (`ParkedConnection::wait`).

use std::time::Duration;

use wasmtime::component::Resource;

use crate::bindings::imap_socket::SocketError;
use crate::capabilities::size_cap;
use crate::resources::imap_connection::{Connection, Wake};
use crate::shared::Shared;
use crate::state::HostState;

/// The largest note a parked connection may carry.
pub const MAX_NOTE_BYTES: u64 = 4096;
/// The longest a parked connection waits for its wake-up (servers end IDLE at 30 minutes).
pub const MAX_WAKE_AFTER: Duration = Duration::from_secs(29 * 60);

/// A connection parked by a mailbox's plugin.
pub struct ParkedConnection {
    pub conn: Connection,
    pub note: Vec<u8>,
    /// When the plugin wants to be called again if the server says nothing.
    pub wake_after: Duration,
}

impl ParkedConnection {
    /// Waits for the server or the wake-up time, whichever comes first.
    pub async fn wait(&mut self) -> Wake {
        self.conn.wait_for_data(self.wake_after).await
    }
}

/// Takes `mailbox`'s parked connection, if any.
pub fn take(shared: &Shared, mailbox: &str) -> Option<ParkedConnection> {
    let parked = shared.parked.take(mailbox)?;
    parked.downcast::<ParkedConnection>().ok().map(|p| *p)
}

/// Parks `parked` for `mailbox` again (after watching it); one parked before is closed.
pub fn put(shared: &Shared, mailbox: &str, parked: ParkedConnection) {
    drop(shared.parked.put(mailbox, Box::new(parked)));
}

impl HostState {
    pub(super) fn park(
        &mut self,
        conn: Resource<Connection>,
        note: Vec<u8>,
        wake_after_seconds: u32,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        // The connection is the host's again either way: refused, it is closed.
        let mut conn = self.table.delete(conn)?;
        // Whichever call unparks it may only read: a connection a `send` call opened to write
        // cannot be handed on to a later sync or watch that way.
        conn.restrict_to_reading();
        self.open_connections = self.open_connections.saturating_sub(1);
        if note.len() as u64 > MAX_NOTE_BYTES {
            drop(conn);
            return Ok(Err(SocketError::TooLarge(size_cap(
                MAX_NOTE_BYTES,
                note.len() as u64,
            ))));
        }
        let wake_after = Duration::from_secs(wake_after_seconds.into()).min(MAX_WAKE_AFTER);
        let parked = ParkedConnection {
            conn,
            note,
            wake_after,
        };
        put(&self.shared, &self.mailbox.id, parked);
        Ok(Ok(()))
    }

    pub(super) fn unpark(&mut self) -> wasmtime::Result<Option<(Resource<Connection>, Vec<u8>)>> {
        let Some(parked) = take(&self.shared, &self.mailbox.id) else {
            return Ok(None);
        };
        self.open_connections += 1;
        Ok(Some((self.table.push(parked.conn)?, parked.note)))
    }
}
