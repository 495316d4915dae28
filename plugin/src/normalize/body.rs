//! The message's text: the plain body (or text derived from HTML when there is only HTML), the
//! HTML body when there is one, and a short snippet.

use mail_parser::{Message, PartType};

const SNIPPET_CHARS: usize = 200;

pub struct Bodies {
    pub text: String,
    pub html: Option<String>,
}

impl Bodies {
    pub fn read(message: &Message<'_>) -> Self {
        // Every inline text part in order (mail-parser converts HTML-only parts to text).
        let text = (0..message.text_body_count())
            .filter_map(|i| message.body_text(i))
            .map(|t| t.trim_end().replace("\r\n", "\n"))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        let has_real_html = message
            .html_bodies()
            .any(|part| matches!(part.body, PartType::Html(_)));
        let html = if has_real_html {
            let html = (0..message.html_body_count())
                .filter_map(|i| message.body_html(i))
                .map(|h| h.replace("\r\n", "\n"))
                .collect::<Vec<_>>()
                .join("\n");
            Some(html)
        } else {
            None
        };
        Bodies { text, html }
    }
}

/// The first words of `text` with whitespace collapsed, at most `SNIPPET_CHARS` characters, cut
/// at a word boundary when one is near.
pub fn snippet(text: &str) -> String {
    let mut out = String::new();
    let mut count = 0;
    for word in text.split_whitespace() {
        let extra = word.chars().count() + usize::from(!out.is_empty());
        if count + extra > SNIPPET_CHARS {
            if out.is_empty() {
                out = word.chars().take(SNIPPET_CHARS).collect();
            }
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        count += extra;
    }
    out
}
