//! The mailbox panel: status, linking and re-authorisation, unlinking, manual settings and the
//! access token. Every operation reads and writes its state in host storage, never in memory.

mod access;
mod link;
mod manual;
mod model;
mod status;
mod store;
mod unlink;

pub use access::{check_access, with_access_token, with_linked_access};
pub use store::Account;

/// Reads a value the plugin stored under `key` (for the other domain modules).
pub fn store_read<T: serde::de::DeserializeOwned>(
    env: &crate::ports::Env,
    key: &str,
) -> Result<Option<T>, crate::errors::MailboxError> {
    store::read(env.kv, key)
}

/// Stores `value` under `key`.
pub fn store_write<T: serde::Serialize>(
    env: &crate::ports::Env,
    key: &str,
    value: &T,
) -> Result<(), crate::errors::MailboxError> {
    Ok(env.kv.batch(vec![store::set(key, value)])?)
}
pub use link::{link_complete, link_start};
pub use manual::set_settings;
pub use model::*;
pub use status::status;
pub use unlink::unlink;
