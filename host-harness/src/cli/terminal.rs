//! What the CLI writes to a terminal: text from mail and servers (subjects, folder names, server
//! messages) may hold control characters that a terminal obeys; they are shown as `\u{..}` instead.

use std::borrow::Cow;
use std::io::Write;

/// Whether a terminal could act on `c` rather than show it: C0 and C1 controls and DEL (line
/// breaks and tabs excepted), and the bidirectional overrides that reorder what is shown.
fn acts_on(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character a terminal could act on written as `\u{..}`.
pub fn safe(text: &str) -> Cow<'_, str> {
    escaped(text, |c| format!("\\u{{{:x}}}", u32::from(c)))
}

/// JSON `text` with every character a terminal could act on written as a JSON escape (`\u0080`),
/// so the output stays valid JSON: serde_json leaves C1 controls and bidi overrides as they are.
pub fn safe_json(text: &str) -> Cow<'_, str> {
    escaped(text, |c| format!("\\u{:04x}", u32::from(c)))
}

fn escaped(text: &str, escape: impl Fn(char) -> String) -> Cow<'_, str> {
    if !text.chars().any(acts_on) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if acts_on(c) { escape(c) } else { c.to_string() })
            .collect(),
    )
}

/// Writes `text`, made safe, to standard output; a closed pipe ends the output quietly.
pub fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(safe(text).as_bytes());
}

/// Writes one JSON document and a line break to standard output, made safe and still JSON.
pub fn out_json(json: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(safe_json(json).as_bytes());
    let _ = stdout.write_all(b"\n");
}

/// Writes `text`, made safe, to standard error.
pub fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(safe(text).as_bytes());
}

/// `print!` through `terminal::out`.
macro_rules! say {
    ($($arg:tt)*) => { $crate::cli::terminal::out(&format!($($arg)*)) };
}

/// `println!` through `terminal::out`.
macro_rules! sayln {
    () => { $crate::cli::terminal::out("\n") };
    ($($arg:tt)*) => { $crate::cli::terminal::out(&format!("{}\n", format!($($arg)*))) };
}

/// `eprintln!` through `terminal::err`.
macro_rules! warnln {
    ($($arg:tt)*) => { $crate::cli::terminal::err(&format!("{}\n", format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::{safe, safe_json};

    #[test]
    fn json_stays_json_and_shows_no_control_character() {
        let record = serde_json::json!({"subject": "a\u{80}b\u{1b}[2J\u{202e}c"});
        let shown = safe_json(&serde_json::to_string(&record).unwrap()).into_owned();
        assert_eq!(shown, r#"{"subject":"a\u0080b\u001b[2J\u202ec"}"#);
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn controls_and_overrides_are_shown_not_obeyed() {
        assert_eq!(safe("Offerte 12\n\tklaar"), "Offerte 12\n\tklaar");
        assert_eq!(
            safe("a\u{1b}[2Jb\rc\u{7}\u{9b}d\u{202e}e"),
            "a\\u{1b}[2Jb\\u{d}c\\u{7}\\u{9b}d\\u{202e}e"
        );
    }
}
