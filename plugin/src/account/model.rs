//! The mailbox panel's values as the exports return them (mirroring the WIT `mailbox` records):
//! link state, settings, provider choices, and what each operation answers.

use crate::i18n::UserMessage;
use crate::providers::ImapSecurity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Unlinked,
    Linked,
    ReauthorizationNeeded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AuthMethod {
    XOAuth2,
    Password,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailSettings {
    pub imap_host: String,
    pub imap_port: u16,
    pub security: ImapSecurity,
    pub username: String,
    pub auth: AuthMethod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderChoice {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    pub state: LinkState,
    pub provider: Option<String>,
    pub address: Option<String>,
    pub settings: Option<MailSettings>,
    pub settings_read_only: bool,
    pub reauthorization_reason: Option<UserMessage>,
    pub linked_at: Option<String>,
    pub access_expires_at: Option<String>,
    pub providers: Vec<ProviderChoice>,
    pub link_available: bool,
    pub link_unavailable_reason: Option<UserMessage>,
    pub provider_hints: Vec<UserMessage>,
}

#[derive(Debug, Clone)]
pub struct LinkRequest {
    pub user: String,
    pub provider: String,
    pub login_hint: Option<String>,
    /// The loopback port of a redirect URI configured with port 0 (RFC 8252).
    pub redirect_port: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct LinkStarted {
    pub authorization_url: String,
    pub expires_at: String,
}

#[derive(Debug, Clone)]
pub struct Unlinked {
    pub status: MailboxStatus,
    pub warnings: Vec<UserMessage>,
}

#[derive(Debug, Clone)]
pub struct AccessChecked {
    pub refreshed: bool,
    pub refresh_token_rotated: bool,
    /// When the provider said how long the access token lives.
    pub expires_at: Option<String>,
}

#[derive(Clone)]
pub struct ManualSettings {
    pub imap_host: String,
    pub imap_port: u16,
    pub security: ImapSecurity,
    pub username: String,
    pub password: String,
}
