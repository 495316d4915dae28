//! A scripted IMAP server: each command line the client writes is answered from a script, and
//! everything written is kept in a transcript for the test to read.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::model::ImapSecurity;
use crate::ports::{ImapConnection, ImapSockets, SocketFailure};

/// One connection's conversation: the greeting, then the replies to commands.
#[derive(Debug, Clone, Default)]
pub struct Script {
    greeting: String,
    replies: Vec<ScriptedReply>,
    /// Replies added from now on may go unasked (the run is to stop before them).
    rest_unasked: bool,
}

/// A reply, for the command it answers; one the client must ask for, unless `optional`.
#[derive(Debug, Clone)]
struct ScriptedReply {
    command: String,
    reply: String,
    optional: bool,
}

impl Script {
    pub fn new(greeting: &str) -> Self {
        Script {
            greeting: greeting.to_string(),
            replies: Vec::new(),
            rest_unasked: false,
        }
    }

    /// Answers the next command line whose text after the tag starts with `command`, once, with
    /// `reply`, in which `{tag}` stands for the command's tag. A line without a tag (a SASL
    /// continuation) belongs to the command before it; `""` matches any line.
    /// The client must ask for it: a connection that closes with it unread fails the test.
    pub fn reply(mut self, command: &str, reply: impl Into<String>) -> Self {
        self.replies.push(ScriptedReply {
            command: command.to_string(),
            reply: reply.into(),
            optional: self.rest_unasked,
        });
        self
    }

    /// As `reply`, for a command the test checks whether the client sends: it may go unasked.
    pub fn reply_if_asked(self, command: &str, reply: impl Into<String>) -> Self {
        let mut script = self.reply(command, reply);
        if let Some(last) = script.replies.last_mut() {
            last.optional = true;
        }
        script
    }

    /// Every reply added after this may go unasked: the run is to stop before them.
    pub fn rest_may_go_unasked(mut self) -> Self {
        self.rest_unasked = true;
        self
    }
}

/// Everything the client wrote on a connection.
#[derive(Debug, Clone, Default)]
pub struct Transcript(Rc<RefCell<Vec<u8>>>);

impl Transcript {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }

    /// The command lines written, without their tags.
    pub fn commands(&self) -> Vec<String> {
        let text = self.text();
        let lines = text.lines().map(|l| match l.split_once(' ') {
            Some((tag, rest)) if is_tag(tag) => rest.to_string(),
            _ => l.to_string(),
        });
        lines.collect()
    }
}

fn is_tag(word: &str) -> bool {
    word.len() > 1 && word.starts_with('A') && word[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A connection that plays a `Script`. Once the client waits for an answer the script does not
/// have, reading fails naming the command; once everything is read, the server has closed.
pub struct ScriptedConnection {
    replies: VecDeque<ScriptedReply>,
    pending: Vec<u8>,
    written: Transcript,
    line: Vec<u8>,
    /// The tag of the last command; a continuation line (no tag) belongs to it.
    last_tag: String,
    unanswered: Option<String>,
}

impl ScriptedConnection {
    pub fn new(script: Script) -> (Self, Transcript) {
        let written = Transcript::default();
        let conn = ScriptedConnection {
            replies: script.replies.into(),
            pending: script.greeting.into_bytes(),
            written: written.clone(),
            line: Vec::new(),
            last_tag: String::new(),
            unanswered: None,
        };
        (conn, written)
    }

    fn answer(&mut self, line: &str) {
        let rest = match line.split_once(' ').filter(|(t, _)| is_tag(t)) {
            Some((tag, rest)) => {
                self.last_tag = tag.to_string();
                rest
            }
            None => line,
        };
        let found = self
            .replies
            .iter()
            .position(|r| rest.starts_with(&r.command));
        match found.and_then(|i| self.replies.remove(i)) {
            Some(scripted) => {
                let reply = scripted.reply.replace("{tag}", &self.last_tag);
                self.pending.extend_from_slice(reply.as_bytes());
            }
            None => self.unanswered = Some(rest.to_string()),
        }
    }
}

/// A script's replies the client never asked for are a test that proves less than it says: the
/// connection fails the test naming them when it closes (unless the test is failing already).
impl Drop for ScriptedConnection {
    fn drop(&mut self) {
        let unused: Vec<&str> = self
            .replies
            .iter()
            .filter(|r| !r.optional)
            .map(|r| r.command.as_str())
            .collect();
        if !unused.is_empty() && !std::thread::panicking() {
            panic!("scripted replies were never asked for: {unused:?}");
        }
    }
}

impl ImapConnection for ScriptedConnection {
    fn read(&mut self, max: u32) -> Result<Vec<u8>, SocketFailure> {
        if self.pending.is_empty() {
            return Err(match self.unanswered.take() {
                Some(command) => SocketFailure::Other(format!("no scripted answer to {command}")),
                None => SocketFailure::Closed,
            });
        }
        let n = self.pending.len().min(max as usize);
        Ok(self.pending.drain(..n).collect())
    }

    fn write(&mut self, data: &[u8]) -> Result<(), SocketFailure> {
        self.written.0.borrow_mut().extend_from_slice(data);
        for &b in data {
            self.line.push(b);
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.line).trim_end().to_string();
                self.line.clear();
                self.answer(&line);
            }
        }
        Ok(())
    }

    fn start_tls(&mut self) -> Result<(), SocketFailure> {
        Ok(())
    }
}

/// Opens one scripted connection per script, in order; with none left, the server is
/// unreachable.
#[derive(Default)]
pub struct ScriptedSockets {
    pub scripts: RefCell<VecDeque<Script>>,
    /// Where each connection went, and what the client wrote on it.
    pub opened: RefCell<Vec<(String, u16, ImapSecurity, Transcript)>>,
}

impl ScriptedSockets {
    pub fn push(&self, script: Script) {
        self.scripts.borrow_mut().push_back(script);
    }
}

impl ImapSockets for ScriptedSockets {
    fn open(
        &self,
        host: &str,
        port: u16,
        security: ImapSecurity,
    ) -> Result<Box<dyn ImapConnection>, SocketFailure> {
        let script = self.scripts.borrow_mut().pop_front();
        let script = script.ok_or_else(|| SocketFailure::Unreachable(host.to_string()))?;
        let (conn, transcript) = ScriptedConnection::new(script);
        let opened = (host.to_string(), port, security, transcript);
        self.opened.borrow_mut().push(opened);
        Ok(Box::new(conn))
    }
}
