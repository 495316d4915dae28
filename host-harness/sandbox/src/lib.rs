//! The sandbox that runs the mail-sync plugin: a wasmtime embedding that lends the component HTTP,
//! an IMAP socket, storage, an inbox, a log and its settings, under a policy, and nothing else.
//! What a CRM embeds: no HTTP server, no command line.

// The store, its own crate (no wasmtime), under the names the host has always used.
pub use mailsync_store::{
    at_rest, db, event_store, file_modes, inbox_store, outbox_store, redact, tls, turns,
};

pub mod admin_store;
pub mod audit;
pub mod bindings;
pub mod capabilities;
pub(crate) mod clock;
pub(crate) mod connection_slots;
pub mod engine;
pub mod errors;
pub(crate) mod faults;
mod hostcall_fuel;
pub(crate) mod limits;
pub mod mailbox;
pub mod normalize_workers;
pub mod outbox;
pub use outbox::actions;
pub(crate) mod parking;
pub mod plugin_host;
pub mod plugin_versions;
pub mod policy;
pub(crate) mod progress;
pub(crate) mod providers;
pub mod resources;
pub mod send_rate;
pub mod settings;
pub mod shared;
pub mod state;
pub(crate) mod unplaced;

pub use bindings::message::MessageRecord;
pub use db::Database;
pub use errors::{CallError, HostError};
pub use mailbox::Mailbox;
pub use plugin_host::PluginHost;
pub use policy::Policy;
pub use settings::HostSettings;
