//! FETCH responses imap-codec cannot read, read by a small reader of our own: Gmail's items
//! (`X-GM-MSGID`, `X-GM-THRID`, `X-GM-LABELS`), and messages the codec rejects (a NUL byte in a
//! literal, an unusual date), so that no message is skipped. It reads `UID`, `FLAGS`,
//! `INTERNALDATE`, `RFC822.SIZE` and `BODY[…]` too.

use super::fetched::Fetched;
use super::utf7;
use crate::model::{Flags, GmailIds};

/// The items sync asks Gmail for besides the message.
pub const ITEMS: &str = "(UID X-GM-MSGID X-GM-THRID X-GM-LABELS)";

#[derive(Debug, PartialEq)]
enum Token {
    Atom(String),
    Text(Vec<u8>),
    List(Vec<Token>),
    Nil,
}

/// Reads `* <n> FETCH (...)`; `None` when it is not one.
pub fn read_fetch(bytes: &[u8]) -> Option<Fetched> {
    let rest = bytes.strip_prefix(b"* ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    std::str::from_utf8(&rest[..space])
        .ok()?
        .parse::<u32>()
        .ok()?;
    let rest = &rest[space + 1..];
    if rest.len() < 6 || !rest[..6].eq_ignore_ascii_case(b"FETCH ") {
        return None;
    }
    let mut reader = Reader {
        bytes: rest,
        at: 6,
        depth: 0,
    };
    let Token::List(items) = reader.token()? else {
        return None;
    };
    let mut message = Fetched::default();
    let mut gmail = GmailIds::default();
    let mut saw_gmail = false;
    let mut pairs = items.into_iter();
    while let (Some(Token::Atom(name)), Some(value)) = (pairs.next(), pairs.next()) {
        match (name.to_ascii_uppercase().as_str(), value) {
            ("UID", Token::Atom(v)) => message.uid = v.parse().ok()?,
            ("X-GM-MSGID", Token::Atom(v)) => {
                gmail.message_id = v.parse().ok()?;
                saw_gmail = true;
            }
            ("X-GM-THRID", Token::Atom(v)) => gmail.thread_id = v.parse().ok()?,
            ("X-GM-LABELS", Token::List(labels)) => {
                gmail.labels = labels.into_iter().filter_map(label).collect()
            }
            ("FLAGS", Token::List(flags)) => message.flags = Some(flags_from(&flags)),
            ("RFC822.SIZE", Token::Atom(v)) => message.size = v.parse().ok(),
            ("INTERNALDATE", Token::Text(v)) => message.internal_date = internal_date(&v),
            (name, Token::Text(body)) if name.starts_with("BODY[") => message.body = Some(body),
            (name, Token::Nil) if name.starts_with("BODY[") => message.body = Some(Vec::new()),
            _ => {}
        }
    }
    if message.uid == 0 {
        return None;
    }
    message.gmail = saw_gmail.then_some(gmail);
    Some(message)
}

/// An IMAP date-time (`24-Nov-2026 10:00:00 +0100`) as seconds since the Unix epoch.
fn internal_date(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.trim();
    chrono::DateTime::parse_from_str(text, "%d-%b-%Y %H:%M:%S %z")
        .ok()
        .map(|d| d.timestamp())
}

fn label(token: Token) -> Option<String> {
    let raw = match token {
        Token::Atom(a) => a.into_bytes(),
        Token::Text(t) => t,
        _ => return None,
    };
    // System labels (`\Inbox`) are atoms; user labels are modified UTF-7 like folder names.
    utf7::decode(&raw).or_else(|| String::from_utf8(raw).ok())
}

fn flags_from(tokens: &[Token]) -> Flags {
    let mut flags = Flags::default();
    for token in tokens {
        if let Token::Atom(a) = token {
            match a.to_ascii_lowercase().as_str() {
                "\\seen" => flags.seen = true,
                "\\answered" => flags.answered = true,
                "\\flagged" => flags.flagged = true,
                "\\draft" => flags.draft = true,
                _ => {}
            }
        }
    }
    flags
}

/// How deeply lists may nest: a FETCH response needs three levels; a hostile one gets no more.
const MAX_DEPTH: usize = 8;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Reader<'_> {
    fn skip_spaces(&mut self) {
        while self.bytes.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    fn token(&mut self) -> Option<Token> {
        self.skip_spaces();
        match *self.bytes.get(self.at)? {
            b'(' => {
                if self.depth >= MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                self.depth += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_spaces();
                    if *self.bytes.get(self.at)? == b')' {
                        self.at += 1;
                        self.depth -= 1;
                        return Some(Token::List(items));
                    }
                    items.push(self.token()?);
                }
            }
            b'"' => {
                self.at += 1;
                let mut text = Vec::new();
                loop {
                    match *self.bytes.get(self.at)? {
                        b'"' => {
                            self.at += 1;
                            return Some(Token::Text(text));
                        }
                        b'\\' => {
                            text.push(*self.bytes.get(self.at + 1)?);
                            self.at += 2;
                        }
                        b => {
                            text.push(b);
                            self.at += 1;
                        }
                    }
                }
            }
            b'{' => {
                let close = self.at + self.bytes[self.at..].iter().position(|&b| b == b'}')?;
                let digits = std::str::from_utf8(&self.bytes[self.at + 1..close]).ok()?;
                let len: usize = digits.trim_end_matches('+').parse().ok()?;
                let start = close + 1 + 2; // "}\r\n"
                let text = self.bytes.get(start..start.checked_add(len)?)?.to_vec();
                self.at = start + len;
                Some(Token::Text(text))
            }
            _ => {
                let start = self.at;
                while let Some(&b) = self.bytes.get(self.at) {
                    if matches!(b, b' ' | b'(' | b')' | b'\r' | b'\n') {
                        break;
                    }
                    self.at += 1;
                }
                let atom = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
                if atom.is_empty() {
                    return None;
                }
                Some(if atom.eq_ignore_ascii_case("NIL") {
                    Token::Nil
                } else {
                    Token::Atom(atom.to_string())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gmail_ids_labels_and_uid() {
        let line = b"* 12 FETCH (X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334866 \
X-GM-LABELS (\\Inbox \\Sent Important \"Muy Importante\" &AMk-t&AOk-) UID 5 FLAGS (\\Seen))\r\n";
        let m = read_fetch(line).expect("a fetch response");
        assert_eq!(m.uid, 5);
        assert!(m.flags.unwrap().seen);
        let g = m.gmail.unwrap();
        assert_eq!(g.thread_id, 1278455344230334865);
        assert_eq!(g.message_id, 1278455344230334866);
        assert_eq!(
            g.labels,
            ["\\Inbox", "\\Sent", "Important", "Muy Importante", "Été"]
        );
    }

    #[test]
    fn reads_a_label_sent_as_a_literal() {
        let line = b"* 1 FETCH (UID 9 X-GM-MSGID 7 X-GM-THRID 7 X-GM-LABELS ({5}\r\nab cd))\r\n";
        assert_eq!(read_fetch(line).unwrap().gmail.unwrap().labels, ["ab cd"]);
    }

    #[test]
    fn reads_a_message_the_codec_rejects() {
        // A NUL byte in the literal: imap-codec refuses it; the message must not be skipped.
        let line = b"* 3 FETCH (UID 7 FLAGS (\\Seen \\Flagged) INTERNALDATE \"24-Nov-2026 10:00:00 +0100\" \
RFC822.SIZE 13 BODY[] {13}\r\nSubject: a\0\r\n)\r\n";
        let m = read_fetch(line).expect("a fetch response");
        assert_eq!((m.uid, m.size), (7, Some(13)));
        assert_eq!(m.body.as_deref(), Some(&b"Subject: a\0\r\n"[..]));
        assert_eq!(m.internal_date, Some(1_795_510_800));
        assert!(m.gmail.is_none());
        let flags = m.flags.unwrap();
        assert!(flags.seen && flags.flagged && !flags.answered);
    }

    #[test]
    fn refuses_lists_nested_too_deep_even_when_each_is_closed() {
        // The FETCH list, then `depth` lists inside the labels' place, each one closed.
        let nested = |depth: usize| {
            let mut line = b"* 1 FETCH (UID 1 X-GM-LABELS ".to_vec();
            line.extend(std::iter::repeat_n(b'(', depth));
            line.extend(std::iter::repeat_n(b')', depth));
            line.extend(b")\r\n");
            line
        };
        assert!(
            read_fetch(&nested(MAX_DEPTH - 1)).is_some(),
            "{MAX_DEPTH} levels in all are read"
        );
        assert!(read_fetch(&nested(MAX_DEPTH)).is_none());
        assert!(read_fetch(&nested(100_000)).is_none());
    }

    #[test]
    fn refuses_what_is_not_a_fetch_response() {
        assert!(read_fetch(b"* 3 EXISTS\r\n").is_none());
        assert!(
            read_fetch(b"* 1 FETCH (X-GM-MSGID 7)\r\n").is_none(),
            "no UID"
        );
        assert!(read_fetch(b"* 1 FETCH (UID 1 X-GM-LABELS (\"open").is_none());
    }
}
