//! The host's rules for what a `send` call's submission connection carries, read from the SMTP
//! the plugin writes (smtp-proto parses each command as a server would) and the replies it reads.

use std::collections::VecDeque;

use smtp_proto::Request;
use smtp_proto::response::parser::ResponseReceiver;

/// What one `send` call may submit: its draft's envelope, within the host's caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeRules {
    /// The address the mailbox was linked with: the only `MAIL FROM`.
    pub sender: String,
    /// The draft's recipients (to, cc and bcc): the only `RCPT TO`s.
    pub recipients: Vec<String>,
    pub max_recipients: u32,
    pub max_message_bytes: u64,
}

/// Why a write was refused; nothing of it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeRefusal {
    SenderNotLinked(String),
    RecipientNotInDraft(String),
    TooManyRecipients { limit: u64, actual: u64 },
    MessageTooLarge { limit: u64, actual: u64 },
    SecondMessage,
    Command(String),
}

/// What the call's connections share: whether its one message has begun.
#[derive(Debug, Clone)]
pub struct SendGrant {
    pub rules: EnvelopeRules,
    pub message_begun: bool,
}

/// Where one connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Command lines, each whole in its write.
    Commands,
    /// `DATA` went out; nothing more until the server answers it.
    AwaitingData,
    /// The message's lines, until `CRLF . CRLF`.
    Message { bytes: u64, line: Line },
}

/// What a command sent is waiting for: only the answer to `DATA` changes the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Data,
    Other,
}

/// One submission connection's reading of its commands and replies.
#[derive(Debug, Clone)]
pub struct EnvelopeGuard {
    phase: Phase,
    awaiting: VecDeque<Awaiting>,
    recipients: u64,
}

impl Default for EnvelopeGuard {
    fn default() -> Self {
        EnvelopeGuard {
            phase: Phase::Commands,
            awaiting: VecDeque::new(),
            recipients: 0,
        }
    }
}

/// The most commands that may wait for their replies (pipelining); more is not SMTP.
const MAX_AWAITING: usize = 64;

impl EnvelopeGuard {
    /// Checks one write against `grant` before it goes out. On `Err` nothing changes: neither
    /// this guard nor the grant.
    pub fn check(&mut self, data: &[u8], grant: &mut SendGrant) -> Result<(), EnvelopeRefusal> {
        let mut next = self.clone();
        let mut begun = grant.message_begun;
        let mut rest = data;
        while !rest.is_empty() {
            rest = match &mut next.phase {
                Phase::AwaitingData => {
                    return Err(EnvelopeRefusal::Command(
                        "a write before the server answered DATA".into(),
                    ));
                }
                Phase::Message { bytes, line } => {
                    let (used, ended) = message_bytes(rest, line)?;
                    *bytes += used as u64;
                    if *bytes > grant.rules.max_message_bytes {
                        return Err(EnvelopeRefusal::MessageTooLarge {
                            limit: grant.rules.max_message_bytes,
                            actual: *bytes,
                        });
                    }
                    if ended {
                        next.phase = Phase::Commands;
                    }
                    &rest[used..]
                }
                Phase::Commands => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        return Err(EnvelopeRefusal::Command(
                            "a command line must end with CRLF in the same write".into(),
                        ));
                    };
                    let line = &rest[..end + 2];
                    next.command(line, &grant.rules, &mut begun)?;
                    &rest[end + 2..]
                }
            };
        }
        *self = next;
        grant.message_begun = begun;
        Ok(())
    }

    /// Reads what the server sent: the answer to `DATA` opens the message.
    pub fn observe(&mut self, replies: &mut ResponseReceiver, data: &[u8]) {
        let mut bytes = data.iter();
        while let Ok(reply) = replies.parse(&mut bytes) {
            replies.reset();
            if reply.code == 220 && self.awaiting.is_empty() {
                continue; // the greeting
            }
            match self.awaiting.pop_front() {
                Some(Awaiting::Data) if reply.code == 354 => {
                    self.phase = Phase::Message {
                        bytes: 0,
                        line: Line::default(),
                    };
                }
                Some(Awaiting::Data) => self.phase = Phase::Commands,
                _ => {}
            }
        }
    }

    fn command(
        &mut self,
        line: &[u8],
        rules: &EnvelopeRules,
        begun: &mut bool,
    ) -> Result<(), EnvelopeRefusal> {
        if line[..line.len() - 2]
            .iter()
            .any(|&b| b == b'\r' || b == b'\n')
        {
            return Err(EnvelopeRefusal::Command(
                "a bare CR or LF in a command".into(),
            ));
        }
        if self.awaiting.len() >= MAX_AWAITING {
            return Err(EnvelopeRefusal::Command(
                "too many commands waiting for their replies".into(),
            ));
        }
        let awaiting = match Request::parse(&mut line.iter()) {
            Ok(Request::Ehlo { .. } | Request::Helo { .. }) => Awaiting::Other,
            Ok(Request::StartTls | Request::Auth { .. } | Request::Noop { .. }) => Awaiting::Other,
            Ok(Request::Rset | Request::Quit) => Awaiting::Other,
            Ok(Request::Mail { from }) => {
                if !from.address.eq_ignore_ascii_case(&rules.sender) {
                    return Err(EnvelopeRefusal::SenderNotLinked(from.address.into_owned()));
                }
                Awaiting::Other
            }
            Ok(Request::Rcpt { to }) => {
                let address = to.address.to_ascii_lowercase();
                if !rules
                    .recipients
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&address))
                {
                    return Err(EnvelopeRefusal::RecipientNotInDraft(address));
                }
                self.recipients += 1;
                if self.recipients > u64::from(rules.max_recipients) {
                    return Err(EnvelopeRefusal::TooManyRecipients {
                        limit: u64::from(rules.max_recipients),
                        actual: self.recipients,
                    });
                }
                Awaiting::Other
            }
            Ok(Request::Data) => {
                if *begun {
                    return Err(EnvelopeRefusal::SecondMessage);
                }
                *begun = true;
                self.phase = Phase::AwaitingData;
                Awaiting::Data
            }
            Ok(other) => return Err(EnvelopeRefusal::Command(other.name().into())),
            // One word alone: a SASL response within AUTH (base64, or `*` to cancel).
            Err(_) if is_sasl_response(line) => Awaiting::Other,
            Err(e) => return Err(EnvelopeRefusal::Command(format!("{e:?}"))),
        };
        self.awaiting.push_back(awaiting);
        Ok(())
    }
}

/// A line of one word of base64 (or `*`, or empty), as AUTH's exchange sends.
fn is_sasl_response(line: &[u8]) -> bool {
    let word = &line[..line.len() - 2];
    word == b"*"
        || word
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// The current line of a message, as far as the end of data needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Line {
    len: usize,
    first: u8,
    last: u8,
}

/// Takes message bytes from `data` up to and with the end of data (`CRLF . CRLF`): how many it
/// took, and whether the message ended. A bare CR or LF is refused: a lenient server may end a
/// line there, and then read as a command what the host took for text.
fn message_bytes(data: &[u8], line: &mut Line) -> Result<(usize, bool), EnvelopeRefusal> {
    for (i, &b) in data.iter().enumerate() {
        let after_cr = line.len > 0 && line.last == b'\r';
        match b {
            b'\n' if !after_cr => {
                return Err(EnvelopeRefusal::Command(
                    "a bare LF in the message (lines end with CRLF)".into(),
                ));
            }
            b'\n' => {
                let ended = line.len == 2 && line.first == b'.';
                *line = Line::default();
                if ended {
                    return Ok((i + 1, true));
                }
            }
            _ if after_cr => {
                return Err(EnvelopeRefusal::Command(
                    "a bare CR in the message (lines end with CRLF)".into(),
                ));
            }
            _ => {
                if line.len == 0 {
                    line.first = b;
                }
                line.len += 1;
                line.last = b;
            }
        }
    }
    Ok((data.len(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> SendGrant {
        SendGrant {
            rules: EnvelopeRules {
                sender: "anna@example.nl".into(),
                recipients: vec!["bob@example.nl".into(), "carol@example.com".into()],
                max_recipients: 2,
                max_message_bytes: 64,
            },
            message_begun: false,
        }
    }

    /// Runs `writes`, with the server answering DATA with 354 where the script says `354`.
    fn run(steps: &[&[u8]]) -> Result<(), EnvelopeRefusal> {
        let mut guard = EnvelopeGuard::default();
        let mut grant = grant();
        let mut replies = ResponseReceiver::default();
        for step in steps {
            if step.starts_with(b"S:") {
                guard.observe(&mut replies, &step[2..]);
            } else {
                guard.check(step, &mut grant)?;
            }
        }
        Ok(())
    }

    const HELLO: &[&[u8]] = &[
        b"S:220 mail.example.nl ESMTP\r\n",
        b"EHLO crm.example\r\n",
        b"S:250-mail.example.nl\r\n250 PIPELINING\r\n",
        b"AUTH XOAUTH2 dXNlcj1hbm5h\r\n",
        b"S:235 2.7.0 Authentication successful\r\n",
    ];

    fn script(more: &[&'static [u8]]) -> Vec<&'static [u8]> {
        HELLO.iter().copied().chain(more.iter().copied()).collect()
    }

    #[test]
    fn the_drafts_message_from_the_linked_address_goes_through() {
        let steps = script(&[
            b"MAIL FROM:<Anna@example.nl>\r\nRCPT TO:<bob@example.nl>\r\nDATA\r\n",
            b"S:250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
            b"Subject: hi\r\n\r\n..leading dot\r\n",
            b".\r\nQUIT\r\n",
        ]);
        assert_eq!(run(&steps), Ok(()));
    }

    #[test]
    fn another_sender_or_a_recipient_not_in_the_draft_is_refused() {
        let steps = script(&[b"MAIL FROM:<ceo@example.nl>\r\n"]);
        assert_eq!(
            run(&steps),
            Err(EnvelopeRefusal::SenderNotLinked("ceo@example.nl".into()))
        );
        let steps = script(&[b"MAIL FROM:<anna@example.nl>\r\nRCPT TO:<eve@evil.example>\r\n"]);
        assert_eq!(
            run(&steps),
            Err(EnvelopeRefusal::RecipientNotInDraft(
                "eve@evil.example".into()
            ))
        );
        let steps = script(&[
            b"MAIL FROM:<anna@example.nl>\r\n",
            b"RCPT TO:<bob@example.nl>\r\nRCPT TO:<carol@example.com>\r\nRCPT TO:<bob@example.nl>\r\n",
        ]);
        assert!(matches!(
            run(&steps),
            Err(EnvelopeRefusal::TooManyRecipients {
                limit: 2,
                actual: 3
            })
        ));
    }

    #[test]
    fn one_message_per_call_within_the_size_cap() {
        let data: &[&[u8]] = &[
            b"MAIL FROM:<anna@example.nl>\r\nRCPT TO:<bob@example.nl>\r\nDATA\r\n",
            b"S:250 Ok\r\n250 Ok\r\n354 go\r\n",
            b"Subject: hi\r\n\r\nhello\r\n.\r\n",
            b"S:250 2.0.0 queued\r\n",
        ];
        let mut twice = script(data);
        twice.extend_from_slice(data);
        assert_eq!(run(&twice), Err(EnvelopeRefusal::SecondMessage));
        let big: &[u8] = &[b'x'; 80];
        let mut steps = script(&data[..2]);
        steps.push(big);
        assert!(matches!(
            run(&steps),
            Err(EnvelopeRefusal::MessageTooLarge { limit: 64, .. })
        ));
    }

    #[test]
    fn nothing_can_pass_for_a_message_or_a_command_it_is_not() {
        // Text after DATA before the server's answer: a server that refused DATA reads it as
        // commands.
        let steps = script(&[b"MAIL FROM:<anna@example.nl>\r\nRCPT TO:<bob@example.nl>\r\nDATA\r\nMAIL FROM:<ceo@example.nl>\r\n"]);
        assert!(matches!(run(&steps), Err(EnvelopeRefusal::Command(_))));
        // A refused DATA goes back to commands, which are checked again.
        let steps = script(&[
            b"MAIL FROM:<anna@example.nl>\r\nRCPT TO:<bob@example.nl>\r\nDATA\r\n",
            b"S:250 Ok\r\n250 Ok\r\n554 no\r\n",
            b"MAIL FROM:<ceo@example.nl>\r\n",
        ]);
        assert!(matches!(
            run(&steps),
            Err(EnvelopeRefusal::SenderNotLinked(_))
        ));
        // A bare LF could end the data early at a lenient server.
        let steps = script(&[
            b"MAIL FROM:<anna@example.nl>\r\nRCPT TO:<bob@example.nl>\r\nDATA\r\n",
            b"S:250 Ok\r\n250 Ok\r\n354 go\r\n",
            b"hi\n.\nMAIL FROM:<ceo@example.nl>\r\n",
        ]);
        assert!(matches!(run(&steps), Err(EnvelopeRefusal::Command(_))));
        for refused in [
            &b"VRFY bob\r\n"[..],
            b"BDAT 10 LAST\r\n",
            b"ETRN example.nl\r\n",
            b"MAIL FROM:<anna@example.nl>",
            b"RCPT TO:<bob@example.nl>\rMAIL FROM:<x@y>\r\n",
        ] {
            let steps = script(&[refused]);
            assert!(run(&steps).is_err(), "{}", String::from_utf8_lossy(refused));
        }
    }
}
