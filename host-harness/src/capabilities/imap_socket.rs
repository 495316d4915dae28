//! `imap-socket`: a byte stream to an IMAP server. The host checks the policy and the resolved
//! addresses, connects with a timeout, and does TLS itself (implicit, or on `start-tls`).

use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmtime::component::Resource;

use crate::bindings::imap_socket::{self, Security, SocketError};
use crate::capabilities::resolve::{ResolveError, allowed_addresses};
use crate::capabilities::{size_cap, wit_refusal};
use crate::policy::ImapSecurity;
use crate::services::Services;
use crate::state::HostState;

/// The host's side of a `connection` resource.
pub struct Connection {
    stream: Stream,
    /// The name the server's certificate must carry.
    server_name: String,
    io_timeout: Duration,
    read_cap: u32,
    write_cap: u64,
    /// Its place among the mailbox's connections, freed when it is dropped.
    slot: Option<crate::connection_slots::Slot>,
    /// Bytes read while the connection was parked, given to the next `read` first.
    received: Vec<u8>,
}

enum Stream {
    Plain(TcpStream),
    /// Plain until the plugin asks for `start-tls`.
    AwaitingStartTls(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Closed,
}

impl imap_socket::Host for HostState {
    async fn open(
        &mut self,
        host: String,
        port: u16,
        security: Security,
    ) -> wasmtime::Result<Result<Resource<Connection>, SocketError>> {
        let provider = self.provider().await?;
        let cap = self.services.platform().policy.imap_connections_per_call;
        if self.open_connections >= cap {
            let message =
                format!("this call already holds {cap} connections, the most the host allows");
            return Ok(Err(SocketError::InvalidState(message)));
        }
        let per_account = self.services.platform().policy.imap_connections_per_account;
        let Some(slot) = self.services.imap_slots.take(&self.mailbox.id, per_account) else {
            let message = format!(
                "this mailbox already holds {per_account} connections, the most the host allows"
            );
            return Ok(Err(SocketError::InvalidState(message)));
        };
        match open(&self.services, provider.as_deref(), &host, port, security).await {
            Ok(mut conn) => {
                conn.slot = Some(slot);
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
    services: &Services,
    provider: Option<&str>,
    host: &str,
    port: u16,
    security: Security,
) -> Result<Connection, SocketError> {
    let platform = services.platform();
    let policy = &platform.policy;
    let asked = match security {
        Security::Tls => ImapSecurity::Tls,
        Security::Starttls => ImapSecurity::StartTls,
        Security::Plain => ImapSecurity::Plain,
    };
    let dest = policy
        .check_imap(provider, host, port, asked)
        .map_err(|r| SocketError::Refused(wit_refusal(r)))?;
    let connect_timeout = Duration::from_millis(policy.connect_timeout_ms);
    let addrs = allowed_addresses(policy, &dest, connect_timeout)
        .await
        .map_err(|e| match e {
            ResolveError::Refused(r) => SocketError::Refused(wit_refusal(r)),
            ResolveError::Failed(m) => SocketError::ResolveFailed(m),
            ResolveError::TimedOut => SocketError::TimedOut,
        })?;
    let tcp =
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addrs.as_slice())).await {
            Err(_) => return Err(SocketError::TimedOut),
            Ok(Err(e)) => return Err(SocketError::ConnectFailed(e.to_string())),
            Ok(Ok(tcp)) => tcp,
        };
    let _ = tcp.set_nodelay(true);
    let mut conn = Connection {
        stream: Stream::AwaitingStartTls(tcp),
        server_name: dest.host.clone(),
        io_timeout: Duration::from_millis(policy.io_timeout_ms),
        read_cap: policy.imap_read_cap_bytes,
        write_cap: policy.imap_write_cap_bytes,
        slot: None,
        received: Vec::new(),
    };
    match asked {
        ImapSecurity::Tls => conn.upgrade(services).await?,
        ImapSecurity::Plain => {
            if let Stream::AwaitingStartTls(tcp) =
                std::mem::replace(&mut conn.stream, Stream::Closed)
            {
                conn.stream = Stream::Plain(tcp);
            }
        }
        ImapSecurity::StartTls => {}
    }
    Ok(conn)
}

impl Connection {
    async fn upgrade(&mut self, services: &Services) -> Result<(), SocketError> {
        let tcp = match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::AwaitingStartTls(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(SocketError::InvalidState(
                    "start-tls on a connection that is not awaiting it".into(),
                ));
            }
        };
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|e| SocketError::TlsFailed(format!("invalid server name: {e}")))?;
        let connector = TlsConnector::from(services.tls.clone());
        let handshake = connector.connect(name, tcp);
        match tokio::time::timeout(self.io_timeout, handshake).await {
            Err(_) => Err(SocketError::TimedOut),
            Ok(Err(e)) => Err(SocketError::TlsFailed(e.to_string())),
            Ok(Ok(tls)) => {
                self.stream = Stream::Tls(Box::new(tls));
                Ok(())
            }
        }
    }

    async fn read(&mut self, max_bytes: u32) -> Result<Vec<u8>, SocketError> {
        let max = max_bytes.clamp(1, self.read_cap) as usize;
        if !self.received.is_empty() {
            let n = max.min(self.received.len());
            return Ok(self.received.drain(..n).collect());
        }
        let mut buf = vec![0u8; max];
        let read = match &mut self.stream {
            Stream::Plain(s) | Stream::AwaitingStartTls(s) => {
                tokio::time::timeout(self.io_timeout, s.read(&mut buf)).await
            }
            Stream::Tls(s) => tokio::time::timeout(self.io_timeout, s.read(&mut buf)).await,
            Stream::Closed => return Err(SocketError::InvalidState("connection is closed".into())),
        };
        match read {
            Err(_) => Err(SocketError::TimedOut),
            Ok(Err(e)) => Err(io_error(e)),
            Ok(Ok(0)) => Err(SocketError::Closed),
            Ok(Ok(n)) => {
                buf.truncate(n);
                Ok(buf)
            }
        }
    }

    /// Waits up to `limit` for the server to send something, and keeps what it sent for the
    /// next `read` (so bytes TLS has already decrypted are never missed).
    pub(crate) async fn wait_for_data(&mut self, limit: Duration) -> super::imap_parking::Wake {
        use super::imap_parking::Wake;
        if !self.received.is_empty() {
            return Wake::Data;
        }
        let mut buf = vec![0u8; 16 * 1024];
        let read = match &mut self.stream {
            Stream::Plain(s) | Stream::AwaitingStartTls(s) => {
                tokio::time::timeout(limit, s.read(&mut buf)).await
            }
            Stream::Tls(s) => tokio::time::timeout(limit, s.read(&mut buf)).await,
            Stream::Closed => return Wake::Closed,
        };
        match read {
            Err(_) => Wake::Timer,
            Ok(Ok(0)) | Ok(Err(_)) => Wake::Closed,
            Ok(Ok(n)) => {
                self.received.extend_from_slice(&buf[..n]);
                Wake::Data
            }
        }
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), SocketError> {
        if data.len() as u64 > self.write_cap {
            return Err(SocketError::TooLarge(size_cap(
                self.write_cap,
                data.len() as u64,
            )));
        }
        if matches!(self.stream, Stream::AwaitingStartTls(_)) && !before_starttls(data) {
            return Err(SocketError::InvalidState(
                "until STARTTLS has upgraded the connection, the host sends only STARTTLS, \
                 CAPABILITY and NOOP commands"
                    .into(),
            ));
        }
        let write = match &mut self.stream {
            Stream::Plain(s) | Stream::AwaitingStartTls(s) => {
                tokio::time::timeout(self.io_timeout, async {
                    s.write_all(data).await?;
                    s.flush().await
                })
                .await
            }
            Stream::Tls(s) => {
                tokio::time::timeout(self.io_timeout, async {
                    s.write_all(data).await?;
                    s.flush().await
                })
                .await
            }
            Stream::Closed => return Err(SocketError::InvalidState("connection is closed".into())),
        };
        match write {
            Err(_) => Err(SocketError::TimedOut),
            Ok(Err(e)) => Err(io_error(e)),
            Ok(Ok(())) => Ok(()),
        }
    }
}

/// Whether `data` is whole command lines that may go in clear on a STARTTLS connection before
/// it is upgraded: `<tag> STARTTLS`, `<tag> CAPABILITY` or `<tag> NOOP`, nothing else (no
/// credentials, no mail).
fn before_starttls(data: &[u8]) -> bool {
    let Some(lines) = data.strip_suffix(b"\r\n") else {
        return false;
    };
    lines.split(|&b| b == b'\n').all(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut words = line.split(|&b| b == b' ');
        let tag_ok = words
            .next()
            .is_some_and(|t| !t.is_empty() && t.iter().all(u8::is_ascii_alphanumeric));
        let command = words.next().map(<[u8]>::to_ascii_uppercase);
        tag_ok
            && words.next().is_none()
            && matches!(
                command.as_deref(),
                Some(b"STARTTLS" | b"CAPABILITY" | b"NOOP")
            )
    })
}

fn io_error(e: std::io::Error) -> SocketError {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => SocketError::Closed,
        _ => SocketError::Io(e.to_string()),
    }
}

impl imap_socket::HostConnection for HostState {
    async fn read(
        &mut self,
        conn: Resource<Connection>,
        max_bytes: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, SocketError>> {
        Ok(self.table.get_mut(&conn)?.read(max_bytes).await)
    }

    async fn write(
        &mut self,
        conn: Resource<Connection>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        Ok(self.table.get_mut(&conn)?.write(&data).await)
    }

    async fn start_tls(
        &mut self,
        conn: Resource<Connection>,
    ) -> wasmtime::Result<Result<(), SocketError>> {
        let services = self.services.clone();
        Ok(self.table.get_mut(&conn)?.upgrade(&services).await)
    }

    async fn close(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.get_mut(&conn)?.stream = Stream::Closed;
        Ok(())
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.open_connections = self.open_connections.saturating_sub(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_starttls_capability_and_noop_go_in_clear_before_the_upgrade() {
        for ok in [
            &b"a0 STARTTLS\r\n"[..],
            b"A1 capability\r\n",
            b"a1 CAPABILITY\r\na2 STARTTLS\r\n",
        ] {
            assert!(
                super::before_starttls(ok),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        for refused in [
            &b"a1 LOGIN anna secret\r\n"[..],
            b"a1 AUTHENTICATE PLAIN AGFubmEAc2VjcmV0\r\n",
            b"a1 STARTTLS",
            b"a1 NOOP\r\nAGFubmEAc2VjcmV0\r\n",
            b"STARTTLS\r\n",
            b"\r\n",
        ] {
            assert!(
                !super::before_starttls(refused),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
    }
}
