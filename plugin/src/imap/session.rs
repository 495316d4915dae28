//! One IMAP session over a host socket, driven through `imap-next`'s sans-I/O client: the
//! greeting, tagged commands with their data, and a cap on the size of any one response.

use imap_next::client::{Client, Error as ClientError, Event, Options};
use imap_next::imap_types::command::{Command, CommandBody};
use imap_next::imap_types::core::Tag;
use imap_next::imap_types::response::{Capability, Code, Data, Status, StatusKind};
use imap_next::{Interrupt, Io, State};
use serde::{Deserialize, Serialize};

use super::ImapError;
use crate::ports::ImapConnection;

/// Bytes asked of the host per read.
const READ_CHUNK: u32 = 64 * 1024;

pub struct Session {
    pub(super) client: Client,
    pub(super) conn: Box<dyn ImapConnection>,
    next_tag: u32,
    pub(super) capabilities: Vec<String>,
    /// The cap on one response; bytes read without an event beyond it end the session.
    max_response: u32,
    unanswered_bytes: u64,
    /// Bytes read since the current command was sent, against `MAX_COMMAND_BYTES`.
    command_bytes: u64,
    commands_sent: u32,
    /// The folder this session has open read-only (its last EXAMINE succeeded), if any.
    examined: Option<String>,
}

/// The cap on everything one command's answer may bring (the many responses of a LIST, say).
pub const MAX_COMMAND_BYTES: u64 = 8 * 1024 * 1024;

/// A tagged command's outcome: its untagged data, the codes of its untagged statuses
/// (`[UIDVALIDITY n]`, `[HIGHESTMODSEQ n]`, ...) and its status.
pub struct Answer {
    pub data: Vec<Data<'static>>,
    pub codes: Vec<Code<'static>>,
    pub status: Status<'static>,
}

/// What the server sent next: an event, or a response the codec cannot read (an extension's,
/// such as Gmail's `X-GM-*` fetch items), as its raw bytes.
#[allow(clippy::large_enum_variant)] // one at a time, moved out at once
pub enum Incoming {
    Event(Event),
    Unparsed(Vec<u8>),
}

impl Answer {
    pub fn is_ok(&self) -> bool {
        status_kind(&self.status) == Some(StatusKind::Ok)
    }

    /// The status's code and text, for an error message.
    pub fn describe(&self) -> String {
        match self.status.code() {
            Some(Code::Other(other)) => format!(
                "[{}] {}",
                String::from_utf8_lossy(other.inner()),
                self.status.text()
            ),
            Some(code) => format!("[{code:?}] {}", self.status.text()),
            None => self.status.text().inner().to_string(),
        }
    }
}

impl Session {
    /// Waits for the server's greeting; `max_response` caps any one response.
    pub fn start(conn: Box<dyn ImapConnection>, max_response: u32) -> Result<Self, ImapError> {
        let mut session = Session {
            client: new_client(max_response, false),
            conn,
            next_tag: 1,
            capabilities: Vec::new(),
            max_response,
            unanswered_bytes: 0,
            command_bytes: 0,
            commands_sent: 0,
            examined: None,
        };
        match session.next_event()? {
            Event::GreetingReceived { greeting } => {
                use imap_next::imap_types::response::GreetingKind;
                if greeting.kind == GreetingKind::Bye {
                    return Err(ImapError::Protocol(format!(
                        "the server refused the connection: {}",
                        greeting.text
                    )));
                }
                if let Some(Code::Capability(caps)) = &greeting.code {
                    session.capabilities = caps.as_ref().iter().map(capability_name).collect();
                }
            }
            other => {
                return Err(ImapError::Protocol(format!(
                    "expected a greeting, got {}",
                    event_name(&other)
                )));
            }
        }
        Ok(session)
    }

    /// The next event of the client, reading and writing the socket as it needs.
    pub(super) fn next_event(&mut self) -> Result<Event, ImapError> {
        match self.next_incoming()? {
            Incoming::Event(event) => Ok(event),
            Incoming::Unparsed(_) => Err(ImapError::Protocol(
                "the server sent something that is not IMAP".into(),
            )),
        }
    }

    /// The next event, or a response the codec could not read (the session goes on after it).
    pub(super) fn next_incoming(&mut self) -> Result<Incoming, ImapError> {
        loop {
            match self.client.next() {
                Ok(event) => {
                    self.unanswered_bytes = 0;
                    return Ok(Incoming::Event(event));
                }
                Err(Interrupt::Error(ClientError::MalformedMessage { discarded_bytes })) => {
                    self.unanswered_bytes = 0;
                    return Ok(Incoming::Unparsed(discarded_bytes.declassify().to_vec()));
                }
                Err(Interrupt::Io(Io::Output(bytes))) => self.conn.write(&bytes)?,
                Err(Interrupt::Io(Io::NeedMoreInput)) => {
                    // An endless line or literal would otherwise be read (and dropped) forever.
                    if self.unanswered_bytes > u64::from(self.max_response) + u64::from(READ_CHUNK)
                    {
                        return Err(ImapError::Protocol(format!(
                            "a response was over the size cap of {} bytes",
                            self.max_response
                        )));
                    }
                    // A session whose responses may be large (sync's) allows one of them per answer.
                    let command_cap =
                        MAX_COMMAND_BYTES.max(u64::from(self.max_response) + u64::from(READ_CHUNK));
                    if self.command_bytes > command_cap {
                        return Err(ImapError::Protocol(format!(
                            "the answer to one command went over {command_cap} bytes"
                        )));
                    }
                    let bytes = self.conn.read(READ_CHUNK)?;
                    self.unanswered_bytes += bytes.len() as u64;
                    self.command_bytes += bytes.len() as u64;
                    self.client.enqueue_input(&bytes);
                }
                Err(Interrupt::Error(e)) => return Err(protocol_error(e)),
            }
        }
    }

    /// Sends a raw command line without waiting; its answer comes through `next_incoming`.
    pub(super) fn send_raw(&mut self, text: &str) -> Result<Tag<'static>, ImapError> {
        let tag = self.tag();
        self.conn
            .write(format!("{} {text}\r\n", tag.inner()).as_bytes())?;
        Ok(tag)
    }

    /// Goes on with a session whose IDLE was just ended on `conn` (no greeting comes).
    pub fn resume(conn: Box<dyn ImapConnection>, state: &IdleState) -> Self {
        Session {
            client: new_client(state.max_response, true),
            conn,
            next_tag: state.next_tag,
            capabilities: state.capabilities.clone(),
            max_response: state.max_response,
            unanswered_bytes: 0,
            command_bytes: 0,
            commands_sent: 0,
            examined: state.examined.clone(),
        }
    }

    /// The connection, to hand to the host while idling.
    pub fn into_connection(self) -> Box<dyn ImapConnection> {
        self.conn
    }

    pub(super) fn next_tag(&self) -> u32 {
        self.next_tag
    }

    pub(super) fn max_response(&self) -> u32 {
        self.max_response
    }

    /// The folder this session has open read-only, if any.
    pub fn examined(&self) -> Option<&str> {
        self.examined.as_deref()
    }

    /// Notes the folder opened (or, with `None`, that none is: a failed EXAMINE closes the
    /// folder open before it).
    pub(super) fn set_examined(&mut self, folder: Option<&str>) {
        self.examined = folder.map(str::to_string);
    }

    /// Commands sent in this session so far.
    pub fn commands_sent(&self) -> u32 {
        self.commands_sent
    }

    pub(super) fn tag(&mut self) -> Tag<'static> {
        self.commands_sent += 1;
        let tag = format!("A{}", self.next_tag);
        self.next_tag += 1;
        Tag::try_from(tag).expect("A<n> is a valid tag")
    }

    /// Sends `body` and collects its data until its tagged status.
    pub fn command(&mut self, body: CommandBody<'static>) -> Result<Answer, ImapError> {
        let tag = self.tag();
        self.client.enqueue_command(Command {
            tag: tag.clone(),
            body,
        });
        self.until_tagged(&tag)
    }

    /// Sends a command line the codec cannot build (an extension), while nothing is in flight.
    pub fn raw_command(&mut self, text: &str) -> Result<Answer, ImapError> {
        let tag = self.send_raw(text)?;
        self.until_tagged(&tag)
    }

    /// Starts counting the bytes of a new command's answer.
    pub(super) fn begin_command(&mut self) {
        self.command_bytes = 0;
    }

    pub(super) fn until_tagged(&mut self, tag: &Tag<'static>) -> Result<Answer, ImapError> {
        self.begin_command();
        let mut data = Vec::new();
        let mut codes = Vec::new();
        loop {
            match self.next_event()? {
                Event::StatusReceived {
                    status: Status::Untagged(body),
                } => codes.extend(body.code),
                Event::DataReceived { data: d } => {
                    if let Data::Capability(caps) = &d {
                        self.capabilities = caps.as_ref().iter().map(capability_name).collect();
                    }
                    data.push(d);
                }
                Event::StatusReceived { status } | Event::CommandRejected { status, .. }
                    if status.tag() == Some(tag) =>
                {
                    return Ok(Answer {
                        data,
                        codes,
                        status,
                    });
                }
                Event::StatusReceived {
                    status: Status::Bye(bye),
                } => {
                    return Err(ImapError::Protocol(format!(
                        "the server ended the session: {}",
                        bye.text
                    )));
                }
                _ => {}
            }
        }
    }

    /// The server's capabilities, asked for when the greeting did not list them.
    pub fn capabilities(&mut self) -> Result<&[String], ImapError> {
        if self.capabilities.is_empty() {
            let answer = self.command(CommandBody::Capability)?;
            if !answer.is_ok() {
                return Err(ImapError::Protocol(format!(
                    "CAPABILITY failed: {}",
                    answer.describe()
                )));
            }
        }
        Ok(&self.capabilities)
    }

    /// The capabilities a status's code lists; without one, they are asked again when needed.
    pub(super) fn set_capabilities_from(&mut self, code: Option<&Code<'_>>) {
        self.capabilities = match code {
            Some(Code::Capability(caps)) => caps.as_ref().iter().map(capability_name).collect(),
            _ => Vec::new(),
        };
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    /// LOGOUT, best effort: the session ends either way.
    pub fn logout(mut self) {
        let _ = self.command(CommandBody::Logout);
    }
}

/// Whether a status is OK, NO or BAD (`None` for BYE).
pub(super) fn status_kind(status: &Status<'_>) -> Option<StatusKind> {
    match status {
        Status::Tagged(t) => Some(t.body.kind),
        Status::Untagged(b) => Some(b.kind),
        Status::Bye(_) => None,
    }
}

pub(super) fn capability_name(c: &Capability<'_>) -> String {
    c.to_string()
}

fn protocol_error(e: ClientError) -> ImapError {
    ImapError::Protocol(match e {
        ClientError::ExpectedCrlfGotLf { .. } => "a line did not end in CRLF".into(),
        ClientError::MalformedMessage { .. } => "the server sent something that is not IMAP".into(),
        ClientError::ResponseTooLong { .. } => "a response was over the size cap".into(),
    })
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::DataReceived { .. } => "data",
        Event::StatusReceived { .. } => "a status",
        _ => "another event",
    }
}

/// STARTTLS on a session whose greeting came in plain text, then a fresh client over TLS (the
/// capabilities from before TLS are forgotten, RFC 3501 6.2.1).
pub(super) fn upgrade(mut session: Session) -> Result<Session, ImapError> {
    let answer = session.raw_command("STARTTLS")?;
    if !answer.is_ok() {
        return Err(ImapError::Protocol(format!(
            "STARTTLS refused: {}",
            answer.describe()
        )));
    }
    session.conn.start_tls()?;
    session.client = new_client(session.max_response, true);
    session.capabilities.clear();
    Ok(session)
}

/// `imap-next`'s client with the response cap; after STARTTLS there is no second greeting.
/// The reader a session starts with (after the greeting is awaited), for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) fn reader_for_fuzzing() -> Client {
    new_client(crate::imap::MAX_RESPONSE_BYTES, false)
}

fn new_client(max_response: u32, after_starttls: bool) -> Client {
    let mut options = Options::default();
    options.max_response_size = max_response;
    options.crlf_relaxed = true;
    options.discard_greeting = after_starttls;
    Client::new(options)
}

/// What a session parked in IDLE needs to go on: its IDLE tag, the next tag, its capabilities,
/// and the folder it has open (IDLE leaves it open).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleState {
    pub tag: String,
    pub next_tag: u32,
    pub capabilities: Vec<String>,
    pub max_response: u32,
    #[serde(default)]
    pub examined: Option<String>,
}
