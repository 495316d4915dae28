//! The guest's shared vocabulary, the bottom layer: the CRM's folders, message locations and
//! flags, what sync hands the inbox, and where an IMAP server is. It imports only `record`.

mod folder;
mod inbox;
mod server;

pub use folder::{CrmFolder, Flags, GmailIds, Location};
pub use inbox::{Change, ChangeReport, Delivery, DeliveryReport, InboxFailure, Progress};
pub use server::{ImapEndpoint, ImapSecurity};

/// The default cap on each of a record's two bodies, text and HTML (`limits.max-body-bytes`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
