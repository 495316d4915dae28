//! The message's text: the plain body (or text derived from HTML when there is only HTML), the
//! HTML body when there is one, and a short snippet.

use mail_parser::decoders::html::html_to_text;
use mail_parser::{Message, PartType};

const SNIPPET_CHARS: usize = 200;

pub struct Bodies {
    pub text: String,
    pub html: Option<String>,
}

impl Bodies {
    pub fn read(message: &Message<'_>) -> Self {
        // Every inline text part in order; an HTML part stands in where there is no plain one.
        let text = message
            .text_bodies()
            .filter_map(|part| match &part.body {
                PartType::Text(text) => Some(text.to_string()),
                PartType::Html(html) => Some(html_to_text(&with_block_breaks(html))),
                _ => None,
            })
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

/// The HTML with a line break after every block element, so that text derived from it keeps
/// headings, paragraphs, rows and list items apart (mail-parser breaks only at `<br>` and `</p>`).
fn with_block_breaks(html: &str) -> String {
    const BLOCKS: &[&str] = &[
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "div",
        "tr",
        "li",
        "ul",
        "ol",
        "table",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "pre",
        "dd",
        "dt",
    ];
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let mut rest = html;
    while let Some(start) = rest.find("</") {
        let (before, tag) = rest.split_at(start);
        out.push_str(before);
        let Some(end) = tag.find('>') else {
            rest = tag;
            break;
        };
        let name = tag[2..end].trim().to_ascii_lowercase();
        out.push_str(&tag[..=end]);
        if BLOCKS.contains(&name.as_str()) {
            out.push_str("<br>");
        } else if name == "td" || name == "th" {
            out.push(' ');
        }
        rest = &tag[end + 1..];
    }
    out.push_str(rest);
    out
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
