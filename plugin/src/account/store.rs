//! What the mailbox panel keeps in host storage, under which keys. Unlinking clears the account,
//! its tokens, and everything under the folder-mapping and sync prefixes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::model::MailSettings;
use crate::errors::{ErrorKind, MailboxError, ProviderSaid};
use crate::ports::{KeyValue, KvWrite};
use crate::providers::ImapSecurity;

pub const ACCOUNT: &str = "account";
pub const TOKENS: &str = "tokens";
pub const MANUAL: &str = "manual-settings";
pub const PENDING_PREFIX: &str = "link/pending/";
/// State that belongs to a linked mailbox and goes when it is unlinked.
pub const LINKED_STATE_PREFIXES: &[&str] = &["folders/", "sync/"];

/// How long a link attempt may wait for its callback.
pub const LINK_ATTEMPT_SECONDS: i64 = 10 * 60;
/// How long a used or expired attempt is remembered, to say "already used" or "expired".
pub const ATTEMPT_MEMORY_SECONDS: i64 = 24 * 60 * 60;

/// A link attempt, from `link-start` until its callback.
#[derive(Serialize, Deserialize)]
pub struct PendingLink {
    pub provider: String,
    pub user: String,
    pub pkce_verifier: String,
    pub expires_at: i64,
    pub used: bool,
    /// The loopback port the redirect goes to, when chosen at link time (RFC 8252).
    #[serde(default)]
    pub redirect_port: Option<u16>,
}

/// The linked account.
#[derive(Serialize, Deserialize, Clone)]
pub struct Account {
    pub provider: String,
    pub address: String,
    /// The provider's stable id of the account (`sub`), when it gave one.
    pub subject: Option<String>,
    /// The CRM user who linked it.
    pub user: String,
    pub settings: MailSettings,
    pub linked_at: i64,
    /// Set when the provider stopped accepting the authorisation.
    pub reauthorization: Option<StoredProviderSaid>,
    /// The settings as linking made them (`settings_fingerprint`); a later difference means
    /// the settings changed since authentication.
    #[serde(default)]
    pub settings_fingerprint: Option<String>,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct StoredProviderSaid {
    pub code: String,
    pub description: Option<String>,
}

impl From<&ProviderSaid> for StoredProviderSaid {
    fn from(s: &ProviderSaid) -> Self {
        StoredProviderSaid {
            code: s.code.clone(),
            description: s.description.clone(),
        }
    }
}

impl StoredProviderSaid {
    pub fn said(&self) -> ProviderSaid {
        ProviderSaid::new(&self.code, self.description.as_deref())
    }
}

/// The account's tokens. Never logged: `Debug` shows neither.
#[derive(Serialize, Deserialize, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Settings entered by hand while not linked.
#[derive(Serialize, Deserialize, Clone)]
pub struct Manual {
    pub imap_host: String,
    pub imap_port: u16,
    pub security: ImapSecurity,
    pub username: String,
    pub password: String,
}

pub fn pending_key(state: &str) -> String {
    format!("{PENDING_PREFIX}{state}")
}

/// Reads and decodes `key`; a value that does not decode is a storage failure, never a default.
pub fn read<T: DeserializeOwned>(kv: &dyn KeyValue, key: &str) -> Result<Option<T>, MailboxError> {
    match kv.get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| {
            MailboxError::new(
                ErrorKind::Storage(format!("stored `{key}` cannot be read")),
                "",
            )
        }),
    }
}

pub fn set<T: Serialize>(key: &str, value: &T) -> KvWrite {
    KvWrite::Set(
        key.to_string(),
        serde_json::to_vec(value).unwrap_or_default(),
    )
}
