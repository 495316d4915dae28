//! The read-only rule the host keeps on an IMAP connection lent to a call that only reads (sync,
//! watch, folders, linking): it reads the plugin's commands as they go out and refuses any that could change the mailbox.

/// The commands a read-only connection lets through: they read the mailbox, or manage the
/// session. Everything else (`SELECT`, `STORE`, `COPY`, `MOVE`, `EXPUNGE`, `APPEND`, `CREATE`,
/// `DELETE`, `RENAME`, `SETACL`, `SUBSCRIBE`, `COMPRESS`, unknown extensions ...) is refused.
const READING_COMMANDS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "ENABLE",
    "ID",
    "NAMESPACE",
    "LIST",
    "LSUB",
    "XLIST",
    "STATUS",
    "EXAMINE",
    "UNSELECT",
    "CHECK",
    "SEARCH",
    "FETCH",
    "SORT",
    "THREAD",
    "IDLE",
    "GETQUOTA",
    "GETQUOTAROOT",
    "GETMETADATA",
    "MYRIGHTS",
    "GETACL",
    "LISTRIGHTS",
];

/// The `UID` forms a read-only connection lets through.
const READING_UID_COMMANDS: &[&str] = &["FETCH", "SEARCH", "SORT", "THREAD"];

/// The longest start of a line (tag and command names) the host reads to decide.
const MAX_HEAD: usize = 256;

/// Why the host refused a write on a read-only connection; nothing of that write was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Where the scan of the outgoing stream stands, between writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Position {
    /// At the start of a line.
    #[default]
    LineStart,
    /// Inside a line already allowed; `tail` holds its last bytes, to see a literal's start.
    InLine { tail: Vec<u8> },
}

/// Reads the commands a read-only connection sends, across writes.
#[derive(Debug, Clone, Default)]
pub struct ReadOnlyGuard {
    position: Position,
}

impl ReadOnlyGuard {
    /// Checks one write before it goes out. `Err` names what was refused, and leaves the guard
    /// as it was: the connection goes on as if the write had not been made.
    pub fn check(&mut self, data: &[u8]) -> Result<(), Refused> {
        let mut position = self.position.clone();
        let mut rest = data;
        while !rest.is_empty() {
            match position {
                Position::LineStart => {
                    let head_end = rest
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| i + 1);
                    let head = &rest[..head_end.min(MAX_HEAD)];
                    let decided = decide(head)?;
                    let end = decided.min(head_end);
                    position = if rest[..end].ends_with(b"\n") {
                        Position::LineStart
                    } else {
                        Position::InLine {
                            tail: rest[..end].to_vec(),
                        }
                    };
                    rest = &rest[end..];
                }
                Position::InLine { ref mut tail } => {
                    let end = rest
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| i + 1);
                    tail.extend_from_slice(&rest[..end]);
                    if tail.len() > 32 {
                        tail.drain(..tail.len() - 32);
                    }
                    let ended = tail.ends_with(b"\n");
                    if ended {
                        refuse_literal(tail)?;
                        position = Position::LineStart;
                    }
                    rest = &rest[end..];
                }
            }
        }
        self.position = position;
        Ok(())
    }
}

/// Decides on a line from its start: how many bytes of it are allowed (its whole head), or why
/// it is refused.
fn decide(head: &[u8]) -> Result<usize, Refused> {
    let ended = head.ends_with(b"\n");
    let body = head.strip_suffix(b"\n").unwrap_or(head);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let mut words = body.splitn(4, |&b| b == b' ');
    let tag = words.next().unwrap_or_default();
    let Some(name) = words.next() else {
        // One word and the line's end: an answer within a command (a SASL response, `DONE`
        // after IDLE, `*` to cancel), never a command of its own.
        if ended && body.iter().all(|b| b.is_ascii_graphic()) {
            return Ok(head.len());
        }
        return Err(undecided(head));
    };
    let complete = |word_count_after: bool| ended || word_count_after;
    let sub = words.next();
    if tag.is_empty() || !tag.iter().all(|b| b.is_ascii_graphic()) {
        return Err(Refused(format!(
            "a command line whose tag is not a word: {}",
            shown(head)
        )));
    }
    // The name is known once a space or the line's end follows it.
    if !complete(sub.is_some()) {
        return Err(undecided(head));
    }
    let name = name.to_ascii_uppercase();
    if name == b"UID" {
        let Some(sub) = sub else {
            return Err(refused_command("UID"));
        };
        if !complete(words.next().is_some()) {
            return Err(undecided(head));
        }
        let sub = String::from_utf8_lossy(&sub.to_ascii_uppercase()).into_owned();
        if !READING_UID_COMMANDS.contains(&sub.as_str()) {
            return Err(refused_command(&format!("UID {sub}")));
        }
    } else {
        let name = String::from_utf8_lossy(&name).into_owned();
        if !READING_COMMANDS.contains(&name.as_str()) {
            return Err(refused_command(&name));
        }
    }
    if ended {
        refuse_literal(head)?;
    }
    Ok(head.len())
}

/// A line that ends in `{N}` or `{N+}` announces a literal: its bytes would not be read as
/// commands by the host, yet a server that refused the line would read them as commands. No
/// command that only reads needs one, so a read-only connection sends none.
fn refuse_literal(line: &[u8]) -> Result<(), Refused> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    if body.ends_with(b"}") && body.contains(&b'{') {
        let open = body.iter().rposition(|&b| b == b'{').unwrap_or(0);
        let inside = &body[open + 1..body.len() - 1];
        let digits = inside.strip_suffix(b"+").unwrap_or(inside);
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
            return Err(Refused(
                "a literal on a read-only connection (a command that only reads needs none)".into(),
            ));
        }
    }
    Ok(())
}

fn refused_command(name: &str) -> Refused {
    Refused(format!(
        "{name} would change the mailbox, and this call may only read it"
    ))
}

fn undecided(head: &[u8]) -> Refused {
    Refused(format!(
        "a command's tag and name must come whole in one write: {}",
        shown(head)
    ))
}

/// At most 40 bytes of `bytes`, for an error message (never a credential: a refused line is
/// cut before its arguments where it can be).
fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(40)];
    String::from_utf8_lossy(cut).escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(writes: &[&[u8]]) -> Result<(), Refused> {
        let mut guard = ReadOnlyGuard::default();
        writes.iter().try_for_each(|w| guard.check(w))
    }

    #[test]
    fn commands_that_read_go_through() {
        for ok in [
            &b"a1 CAPABILITY\r\n"[..],
            b"a2 AUTHENTICATE XOAUTH2 dXNlcj1hbm5h\r\n",
            b"a3 examine \"INBOX\" (CONDSTORE)\r\n",
            b"a4 UID FETCH 1:* (UID FLAGS BODY.PEEK[])\r\na5 uid search ALL\r\n",
            b"a6 IDLE\r\nDONE\r\n",
            b"a7 AUTHENTICATE XOAUTH2\r\n\r\n",
            b"a8 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n",
            b"a9 NOOP\r\n",
        ] {
            assert_eq!(check(&[ok]), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
        // A long command may come in pieces once its name is known.
        assert_eq!(
            check(&[b"a1 UID FETCH 1:5,7", b",9 (FLAGS)\r\n", b"a2 NOOP\r\n"]),
            Ok(())
        );
    }

    #[test]
    fn commands_that_change_the_mailbox_are_refused() {
        for refused in [
            &b"a1 SELECT INBOX\r\n"[..],
            b"a1 select INBOX\r\n",
            b"a1 STORE 1 +FLAGS (\\Deleted)\r\n",
            b"a1 UID STORE 1 +FLAGS (\\Seen)\r\n",
            b"a1 COPY 1 Trash\r\n",
            b"a1 UID MOVE 1 Trash\r\n",
            b"a1 EXPUNGE\r\n",
            b"a1 UID EXPUNGE 4\r\n",
            b"a1 APPEND INBOX {3+}\r\nabc\r\n",
            b"a1 CREATE x\r\n",
            b"a1 DELETE INBOX\r\n",
            b"a1 RENAME INBOX x\r\n",
            b"a1 SETACL INBOX bob lrswipkxtea\r\n",
            b"a1 SUBSCRIBE x\r\n",
            b"a1 COMPRESS DEFLATE\r\n",
            b"a1 XFOO\r\n",
            b"a1 UID\r\n",
            b"a1  STORE 1 +FLAGS (\\Seen)\r\n",
            b"a1\tSTORE 1 +FLAGS (\\Seen)\r\n",
            b"a1 NOOP\r\na2 STORE 1 +FLAGS (\\Seen)\r\n",
        ] {
            assert!(
                check(&[refused]).is_err(),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
    }

    #[test]
    fn a_literal_cannot_hide_a_command() {
        // If a server refused the line, it would read the literal's bytes as a new command.
        assert!(check(&[b"a1 EXAMINE {30}\r\n", b"a2 STORE 1 +FLAGS (\\Deleted)\r\n"]).is_err());
        assert!(check(&[b"a1 SEARCH TEXT {4+}\r\n"]).is_err());
        assert!(check(&[b"a1 FETCH 1 (BODY.PEEK[]", b") {3}\r\n"]).is_err());
    }

    #[test]
    fn a_command_split_before_its_name_is_known_is_refused() {
        assert!(check(&[b"a1 STO", b"RE 1 +FLAGS (\\Seen)\r\n"]).is_err());
        assert!(check(&[b"a1 UID ", b"STORE 1 +FLAGS (\\Seen)\r\n"]).is_err());
        assert!(check(&[b"a1"]).is_err());
    }

    #[test]
    fn a_refused_write_leaves_the_guard_as_it_was() {
        let mut guard = ReadOnlyGuard::default();
        assert_eq!(guard.check(b"a1 NOOP\r\n"), Ok(()));
        assert!(guard.check(b"a2 NOOP\r\na3 SELECT INBOX\r\n").is_err());
        assert_eq!(guard.check(b"a4 EXAMINE INBOX\r\n"), Ok(()));
        assert!(guard.check(b"a5 STORE 1 +FLAGS (\\Seen)\r\n").is_err());
    }
}
