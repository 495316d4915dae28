//! The mailbox panel: status, linking and re-authorisation, unlinking, manual settings and the
//! access token. Every operation reads and writes its state in host storage, never in memory.

mod access;
mod fingerprint;
mod link;
mod manual;
mod model;
mod status;
pub(crate) mod store;
mod unlink;

pub use access::{check_access, with_access_token, with_linked_access};
pub use store::Account;

pub use link::{link_complete, link_start};
pub use manual::set_settings;
pub use model::*;
pub use status::status;
pub use unlink::unlink;
