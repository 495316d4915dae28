//! `log`: the plugin's levelled messages, written through `tracing` with the mailbox's id, with
//! every secret redacted and every line capped.

use crate::bindings::log::{self, Field, Level};
use crate::state::HostState;

/// A line's cap, after redaction.
const MAX_LINE_CHARS: usize = 8 * 1024;
/// What is read of a message or a field's value before redaction: the redactor's passes run
/// over this much at most, whatever the guest sends.
const REDACT_WINDOW_BYTES: usize = 16 * 1024;
/// Fields of one line; the rest are dropped.
const MAX_FIELDS: usize = 32;

impl log::Host for HostState {
    async fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<Field>,
    ) -> wasmtime::Result<()> {
        let redactor = &self.shared.redactor;
        let message = cap(redactor.redact(window(&message)));
        let dropped = fields.len().saturating_sub(MAX_FIELDS);
        let mut fields = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|f| {
                let key = window(&f.key);
                format!("{key}={}", redactor.redact_field(key, window(&f.value)))
            })
            .collect::<Vec<_>>();
        if dropped > 0 {
            fields.push(format!("[{dropped} more fields dropped]"));
        }
        let fields = cap(fields.join(" "));
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

/// The first `REDACT_WINDOW_BYTES` of `text`. When that cuts it, the last word is dropped too:
/// it may be the first part of a secret that redaction would no longer recognise.
fn window(text: &str) -> &str {
    if text.len() <= REDACT_WINDOW_BYTES {
        return text;
    }
    let head = &text[..text.floor_char_boundary(REDACT_WINDOW_BYTES)];
    match head.rfind(|c: char| c.is_whitespace()) {
        Some(end) => &head[..end],
        None => "",
    }
}

fn cap(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_LINE_CHARS) {
        text.truncate(cut);
        text.push_str(" [truncated]");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_before_redaction_and_capped_after() {
        let long = format!("{} tail", "word ".repeat(100_000));
        let w = window(&long);
        assert!(w.len() <= REDACT_WINDOW_BYTES);
        assert!(w.ends_with("word"), "cut at a word boundary");
        let capped = cap(w.to_string());
        assert_eq!(
            capped.chars().count(),
            MAX_LINE_CHARS + " [truncated]".len()
        );
        assert!(capped.ends_with(" [truncated]"));
    }

    #[test]
    fn a_secret_cut_by_the_window_is_dropped_not_half_kept() {
        let secret = "ya29.".to_string() + &"s".repeat(REDACT_WINDOW_BYTES);
        let line = format!("token {secret}");
        assert_eq!(window(&line), "token");
        assert_eq!(window(&secret), "");
    }
}
