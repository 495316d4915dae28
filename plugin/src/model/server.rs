//! Where an IMAP server is and how its connection is secured: the provider's settings or the
//! mailbox's own, handed to the host when it opens a socket.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ImapSecurity {
    Tls,
    StartTls,
    Plain,
}

/// Where the provider's IMAP server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapEndpoint {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
}
