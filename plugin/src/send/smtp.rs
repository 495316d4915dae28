//! One SMTP submission (RFC 6409) over the host's socket: EHLO, STARTTLS where asked, AUTH with
//! the access token, then the envelope and the message. smtp-proto reads every reply.

use base64::Engine;
use smtp_proto::response::parser::ResponseReceiver;
use smtp_proto::{AUTH_OAUTHBEARER, AUTH_XOAUTH2, EXT_START_TLS, EhloResponse, Response};

use crate::model::ImapEndpoint;
use crate::ports::{SubmissionConnection, Submissions};
use crate::providers::ImapSecurity;

/// The most a reply may take before the server is taken for broken.
const MAX_REPLY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Accepted,
    /// The server refused the access token: refresh it and try again.
    TokenRejected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpFailure {
    /// The server could not be reached, or the connection failed (why).
    Unreachable(String),
    /// The host or the server refused before the message went (why).
    Refused(String),
    RecipientsRefused(Vec<(String, String)>),
    TooLarge {
        limit: u64,
        actual: u64,
    },
    TooManyRecipients {
        limit: u64,
    },
    /// A reply other than the one expected.
    Reply {
        code: u16,
        text: String,
    },
}

struct Session {
    conn: Box<dyn SubmissionConnection>,
    buf: Vec<u8>,
}

impl Session {
    /// The next whole reply's bytes.
    fn reply_bytes(&mut self) -> Result<Vec<u8>, SmtpFailure> {
        loop {
            let mut receiver = ResponseReceiver::default();
            let mut bytes = self.buf.iter();
            match receiver.parse(&mut bytes) {
                Ok(_) => {
                    let used = self.buf.len() - bytes.as_slice().len();
                    return Ok(self.buf.drain(..used).collect());
                }
                Err(smtp_proto::Error::NeedsMoreData { .. }) => {}
                Err(e) => {
                    return Err(SmtpFailure::Unreachable(format!(
                        "the server's reply could not be read: {e:?}"
                    )));
                }
            }
            if self.buf.len() > MAX_REPLY_BYTES {
                return Err(SmtpFailure::Unreachable(
                    "the server's reply is too long".into(),
                ));
            }
            let more = self.conn.read(16 * 1024)?;
            self.buf.extend_from_slice(&more);
        }
    }

    fn reply(&mut self) -> Result<Response<String>, SmtpFailure> {
        let bytes = self.reply_bytes()?;
        ResponseReceiver::default()
            .parse(&mut bytes.iter())
            .map_err(|e| SmtpFailure::Unreachable(format!("unreadable reply: {e:?}")))
    }

    /// Sends `line` and reads its reply.
    fn command(&mut self, line: &str) -> Result<Response<String>, SmtpFailure> {
        self.conn.write(line.as_bytes())?;
        self.reply()
    }

    fn expect(&mut self, line: &str, code: u16) -> Result<(), SmtpFailure> {
        let reply = self.command(line)?;
        if reply.code == code {
            Ok(())
        } else {
            Err(unexpected(reply))
        }
    }

    fn ehlo(&mut self, domain: &str) -> Result<EhloResponse<String>, SmtpFailure> {
        self.conn.write(format!("EHLO {domain}\r\n").as_bytes())?;
        let bytes = self.reply_bytes()?;
        match EhloResponse::parse(&mut bytes.iter()) {
            Ok(ehlo) => Ok(ehlo),
            Err(_) => Err(unexpected(
                ResponseReceiver::default()
                    .parse(&mut bytes.iter())
                    .unwrap_or(Response {
                        code: 0,
                        esc: [0; 3],
                        message: "an EHLO reply that could not be read".into(),
                    }),
            )),
        }
    }
}

fn unexpected(reply: Response<String>) -> SmtpFailure {
    let esc = reply.esc;
    let text = if esc[0] != 0 {
        format!("{}.{}.{} {}", esc[0], esc[1], esc[2], reply.message)
    } else {
        reply.message
    };
    SmtpFailure::Reply {
        code: reply.code,
        text: text.replace(['\r', '\n'], " "),
    }
}

/// Submits `message` from `from` to `recipients`, logged in as `username` with `token`.
pub fn submit(
    sockets: &dyn Submissions,
    endpoint: &ImapEndpoint,
    username: &str,
    token: &str,
    from: &str,
    recipients: &[&str],
    message: &[u8],
) -> Result<Submitted, SmtpFailure> {
    let conn = sockets.open(&endpoint.host, endpoint.port, endpoint.security)?;
    let mut session = Session {
        conn,
        buf: Vec::new(),
    };
    let greeting = session.reply()?;
    if greeting.code != 220 {
        return Err(unexpected(greeting));
    }
    let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let mut ehlo = session.ehlo(domain)?;
    if endpoint.security == ImapSecurity::StartTls {
        if !ehlo.has_capability(EXT_START_TLS) {
            return Err(SmtpFailure::Refused(
                "the submission server does not offer STARTTLS".into(),
            ));
        }
        session.expect("STARTTLS\r\n", 220)?;
        session.conn.start_tls()?;
        ehlo = session.ehlo(domain)?;
    }
    if !authenticate(&mut session, &ehlo, username, token)? {
        let _ = session.conn.write(b"QUIT\r\n");
        return Ok(Submitted::TokenRejected);
    }
    if ehlo.size > 0 && message.len() > ehlo.size {
        return Err(SmtpFailure::TooLarge {
            limit: ehlo.size as u64,
            actual: message.len() as u64,
        });
    }
    session.expect(&format!("MAIL FROM:<{from}>\r\n"), 250)?;
    let mut refused = Vec::new();
    for rcpt in recipients {
        let reply = session.command(&format!("RCPT TO:<{rcpt}>\r\n"))?;
        if !matches!(reply.code, 250 | 251) {
            if (400..500).contains(&reply.code) {
                let _ = session.command("RSET\r\n");
                return Err(unexpected(reply));
            }
            refused.push((rcpt.to_string(), unexpected_text(reply)));
        }
    }
    if !refused.is_empty() {
        // Nothing is sent to anyone unless every recipient is taken.
        let _ = session.command("RSET\r\n");
        let _ = session.conn.write(b"QUIT\r\n");
        return Err(SmtpFailure::RecipientsRefused(refused));
    }
    session.expect("DATA\r\n", 354)?;
    session.conn.write(&dot_stuffed(message))?;
    let accepted = session.reply()?;
    if accepted.code != 250 {
        return Err(unexpected(accepted));
    }
    let _ = session.command("QUIT\r\n");
    Ok(Submitted::Accepted)
}

fn unexpected_text(reply: Response<String>) -> String {
    match unexpected(reply) {
        SmtpFailure::Reply { code, text } => format!("{code} {text}"),
        other => format!("{other:?}"),
    }
}

/// AUTH with the token: XOAUTH2 where offered, else OAUTHBEARER (RFC 7628). False when the
/// server refused the token.
fn authenticate(
    session: &mut Session,
    ehlo: &EhloResponse<String>,
    username: &str,
    token: &str,
) -> Result<bool, SmtpFailure> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let (mechanism, initial) = if ehlo.auth_mechanisms & AUTH_XOAUTH2 != 0 {
        (
            "XOAUTH2",
            format!("user={username}\x01auth=Bearer {token}\x01\x01"),
        )
    } else if ehlo.auth_mechanisms & AUTH_OAUTHBEARER != 0 {
        let user = username.replace('=', "=3D").replace(',', "=2C");
        (
            "OAUTHBEARER",
            format!("n,a={user},\x01auth=Bearer {token}\x01\x01"),
        )
    } else {
        return Err(SmtpFailure::Refused(
            "the submission server offers neither XOAUTH2 nor OAUTHBEARER".into(),
        ));
    };
    let mut reply = session.command(&format!("AUTH {mechanism} {}\r\n", b64.encode(initial)))?;
    if reply.code == 334 {
        // The server's error, as a challenge: an empty answer (XOAUTH2) or ^A (OAUTHBEARER)
        // ends the exchange with the refusal.
        let answer = if mechanism == "XOAUTH2" {
            String::new()
        } else {
            b64.encode([1u8])
        };
        reply = session.command(&format!("{answer}\r\n"))?;
    }
    match reply.code {
        235 => Ok(true),
        535 => Ok(false),
        _ => Err(unexpected(reply)),
    }
}

/// The message as DATA carries it: CRLF line ends, a leading dot doubled, and the end of data.
fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut at_line_start = true;
    let mut previous = 0u8;
    for &b in message {
        match b {
            b'\n' if previous != b'\r' => out.extend_from_slice(b"\r\n"),
            b'\n' => out.push(b'\n'),
            b'\r' => out.push(b'\r'),
            _ => {
                if previous == b'\r' {
                    // A bare CR: end the line properly.
                    out.push(b'\n');
                    at_line_start = true;
                }
                if at_line_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
            }
        }
        at_line_start = b == b'\n';
        previous = b;
    }
    if previous == b'\r' {
        out.push(b'\n');
    } else if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A submission server that answers with a script's bytes, whatever is written: for the fuzz
/// target (hostile replies) and the tests (each reply a server may give).
#[cfg(any(test, feature = "fuzzing"))]
pub struct ScriptedServer {
    pub replies: std::cell::RefCell<std::collections::VecDeque<u8>>,
    pub written: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
}

#[cfg(any(test, feature = "fuzzing"))]
impl ScriptedServer {
    pub fn new(replies: &[u8]) -> Self {
        ScriptedServer {
            replies: std::cell::RefCell::new(replies.iter().copied().collect()),
            written: Default::default(),
        }
    }
}

#[cfg(any(test, feature = "fuzzing"))]
struct ScriptedConnection {
    replies: std::collections::VecDeque<u8>,
    written: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
}

#[cfg(any(test, feature = "fuzzing"))]
impl SubmissionConnection for ScriptedConnection {
    fn read(&mut self, max: u32) -> Result<Vec<u8>, crate::ports::SubmissionFailure> {
        if self.replies.is_empty() {
            return Err(crate::ports::SubmissionFailure::Unreachable(
                "closed".into(),
            ));
        }
        let n = (max as usize).min(self.replies.len()).min(7);
        Ok(self.replies.drain(..n).collect())
    }
    fn write(&mut self, data: &[u8]) -> Result<(), crate::ports::SubmissionFailure> {
        self.written.borrow_mut().extend_from_slice(data);
        Ok(())
    }
    fn start_tls(&mut self) -> Result<(), crate::ports::SubmissionFailure> {
        Ok(())
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl Submissions for ScriptedServer {
    fn open(
        &self,
        _host: &str,
        _port: u16,
        _security: ImapSecurity,
    ) -> Result<Box<dyn SubmissionConnection>, crate::ports::SubmissionFailure> {
        Ok(Box::new(ScriptedConnection {
            replies: self.replies.take(),
            written: self.written.clone(),
        }))
    }
}

/// One submission against `server`, as the plugin makes it: STARTTLS, then a message from
/// `anna@example.nl` to two recipients.
#[cfg(any(test, feature = "fuzzing"))]
pub fn submit_to(server: &ScriptedServer) -> Result<Submitted, SmtpFailure> {
    let endpoint = ImapEndpoint {
        host: "smtp.example.nl".into(),
        port: 587,
        security: ImapSecurity::StartTls,
    };
    submit(
        server,
        &endpoint,
        "anna@example.nl",
        "token",
        "anna@example.nl",
        &["bob@example.nl", "carol@example.nl"],
        b"Subject: hi\r\n\r\nhello\r\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "220 mail.example.nl ESMTP\r\n\
                         250-mail.example.nl\r\n250-STARTTLS\r\n250 SIZE 1000\r\n\
                         220 2.0.0 Ready to start TLS\r\n\
                         250-mail.example.nl\r\n250-AUTH PLAIN XOAUTH2\r\n250 SIZE 1000\r\n";

    fn run(after_hello: &str) -> (Result<Submitted, SmtpFailure>, String) {
        let server = ScriptedServer::new(format!("{HELLO}{after_hello}").as_bytes());
        let outcome = submit_to(&server);
        let written = String::from_utf8_lossy(&server.written.borrow()).into_owned();
        (outcome, written)
    }

    #[test]
    fn a_message_is_accepted_after_every_step() {
        let (outcome, written) = run("235 2.7.0 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n\
             354 go\r\n250 2.0.0 queued\r\n221 bye\r\n");
        assert_eq!(outcome, Ok(Submitted::Accepted));
        assert!(
            written.starts_with("EHLO example.nl\r\nSTARTTLS\r\nEHLO example.nl\r\nAUTH XOAUTH2 ")
        );
        assert!(written.contains("MAIL FROM:<anna@example.nl>\r\nRCPT TO:<bob@example.nl>\r\n"));
        assert!(written.contains("DATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n"));
    }

    #[test]
    fn a_refused_token_asks_for_a_fresh_one() {
        let (outcome, _) = run("334 eyJzdGF0dXMiOiI0MDEifQ==\r\n535 5.7.8 bad token\r\n");
        assert_eq!(outcome, Ok(Submitted::TokenRejected));
    }

    #[test]
    fn one_refused_recipient_sends_nothing_and_is_named() {
        let (outcome, written) = run("235 ok\r\n250 ok\r\n250 ok\r\n\
             550 5.1.1 no such user\r\n250 reset\r\n");
        assert_eq!(
            outcome,
            Err(SmtpFailure::RecipientsRefused(vec![(
                "carol@example.nl".into(),
                "550 5.1.1 no such user".into()
            )]))
        );
        assert!(!written.contains("DATA"), "{written}");
    }

    #[test]
    fn the_providers_daily_limit_and_a_temporary_failure_are_told_apart() {
        let (outcome, _) = run("235 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n\
             550 5.4.5 Daily user sending limit exceeded\r\n");
        let failure = super::super::send_failure(outcome.unwrap_err());
        assert!(
            matches!(failure, super::super::SendFailure::ProviderLimit(_)),
            "{failure:?}"
        );
        let (outcome, _) = run("235 ok\r\n451 4.3.0 try later\r\n");
        let failure = super::super::send_failure(outcome.unwrap_err());
        assert!(
            matches!(failure, super::super::SendFailure::Temporary(_)),
            "{failure:?}"
        );
    }

    #[test]
    fn a_message_over_the_servers_size_is_not_sent() {
        let replies = format!("{}235 ok\r\n", HELLO.replace("SIZE 1000", "SIZE 10"));
        let server = ScriptedServer::new(replies.as_bytes());
        assert!(matches!(
            submit_to(&server),
            Err(SmtpFailure::TooLarge { limit: 10, .. })
        ));
    }

    #[test]
    fn data_has_crlf_line_ends_and_doubled_leading_dots() {
        assert_eq!(
            dot_stuffed(b"a\n.b\r\n..c\rd"),
            b"a\r\n..b\r\n...c\r\nd\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(b"x\r\n"), b"x\r\n.\r\n");
        assert_eq!(dot_stuffed(b".\r\n"), b"..\r\n.\r\n");
    }
}
