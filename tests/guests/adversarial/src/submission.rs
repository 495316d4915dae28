//! Attacks on the submission socket: opened outside a `send` call, and, in one, an envelope the
//! platform did not ask for. The `send` export takes the attack's name from the draft's subject
//! and reports what the host let through in the receipt's thread key.

use crate::crm::mail_sync::submission_socket::{self as smtp, Security, SubmissionError};
use crate::exports::crm::mail_sync::send::{Draft, Guest, SendError, SendOutcome, SendReceipt, SentCopy};

/// `PORT`: tries to open the submission socket in a call that is not `send`.
pub fn open_outside_send(port: &str) -> String {
    match smtp::open("127.0.0.1", port.parse().unwrap_or(587), Security::Plain) {
        Ok(_) => "OPENED".into(),
        Err(SubmissionError::NotLent) => "not-lent".into(),
        Err(e) => format!("failed {e:?}"),
    }
}

/// Writes each line (CRLF added) as its own write, reading the reply to each; stops at the
/// first refusal.
fn script(port: u16, lines: &[String]) -> String {
    let conn = match smtp::open("127.0.0.1", port, Security::Plain) {
        Ok(conn) => conn,
        Err(e) => return format!("failed {e:?}"),
    };
    // The greeting, then each line's reply, so the host sees DATA answered before the message.
    let _ = conn.read(4096);
    let mut seen = Vec::new();
    for line in lines {
        match conn.write(format!("{line}\r\n").as_bytes()) {
            Ok(()) => seen.push("ok".to_string()),
            Err(SubmissionError::Envelope(why)) => {
                seen.push(format!("refused {why:?}"));
                break;
            }
            Err(e) => {
                seen.push(format!("failed {e:?}"));
                break;
            }
        }
        let _ = conn.read(4096);
    }
    seen.join(",")
}

impl Guest for crate::Hostile {
    /// The draft's subject names the attack; its text is `PORT`.
    fn send(draft: Draft) -> Result<SendReceipt, SendError> {
        let port = draft.text.trim().parse().unwrap_or(587);
        let from = |a: &str| format!("MAIL FROM:<{a}>");
        let to = |a: &str| format!("RCPT TO:<{a}>");
        let first_to = draft.to.first().map(|a| a.address.clone()).unwrap_or_default();
        let lines: Vec<String> = match draft.subject.as_str() {
            "as-someone-else" => vec!["EHLO x".into(), from("ceo@example.nl")],
            "to-someone-else" => vec!["EHLO x".into(), from("anna@example.nl"), to("eve@evil.example")],
            "as-asked" => vec![
                "EHLO x".into(),
                from("anna@example.nl"),
                to(&first_to),
                "DATA".into(),
                "Subject: hi\r\n\r\nhello\r\n.".into(),
            ],
            "twice" => vec![
                "EHLO x".into(),
                from("anna@example.nl"),
                to(&first_to),
                "DATA".into(),
                "Subject: hi\r\n\r\nhello\r\n.".into(),
                from("anna@example.nl"),
                to(&first_to),
                "DATA".into(),
            ],
            "park-writable" => {
                // A connection that may write, handed to the host for the next call.
                let opened = crate::crm::mail_sync::imap_socket::open(
                    "127.0.0.1",
                    port,
                    crate::crm::mail_sync::imap_socket::Security::Plain,
                );
                let outcome = match opened {
                    Ok(conn) => match crate::crm::mail_sync::imap_socket::park(conn, b"w", 60) {
                        Ok(()) => "parked".to_string(),
                        Err(e) => format!("failed {e:?}"),
                    },
                    Err(e) => format!("failed {e:?}"),
                };
                return Ok(receipt(outcome));
            }
            "imap-write" => {
                // In a send call the IMAP connection may write.
                let outcome = crate::imap_commands(&format!("{port}|a1 SELECT INBOX|a2 STORE 1 +FLAGS (\\Seen)"));
                return Ok(receipt(outcome));
            }
            other => vec![format!("NOOP {other}")],
        };
        Ok(receipt(script(port, &lines)))
    }
}

fn receipt(outcome: String) -> SendReceipt {
    SendReceipt {
        message_id: "hostile@example.nl".into(),
        thread_key: outcome,
        outcome: SendOutcome::Sent,
        sent_copy: SentCopy::None,
        size: 0,
    }
}

/// An `act` call may write the mailbox but never send: the target's Message-ID is
/// `PORT|LINE|LINE...`, IMAP lines written as in `imap-commands`; the guest then tries the
/// submission socket on the same port, and reports both in the error's English text.
impl crate::exports::crm::mail_sync::act::Guest for crate::Hostile {
    fn act(
        target: crate::exports::crm::mail_sync::act::Target,
        _: crate::exports::crm::mail_sync::act::Action,
    ) -> Result<crate::exports::crm::mail_sync::act::ActionReceipt, crate::exports::crm::mail_sync::act::ActionError> {
        let imap = crate::imap_commands(&target.message_id);
        let port = target.message_id.split('|').next().unwrap_or("587");
        let smtp = open_outside_send(port);
        Err(crate::exports::crm::mail_sync::act::ActionError::Refused(
            crate::exports::crm::mail_sync::mailbox::UserMessage {
                key: "probe".into(),
                params: vec![],
                en: format!("imap={imap};smtp={smtp}"),
                nl: String::new(),
            },
        ))
    }
}
