//! The host that runs the mail-sync plugin: a wasmtime embedding that lends the component HTTP,
//! an IMAP socket, storage, an inbox, a log and its settings, under a policy, and nothing else.

pub mod admin_store;
pub mod at_rest;
pub mod audit;
pub mod bindings;
pub mod capabilities;
pub mod clock;
pub mod connection_slots;
pub mod db;
pub mod engine;
pub mod errors;
pub mod event_store;
pub mod file_modes;
pub mod inbox_store;
pub mod lease;
pub mod limits;
pub mod mailbox;
pub mod normalize_workers;
pub mod parking;
pub mod plugin_host;
pub mod policy;
pub mod progress;
pub mod providers;
pub mod redact;
pub mod service;
pub mod services;
pub mod settings;
pub mod state;
pub mod tls;
pub mod unplaced;

pub use bindings::message::MessageRecord;
pub use db::Database;
pub use errors::{CallError, HostError};
pub use mailbox::Mailbox;
pub use plugin_host::PluginHost;
pub use policy::Policy;
pub use settings::HostSettings;

/// The plugin component built from `plugin/` by this crate's build script.
pub const BUNDLED_PLUGIN: &str = env!("MAILSYNC_PLUGIN_WASM");
