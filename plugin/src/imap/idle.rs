//! IMAP IDLE (RFC 2177) across instances: start it on a session, part from the session with what
//! resuming needs, and end it on the connection the host hands back before commands go on. The
//! lines read while idling are not interpreted: any of them means "something changed".

use super::ImapError;
pub use super::session::IdleState;
use super::session::Session;
use crate::ports::ImapConnection;

/// Bytes asked of the host per read while idling.
const READ_CHUNK: u32 = 64 * 1024;
/// The most an idle period's notifications may bring before its end is found.
const MAX_IDLE_BYTES: usize = 4 * 1024 * 1024;

/// How a request to IDLE ended.
pub enum IdleStarted {
    /// The server is idling and nothing has arrived yet: the connection may be parked.
    Idling(Box<dyn ImapConnection>, IdleState),
    /// Something arrived at once; the IDLE was ended again, and the session goes on.
    News(Session),
    /// The server refused IDLE; the session goes on.
    Refused(Session),
}

impl Session {
    /// Sends IDLE and waits for the server's continuation.
    pub fn start_idle(mut self) -> Result<IdleStarted, ImapError> {
        let tag = self.send_raw("IDLE")?.inner().to_string();
        let mut reader = LineReader::default();
        loop {
            let line = reader.line(&mut *self.conn)?;
            if line.starts_with(b"+") {
                break;
            }
            if is_tagged(&line, &tag) {
                return Ok(IdleStarted::Refused(self));
            }
        }
        let state = IdleState {
            tag,
            next_tag: self.next_tag(),
            capabilities: self.capabilities.clone(),
            max_response: self.max_response(),
            examined: self.examined().map(str::to_string),
        };
        if reader.buffered() {
            let conn = end_idle_on(self.into_connection(), &state, reader)?;
            return Ok(IdleStarted::News(Session::resume(conn, &state)));
        }
        Ok(IdleStarted::Idling(self.into_connection(), state))
    }
}

/// Ends the IDLE of a connection handed back by the host (`DONE`, then its tagged answer), and
/// goes on with a session on it.
pub fn end_idle(conn: Box<dyn ImapConnection>, state: &IdleState) -> Result<Session, ImapError> {
    let conn = end_idle_on(conn, state, LineReader::default())?;
    Ok(Session::resume(conn, state))
}

fn end_idle_on(
    mut conn: Box<dyn ImapConnection>,
    state: &IdleState,
    mut reader: LineReader,
) -> Result<Box<dyn ImapConnection>, ImapError> {
    conn.write(b"DONE\r\n")?;
    loop {
        let line = reader.line(&mut *conn)?;
        if is_tagged(&line, &state.tag) {
            return if line_status_ok(&line, &state.tag) {
                Ok(conn)
            } else {
                Err(ImapError::Protocol(format!(
                    "IDLE ended with {}",
                    String::from_utf8_lossy(&line).trim_end()
                )))
            };
        }
        if line.starts_with(b"* BYE") {
            return Err(ImapError::Protocol("the server ended the session".into()));
        }
    }
}

fn is_tagged(line: &[u8], tag: &str) -> bool {
    line.strip_prefix(tag.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&b' '))
}

fn line_status_ok(line: &[u8], tag: &str) -> bool {
    let rest = &line[tag.len()..];
    rest.len() >= 3 && rest[1..3].eq_ignore_ascii_case(b"OK")
}

/// Reads whole lines, skipping the literals (`{n}`) a line may announce.
#[derive(Default)]
struct LineReader {
    buf: Vec<u8>,
    read: usize,
}

impl LineReader {
    /// Whether bytes beyond the lines returned have arrived.
    fn buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    fn line(&mut self, conn: &mut dyn ImapConnection) -> Result<Vec<u8>, ImapError> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.buf) {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                if let Some(n) = literal_length(&line) {
                    self.skip(conn, n)?;
                    // The line goes on after the literal; what matters is how it starts.
                    let mut rest = self.line(conn)?;
                    let mut whole = line;
                    whole.append(&mut rest);
                    return Ok(whole);
                }
                return Ok(line);
            }
            self.fill(conn)?;
        }
    }

    fn skip(&mut self, conn: &mut dyn ImapConnection, mut n: usize) -> Result<(), ImapError> {
        loop {
            let take = n.min(self.buf.len());
            self.buf.drain(..take);
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.fill(conn)?;
        }
    }

    fn fill(&mut self, conn: &mut dyn ImapConnection) -> Result<(), ImapError> {
        let bytes = conn.read(READ_CHUNK)?;
        self.read += bytes.len();
        if self.read > MAX_IDLE_BYTES {
            return Err(ImapError::Protocol(format!(
                "the server sent over {MAX_IDLE_BYTES} bytes while idling"
            )));
        }
        self.buf.extend_from_slice(&bytes);
        Ok(())
    }
}

/// `n` when a line ends with a literal's announcement `{n}` (or `{n+}`).
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = inner[open + 1..]
        .strip_suffix(b"+")
        .unwrap_or(&inner[open + 1..]);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_announcement_is_read_from_the_end_of_a_line() {
        assert_eq!(literal_length(b"* 3 FETCH (BODY[] {12}\r\n"), Some(12));
        assert_eq!(literal_length(b"* 3 FETCH (X {5+}\r\n"), Some(5));
        assert_eq!(literal_length(b"* 3 EXISTS\r\n"), None);
        assert_eq!(literal_length(b"* OK {not a number}\r\n"), None);
    }

    #[test]
    fn only_the_idle_tag_followed_by_a_space_ends_it() {
        assert!(is_tagged(b"A12 OK IDLE terminated\r\n", "A12"));
        assert!(!is_tagged(b"A123 OK other\r\n", "A12"));
        assert!(line_status_ok(b"A12 OK done\r\n", "A12"));
        assert!(!line_status_ok(b"A12 NO done\r\n", "A12"));
    }
}
