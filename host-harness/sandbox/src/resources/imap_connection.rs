//! An IMAP or submission connection the plugin holds as a resource: a TCP stream the host
//! wraps in TLS itself, with timeouts and size caps on every read and write.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::connection_slots::Slot;
use crate::resources::read_only::ReadOnlyGuard;

/// The host's side of a `connection` resource.
pub struct Connection {
    stream: Stream,
    /// The name the server's certificate must carry.
    server_name: String,
    io_timeout: Duration,
    read_cap: u32,
    write_cap: u64,
    /// Its place among the mailbox's connections, freed when it is dropped.
    slot: Option<Slot>,
    /// Bytes read while the connection was parked, given to the next `read` first.
    received: Vec<u8>,
    /// For a connection lent to a call that only reads: the rule its commands keep to.
    read_only: Option<ReadOnlyGuard>,
    /// The protocol spoken, for what may go in clear before STARTTLS.
    protocol: Protocol,
}

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    /// SMTP submission.
    Smtp,
}

enum Stream {
    Plain(TcpStream),
    /// Plain until the plugin asks for `start-tls`.
    AwaitingStartTls(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Closed,
}

/// Why a read, write or upgrade failed; the capability gives the plugin its WIT form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionError {
    /// Not possible in the connection's state (closed, or a command before STARTTLS).
    InvalidState(String),
    TimedOut,
    /// The server closed the connection.
    Closed,
    TlsFailed(String),
    Io(String),
    /// A command that would change the mailbox, on a connection that may only read (why).
    ReadOnly(String),
    /// A write over the cap.
    TooLarge {
        limit: u64,
        actual: u64,
    },
}

/// Why a parked connection's wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The server sent something (kept for the plugin's next read).
    Data,
    /// Its time came.
    Timer,
    /// The connection closed or failed.
    Closed,
}

/// The limits every read and write of a connection keeps to.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub io_timeout: Duration,
    pub read_cap: u32,
    pub write_cap: u64,
}

impl Connection {
    /// A connection over `tcp` to `server_name`, in clear until [`Connection::upgrade`] or
    /// [`Connection::keep_plain`]: until then only STARTTLS, CAPABILITY and NOOP go out.
    pub fn awaiting_starttls(
        tcp: TcpStream,
        server_name: &str,
        limits: ConnectionLimits,
        protocol: Protocol,
    ) -> Self {
        Connection {
            protocol,
            stream: Stream::AwaitingStartTls(tcp),
            server_name: server_name.to_string(),
            io_timeout: limits.io_timeout,
            read_cap: limits.read_cap,
            write_cap: limits.write_cap,
            slot: None,
            received: Vec::new(),
            read_only: None,
        }
    }

    /// From now on, refuses any command that could change the mailbox (see `read_only`).
    pub fn restrict_to_reading(&mut self) {
        self.read_only.get_or_insert_with(ReadOnlyGuard::default);
    }

    /// Whether its commands are limited to those that read.
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// Stays in clear for good (a plain connection the policy allowed).
    pub fn keep_plain(&mut self) {
        if let Stream::AwaitingStartTls(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) {
            self.stream = Stream::Plain(tcp);
        }
    }

    /// Holds `slot` among the mailbox's connections for as long as the connection lives.
    pub fn hold(&mut self, slot: Slot) {
        self.slot = Some(slot);
    }

    /// Closes the stream; the resource stays until the plugin drops it.
    pub fn close(&mut self) {
        self.stream = Stream::Closed;
    }

    /// The TLS handshake with the server, checked against `tls`'s roots.
    pub async fn upgrade(&mut self, tls: Arc<ClientConfig>) -> Result<(), ConnectionError> {
        let tcp = match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::AwaitingStartTls(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(ConnectionError::InvalidState(
                    "start-tls on a connection that is not awaiting it".into(),
                ));
            }
        };
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|e| ConnectionError::TlsFailed(format!("invalid server name: {e}")))?;
        let handshake = TlsConnector::from(tls).connect(name, tcp);
        match tokio::time::timeout(self.io_timeout, handshake).await {
            Err(_) => Err(ConnectionError::TimedOut),
            Ok(Err(e)) => Err(ConnectionError::TlsFailed(e.to_string())),
            Ok(Ok(tls)) => {
                self.stream = Stream::Tls(Box::new(tls));
                Ok(())
            }
        }
    }

    /// Up to `max_bytes` (within the read cap) of what the server sent.
    pub async fn read(&mut self, max_bytes: u32) -> Result<Vec<u8>, ConnectionError> {
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
            Stream::Closed => return Err(closed()),
        };
        match read {
            Err(_) => Err(ConnectionError::TimedOut),
            Ok(Err(e)) => Err(io_error(e)),
            Ok(Ok(0)) => Err(ConnectionError::Closed),
            Ok(Ok(n)) => {
                buf.truncate(n);
                Ok(buf)
            }
        }
    }

    /// Waits up to `limit` for the server to send something, and keeps what it sent for the
    /// next `read` (so bytes TLS has already decrypted are never missed).
    pub async fn wait_for_data(&mut self, limit: Duration) -> Wake {
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

    /// Sends `data` whole (within the write cap).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), ConnectionError> {
        if data.len() as u64 > self.write_cap {
            return Err(ConnectionError::TooLarge {
                limit: self.write_cap,
                actual: data.len() as u64,
            });
        }
        if matches!(self.stream, Stream::AwaitingStartTls(_)) {
            let (allowed, names) = match self.protocol {
                Protocol::Imap => (before_starttls(data), "STARTTLS, CAPABILITY and NOOP"),
                Protocol::Smtp => (
                    smtp_before_starttls(data),
                    "EHLO, HELO, STARTTLS, NOOP and QUIT",
                ),
            };
            if !allowed {
                return Err(ConnectionError::InvalidState(format!(
                    "until STARTTLS has upgraded the connection, the host sends only {names} \
                     commands"
                )));
            }
        }
        if let Some(guard) = &mut self.read_only {
            guard
                .check(data)
                .map_err(|refused| ConnectionError::ReadOnly(refused.0))?;
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
            Stream::Closed => return Err(closed()),
        };
        match write {
            Err(_) => Err(ConnectionError::TimedOut),
            Ok(Err(e)) => Err(io_error(e)),
            Ok(Ok(())) => Ok(()),
        }
    }
}

fn closed() -> ConnectionError {
    ConnectionError::InvalidState("connection is closed".into())
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

/// `before_starttls` for SMTP: whole lines of `EHLO`, `HELO`, `STARTTLS`, `NOOP` or `QUIT`.
fn smtp_before_starttls(data: &[u8]) -> bool {
    let Some(lines) = data.strip_suffix(b"\r\n") else {
        return false;
    };
    lines.split(|&b| b == b'\n').all(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let verb = line.split(|&b| b == b' ').next().unwrap_or_default();
        !line.contains(&b'\r')
            && matches!(
                verb.to_ascii_uppercase().as_slice(),
                b"EHLO" | b"HELO" | b"STARTTLS" | b"NOOP" | b"QUIT"
            )
    })
}

fn io_error(e: std::io::Error) -> ConnectionError {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => ConnectionError::Closed,
        _ => ConnectionError::Io(e.to_string()),
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
        assert!(super::smtp_before_starttls(
            b"EHLO crm.example\r\nSTARTTLS\r\n"
        ));
        for refused in [
            &b"AUTH PLAIN AGFubmEAc2VjcmV0\r\n"[..],
            b"EHLO x\r\nMAIL FROM:<a@b>\r\n",
        ] {
            assert!(!super::smtp_before_starttls(refused));
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
