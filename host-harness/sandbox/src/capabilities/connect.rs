//! Opening a byte stream the policy allowed (IMAP or submission): resolve and check the
//! addresses, connect within the timeout, and do TLS where asked.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::capabilities::resolve::{ResolveError, allowed_addresses};
use crate::policy::{Destination, ImapSecurity, Refusal};
use crate::resources::imap_connection::{Connection, ConnectionError, ConnectionLimits, Protocol};
use crate::shared::Shared;

/// Why a stream could not be opened.
pub enum ConnectFailure {
    Refused(Refusal),
    ResolveFailed(String),
    TimedOut,
    ConnectFailed(String),
    /// The TLS handshake, or another failure of the new connection.
    Connection(ConnectionError),
}

/// Connects to `dest` (already checked against the policy) with the security asked.
pub async fn connect(
    shared: &Shared,
    dest: &Destination,
    asked: ImapSecurity,
    protocol: Protocol,
) -> Result<Connection, ConnectFailure> {
    let platform = shared.platform();
    let policy = &platform.policy;
    let connect_timeout = Duration::from_millis(policy.connect_timeout_ms);
    let addrs = allowed_addresses(policy, dest, connect_timeout)
        .await
        .map_err(|e| match e {
            ResolveError::Refused(r) => ConnectFailure::Refused(r),
            ResolveError::Failed(m) => ConnectFailure::ResolveFailed(m),
            ResolveError::TimedOut => ConnectFailure::TimedOut,
        })?;
    let tcp =
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addrs.as_slice())).await {
            Err(_) => return Err(ConnectFailure::TimedOut),
            Ok(Err(e)) => return Err(ConnectFailure::ConnectFailed(e.to_string())),
            Ok(Ok(tcp)) => tcp,
        };
    let _ = tcp.set_nodelay(true);
    let limits = ConnectionLimits {
        io_timeout: Duration::from_millis(policy.io_timeout_ms),
        read_cap: policy.imap_read_cap_bytes,
        write_cap: policy.imap_write_cap_bytes,
    };
    let mut conn = Connection::awaiting_starttls(tcp, &dest.host, limits, protocol);
    match asked {
        ImapSecurity::Tls => conn
            .upgrade(shared.tls.clone())
            .await
            .map_err(ConnectFailure::Connection)?,
        ImapSecurity::Plain => conn.keep_plain(),
        ImapSecurity::StartTls => {}
    }
    Ok(conn)
}
