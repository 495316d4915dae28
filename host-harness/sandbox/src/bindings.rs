//! The host side of the WIT contract in `wit/` (`crm:mail-sync@0.2.0`), by wasmtime's `bindgen!`;
//! the older versions it still runs are in `plugin_versions`.
//! Every import is async (many mailboxes share one tokio runtime) and may trap.

wasmtime::component::bindgen!({
    world: "mail-sync-plugin",
    path: "../../wit",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    with: {
        "crm:mail-sync/imap-socket.connection": crate::resources::imap_connection::Connection,
        "crm:mail-sync/submission-socket.connection": crate::resources::submission::SubmissionConnection,
    },
});

pub use crm::mail_sync::*;
pub use exports::crm::mail_sync::act;
pub use exports::crm::mail_sync::folders;
pub use exports::crm::mail_sync::mailbox;
pub use exports::crm::mail_sync::normalize::RawMessage;
pub use exports::crm::mail_sync::send;
pub use exports::crm::mail_sync::sync;
