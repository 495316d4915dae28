//! The host's side of the resources the contract hands the plugin, below the capabilities that
//! lend them and the bindings that name them: their state and I/O, no WIT types.

pub mod envelope;
pub mod imap_connection;
pub mod read_only;
pub mod submission;
