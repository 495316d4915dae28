//! The mail-sync host: the sandbox a CRM embeds (`mailsync-sandbox`, over the store,
//! `mailsync-store`), the long-running service (`mailsync-service`), the component built from
//! `plugin/`, and the `mailsync-host` command line, under the names they have always had here.

pub use mailsync_sandbox::*;
pub use mailsync_service as service;

/// The plugin component built from `plugin/` by this crate's build script.
pub const BUNDLED_PLUGIN: &str = env!("MAILSYNC_PLUGIN_WASM");
