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
    if !text.chars().any(acts_on) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if acts_on(c) {
                    format!("\\u{{{:x}}}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Writes `text`, made safe, to standard output; a closed pipe ends the output quietly.
pub fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(safe(text).as_bytes());
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
    use super::safe;

    #[test]
    fn controls_and_overrides_are_shown_not_obeyed() {
        assert_eq!(safe("Offerte 12\n\tklaar"), "Offerte 12\n\tklaar");
        assert_eq!(
            safe("a\u{1b}[2Jb\rc\u{7}\u{9b}d\u{202e}e"),
            "a\\u{1b}[2Jb\\u{d}c\\u{7}\\u{9b}d\\u{202e}e"
        );
    }
}
