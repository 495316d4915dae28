//! The message's text: the plain body (or text derived from HTML when there is only HTML), the
//! HTML body when there is one, and a short snippet.

use mail_parser::decoders::html::html_to_text;
use mail_parser::{Message, PartType};
use memchr::memmem;

use crate::record::ParseWarning;

const SNIPPET_CHARS: usize = 200;

pub struct Bodies {
    pub text: String,
    pub html: Option<String>,
    /// Whether either body was cut at the cap.
    pub truncated: bool,
}

/// HTML read per byte of text wanted: markup beyond this share of the cap is never converted.
const HTML_PER_TEXT_BYTE: usize = 8;

impl Bodies {
    /// The bodies, each cut at `cap` bytes (a warning names the body cut and its whole length).
    pub fn read(message: &Message<'_>, cap: usize, warnings: &mut Vec<ParseWarning>) -> Self {
        // Every inline text part in order; an HTML part stands in where there is no plain one.
        let mut text = Capped::new(cap, "\n\n");
        for part in message.text_bodies() {
            match &part.body {
                PartType::Text(t) => text.push(t, t.len(), false),
                PartType::Html(h) => {
                    let markup = prefix(h, cap.saturating_mul(HTML_PER_TEXT_BYTE));
                    let converted = html_to_text(&with_block_breaks(markup));
                    text.push(&converted, h.len(), markup.len() < h.len());
                }
                _ => {}
            }
        }
        // Only parts that are HTML themselves: mail-parser also lists plain parts as HTML
        // bodies (converted), which would copy the text body a second time.
        let mut html = Capped::new(cap, "\n");
        for part in message.html_bodies() {
            if let PartType::Html(h) = &part.body {
                html.push(h, h.len(), false);
            }
        }
        if text.cut {
            warnings.push(ParseWarning::TextBodyTruncated(text.whole));
        }
        if html.cut {
            warnings.push(ParseWarning::HtmlBodyTruncated(html.whole));
        }
        Bodies {
            truncated: text.cut || html.cut,
            text: text.out,
            html: (html.parts > 0).then_some(html.out),
        }
    }
}

/// Text parts joined by `separator`, with line ends as `\n`, and cut at `cap` bytes: nothing past
/// the cap is copied or converted.
struct Capped {
    out: String,
    cap: usize,
    separator: &'static str,
    parts: usize,
    /// The whole length of the parts pushed, in bytes, as if nothing were cut.
    whole: u64,
    cut: bool,
}

impl Capped {
    fn new(cap: usize, separator: &'static str) -> Self {
        Capped {
            out: String::new(),
            cap,
            separator,
            parts: 0,
            whole: 0,
            cut: false,
        }
    }

    /// Adds a part (`source_len`: the length of what it came from, for the warning;
    /// `source_cut`: only a prefix of that was read).
    fn push(&mut self, part: &str, source_len: usize, source_cut: bool) {
        let part = part.trim_end();
        if part.is_empty() {
            return;
        }
        let separator = if self.parts > 0 { self.separator } else { "" };
        self.parts += 1;
        self.whole += (separator.len() + source_len) as u64;
        if self.cut {
            return;
        }
        let room = self.cap.saturating_sub(self.out.len() + separator.len());
        let kept = prefix(part, room);
        self.cut = source_cut || kept.len() < part.len();
        if kept.is_empty() {
            return;
        }
        self.out.push_str(separator);
        push_without_cr(&mut self.out, kept);
    }
}

/// Appends `text` with each CRLF made LF (`str::replace` without its generic substring search,
/// which is slow in WebAssembly; this finds them with memchr's SIMD search).
fn push_without_cr(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = memmem::find(rest.as_bytes(), b"\r\n") {
        out.push_str(&rest[..at]);
        out.push('\n');
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn prefix(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
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
    while let Some(start) = memmem::find(rest.as_bytes(), b"</") {
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

#[cfg(test)]
mod tests {
    use crate::record::{ParseWarning, RawMessage};

    const CAP: usize = 64 * 1024;

    fn normalize(bytes: &[u8]) -> crate::record::MessageRecord {
        let raw = RawMessage {
            bytes,
            internal_date: None,
        };
        crate::normalize::normalize_capped(&raw, "anna@example.nl", CAP, None)
    }

    /// A tiny HTML part and a huge plain part of control characters, side by side.
    fn poison(plain: &[u8]) -> Vec<u8> {
        let mut m = b"From: x@example.com\r\nSubject: poison\r\nMessage-ID: <p@x>\r\n\
            Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
            Content-Type: text/html\r\n\r\n<p>hi</p>\r\n--b\r\n\
            Content-Type: text/plain\r\n\r\n"
            .to_vec();
        m.extend_from_slice(plain);
        m.extend_from_slice(b"\r\n--b--\r\n");
        m
    }

    #[test]
    fn a_huge_text_body_is_cut_at_the_cap_with_a_warning() {
        let line: Vec<u8> = (1u8..=8).cycle().take(998).chain(*b"\r\n").collect();
        let plain = line.repeat(1000);
        let r = normalize(&poison(&plain));
        assert!(r.text_body.len() <= CAP, "{}", r.text_body.len());
        assert!(r.text_body.len() > CAP - 1000, "filled up to the cap");
        assert!(r.truncated);
        assert!(
            r.warnings
                .iter()
                .any(|w| matches!(w, ParseWarning::TextBodyTruncated(n) if *n > 900_000)),
            "{:?}",
            r.warnings
        );
        // The HTML body is the HTML part only: the plain part is not copied into it.
        assert_eq!(r.html_body.as_deref().map(str::trim), Some("<p>hi</p>"));
    }

    #[test]
    fn a_cut_falls_on_a_character_boundary() {
        let plain = "é".repeat(CAP);
        let r = normalize(&poison(plain.as_bytes()));
        assert!(r.text_body.len() <= CAP);
        assert!(r.text_body.ends_with('é'));
    }

    #[test]
    fn huge_html_is_converted_only_as_far_as_the_cap_needs() {
        let mut m =
            b"From: x@example.com\r\nSubject: h\r\nContent-Type: text/html\r\n\r\n".to_vec();
        m.extend(std::iter::repeat_n(b'<', 4 * 1024 * 1024));
        let r = normalize(&m);
        assert!(r.text_body.len() <= CAP);
        assert!(r.html_body.as_ref().is_some_and(|h| h.len() <= CAP));
        assert!(r.truncated);
        assert!(
            r.warnings
                .contains(&ParseWarning::HtmlBodyTruncated(4 * 1024 * 1024))
        );
    }

    #[test]
    fn bodies_under_the_cap_are_whole_and_unmarked() {
        let r = normalize(&poison(b"short text"));
        assert_eq!(r.text_body, "hi\n\nshort text");
        assert!(!r.truncated);
        assert_eq!(r.warnings, [ParseWarning::MissingDate]);
    }
}
