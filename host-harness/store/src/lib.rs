//! The mail-sync host's store: one `Database` handle over SQLite (embedded, the default) or
//! PostgreSQL (several nodes), the plugin's storage sealed at rest, the CRM's inbox, the events
//! outbox, the mailboxes' outboxes, leases and turns. It knows nothing of WebAssembly: no wasmtime here.

pub mod at_rest;
pub mod db;
pub mod event_store;
pub mod file_modes;
pub mod inbox_store;
pub mod outbox_store;
pub mod redact;
pub mod tls;
pub mod turns;

pub use db::Database;
