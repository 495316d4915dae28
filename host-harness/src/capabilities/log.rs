//! `log`: the plugin's levelled messages, written through `tracing` with the mailbox's id, with
//! every secret redacted and every line capped.

use crate::bindings::log::{self, Field, Level};
use crate::state::HostState;

const MAX_LINE_CHARS: usize = 8 * 1024;

impl log::Host for HostState {
    async fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<Field>,
    ) -> wasmtime::Result<()> {
        let redactor = &self.services.redactor;
        let message = cap(redactor.redact(&message));
        let fields = cap(fields
            .iter()
            .map(|f| format!("{}={}", f.key, redactor.redact_field(&f.key, &f.value)))
            .collect::<Vec<_>>()
            .join(" "));
        let mailbox = self.mailbox.id.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "plugin", mailbox, fields, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", mailbox, fields, "{message}"),
            Level::Info => tracing::info!(target: "plugin", mailbox, fields, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", mailbox, fields, "{message}"),
            Level::Error => tracing::error!(target: "plugin", mailbox, fields, "{message}"),
        }
        Ok(())
    }
}

fn cap(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_LINE_CHARS) {
        text.truncate(cut);
        text.push_str(" [truncated]");
    }
    text
}
