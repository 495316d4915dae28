//! `imap-socket`: a byte stream to an IMAP server. The host checks the policy and the resolved
//! addresses, connects with a timeout, does TLS itself, and keeps reading calls read-only.

use wasmtime::component::Resource;

use crate::bindings::imap_socket::{self, Security, SocketError};
use crate::capabilities::connect::{ConnectFailure, connect};
use crate::capabilities::{size_cap, wit_refusal};
use crate::policy::ImapSecurity;
use crate::resources::imap_connection::{Connection, ConnectionError, Protocol};
use crate::shared::Shared;
use crate::state::HostState;

impl imap_socket::Host for HostState {
    async fn open(
        &mut self,
        host: String,
        port: u16,
        security: Security,
    ) -> wasmtime::Result<Result<Resource<Connection>, SocketError>> {
        let provider = self.provider().await?;
        let cap = self.shared.platform().policy.imap_connections_per_call;
        if self.open_connections >= cap {
            let message =
                format!("this call already holds {cap} connections, the most the host allows");
            return Ok(Err(SocketError::InvalidState(message)));
        }
        let per_account = self.shared.platform().policy.imap_connections_per_account;
        let Some(slot) = self.shared.imap_slots.take(&self.mailbox.id, per_account) else {
            let message = format!(
                "this mailbox already holds {per_account} connections, the most the host allows"
            );
            return Ok(Err(SocketError::InvalidState(message)));
        };
        match open(&self.shared, provider.as_deref(), &host, port, security).await {
            Ok(mut conn) => {
                conn.hold(slot);
                // Only a call that acts on the mailbox may change it (a `send`).
                if !self.may_write_mailbox {
                    conn.restrict_to_reading();
                }
                self.open_connections += 1;
                Ok(Ok(self.table.push(conn)?))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn park(
        &mut self,
        conn: Resource<Connection>,
        note: Vec<u8>,
        wake_after_seconds: u32,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        HostState::park(self, conn, note, wake_after_seconds)
    }

    async fn unpark(&mut self) -> wasmtime::Result<Option<(Resource<Connection>, Vec<u8>)>> {
        HostState::unpark(self)
    }
}

async fn open(
    shared: &Shared,
    provider: Option<&str>,
    host: &str,
    port: u16,
    security: Security,
) -> Result<Connection, SocketError> {
    let asked = match security {
        Security::Tls => ImapSecurity::Tls,
        Security::Starttls => ImapSecurity::StartTls,
        Security::Plain => ImapSecurity::Plain,
    };
    let dest = shared
        .platform()
        .policy
        .check_imap(provider, host, port, asked)
        .map_err(|r| SocketError::Refused(wit_refusal(r)))?;
    connect(shared, &dest, asked, Protocol::Imap)
        .await
        .map_err(|e| match e {
            ConnectFailure::Refused(r) => SocketError::Refused(wit_refusal(r)),
            ConnectFailure::ResolveFailed(m) => SocketError::ResolveFailed(m),
            ConnectFailure::TimedOut => SocketError::TimedOut,
            ConnectFailure::ConnectFailed(m) => SocketError::ConnectFailed(m),
            ConnectFailure::Connection(e) => socket_error(e),
        })
}

/// The WIT form of a connection's failure.
fn socket_error(e: ConnectionError) -> SocketError {
    match e {
        ConnectionError::InvalidState(m) => SocketError::InvalidState(m),
        ConnectionError::ReadOnly(m) => SocketError::ReadOnly(m),
        ConnectionError::TimedOut => SocketError::TimedOut,
        ConnectionError::Closed => SocketError::Closed,
        ConnectionError::TlsFailed(m) => SocketError::TlsFailed(m),
        ConnectionError::Io(m) => SocketError::Io(m),
        ConnectionError::TooLarge { limit, actual } => {
            SocketError::TooLarge(size_cap(limit, actual))
        }
    }
}

impl imap_socket::HostConnection for HostState {
    async fn read(
        &mut self,
        conn: Resource<Connection>,
        max_bytes: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, SocketError>> {
        let read = self.table.get_mut(&conn)?.read(max_bytes).await;
        Ok(read.map_err(socket_error))
    }

    async fn write(
        &mut self,
        conn: Resource<Connection>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        let written = self.table.get_mut(&conn)?.write(&data).await;
        Ok(written.map_err(socket_error))
    }

    async fn start_tls(
        &mut self,
        conn: Resource<Connection>,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        let tls = self.shared.tls.clone();
        let upgraded = self.table.get_mut(&conn)?.upgrade(tls).await;
        Ok(upgraded.map_err(socket_error))
    }

    async fn close(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.get_mut(&conn)?.close();
        Ok(())
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.open_connections = self.open_connections.saturating_sub(1);
        Ok(())
    }
}
