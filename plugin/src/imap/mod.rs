//! IMAP in the guest, over the host's `imap-socket`: a session driven by `imap-next` (sans-I/O),
//! SASL XOAUTH2 or OAUTHBEARER, LIST with special-use attributes, and folder names in modified
//! UTF-7.

mod auth;
pub mod examine;
pub mod fetch;
mod fetched;
pub mod idle;
mod list;
pub(crate) mod raw_fetch;
pub(crate) mod session;
#[cfg(test)]
mod tests;
pub mod utf7;

pub use auth::{AuthOutcome, authenticate};
pub use list::{RemoteFolder, SpecialUse, list_folders};
pub use raw_fetch::ITEMS as GMAIL_ITEMS;
pub use session::{Answer, Session};

/// Tells the server who is calling (RFC 2971), where it has ID; Google asks clients to.
pub fn identify(session: &mut Session) -> Result<(), ImapError> {
    use imap_next::imap_types::command::CommandBody;
    use imap_next::imap_types::core::{IString, NString};
    session.capabilities()?;
    if !session.has_capability("ID") {
        return Ok(());
    }
    let pair = |k: &'static str, v: &'static str| {
        Some((IString::try_from(k).ok()?, NString::try_from(v).ok()?))
    };
    let parameters = [
        pair("name", "crm-mail-sync"),
        pair("version", env!("CARGO_PKG_VERSION")),
    ]
    .into_iter()
    .flatten()
    .collect();
    // The server's answer changes nothing here.
    session.command(CommandBody::Id {
        parameters: Some(parameters),
    })?;
    Ok(())
}

use crate::model::{ImapEndpoint, ImapSecurity};
use crate::ports::{ImapSockets, SocketFailure};

/// The cap on any one response while listing folders and authenticating.
pub const MAX_RESPONSE_BYTES: u32 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImapError {
    #[error(transparent)]
    Socket(#[from] SocketFailure),
    #[error("{0}")]
    Protocol(String),
    /// The server is there but refuses service for now (`[UNAVAILABLE]`, ...).
    #[error("{0}")]
    Unavailable(String),
    /// The server asks us to slow down: `[THROTTLED]`, `[LIMIT]`, or too many connections.
    #[error("{0}")]
    Throttled(String),
}

/// Opens a session to `endpoint`: the host's socket, STARTTLS when asked, then the greeting.
pub fn connect(sockets: &dyn ImapSockets, endpoint: &ImapEndpoint) -> Result<Session, ImapError> {
    connect_with_cap(sockets, endpoint, MAX_RESPONSE_BYTES)
}

/// `connect` with another cap on one response: sync raises it to hold its largest message.
pub fn connect_with_cap(
    sockets: &dyn ImapSockets,
    endpoint: &ImapEndpoint,
    max_response: u32,
) -> Result<Session, ImapError> {
    let conn = sockets.open(&endpoint.host, endpoint.port, endpoint.security)?;
    let session = Session::start(conn, max_response)?;
    if endpoint.security == ImapSecurity::StartTls {
        return session::upgrade(session);
    }
    Ok(session)
}
