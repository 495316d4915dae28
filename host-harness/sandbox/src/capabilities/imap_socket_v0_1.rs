//! `imap-socket` as a `@0.1.0` component imports it: the same connections and checks as the
//! current one, whose `read-only` refusal it reads as `invalid-state` (it had no such error).

use wasmtime::component::Resource;

use crate::bindings::imap_socket as current;
use crate::plugin_versions::v0_1::crm::mail_sync::imap_socket::{self, Security, SocketError};
use crate::resources::imap_connection::Connection;
use crate::state::HostState;

fn to_v0_1(e: current::SocketError) -> wasmtime::Result<SocketError> {
    match e {
        current::SocketError::ReadOnly(why) => Ok(SocketError::InvalidState(why)),
        other => crate::plugin_versions::same_shape(&other),
    }
}

fn answer<T>(r: Result<T, current::SocketError>) -> wasmtime::Result<Result<T, SocketError>> {
    r.map_or_else(|e| Ok(Err(to_v0_1(e)?)), |v| Ok(Ok(v)))
}

impl imap_socket::Host for HostState {
    async fn open(
        &mut self,
        host: String,
        port: u16,
        security: Security,
    ) -> wasmtime::Result<Result<Resource<Connection>, SocketError>> {
        let security = match security {
            Security::Tls => current::Security::Tls,
            Security::Starttls => current::Security::Starttls,
            Security::Plain => current::Security::Plain,
        };
        answer(current::Host::open(self, host, port, security).await?)
    }

    async fn park(
        &mut self,
        conn: Resource<Connection>,
        note: Vec<u8>,
        wake_after_seconds: u32,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        answer(current::Host::park(self, conn, note, wake_after_seconds).await?)
    }

    async fn unpark(&mut self) -> wasmtime::Result<Option<(Resource<Connection>, Vec<u8>)>> {
        current::Host::unpark(self).await
    }
}

impl imap_socket::HostConnection for HostState {
    async fn read(
        &mut self,
        conn: Resource<Connection>,
        max_bytes: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, SocketError>> {
        answer(current::HostConnection::read(self, conn, max_bytes).await?)
    }

    async fn write(
        &mut self,
        conn: Resource<Connection>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        answer(current::HostConnection::write(self, conn, data).await?)
    }

    async fn start_tls(
        &mut self,
        conn: Resource<Connection>,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        answer(current::HostConnection::start_tls(self, conn).await?)
    }

    async fn close(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        current::HostConnection::close(self, conn).await
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        current::HostConnection::drop(self, conn).await
    }
}
