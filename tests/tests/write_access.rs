//! When the plugin may write or send, as the host enforces it with the adversarial guest: a
//! reading call's IMAP commands that would change the mailbox never reach the server, the
//! submission socket is lent to `send` calls only, and there only for the draft's envelope.

use std::sync::{Arc, Mutex};

use host_harness::{HostSettings, PluginHost};
use tests::{adversarial_host, probe, settings_with_test_grant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A loopback server that records every byte it receives; as SMTP it answers each line (354 to
/// DATA, 250 to the rest and to the message), as IMAP it says nothing after its greeting.
struct Recorder {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    async fn start(smtp: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let greeting: &[u8] = if smtp {
                        b"220 test ESMTP\r\n"
                    } else {
                        b"* OK\r\n"
                    };
                    let _ = write.write_all(greeting).await;
                    let mut lines = BufReader::new(read);
                    let mut in_data = false;
                    loop {
                        let mut line = Vec::new();
                        match lines.read_until(b'\n', &mut line).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                        record.lock().unwrap().extend_from_slice(&line);
                        if !smtp {
                            continue;
                        }
                        let reply: &[u8] = if in_data {
                            if line != b".\r\n" {
                                continue;
                            }
                            in_data = false;
                            b"250 queued\r\n"
                        } else if line.eq_ignore_ascii_case(b"DATA\r\n") {
                            in_data = true;
                            b"354 go on\r\n"
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        Recorder { port, received }
    }

    /// What it received once `last` is among it (TCP keeps order: whatever was written before
    /// `last` is there too), or after 10 s.
    async fn received_through(&self, last: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.received().contains(last) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.received()
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

fn host_granting(imap: Option<u16>, submission: Option<u16>) -> PluginHost {
    let imap: Vec<String> = imap
        .map(|p| format!("imap://127.0.0.1:{p}"))
        .into_iter()
        .collect();
    let mut settings: HostSettings = settings_with_test_grant(&[], &imap);
    if let Some(port) = submission {
        let grant = settings
            .policy
            .providers
            .get_mut("test")
            .expect("test grant");
        grant.submission = vec![format!("smtp://127.0.0.1:{port}")];
    }
    adversarial_host(&settings)
}

#[tokio::test]
async fn a_reading_call_cannot_change_the_mailbox() {
    let server = Recorder::start(false).await;
    let host = host_granting(Some(server.port), None);
    let lines = [
        "a1 EXAMINE INBOX",
        "a2 SELECT INBOX",
        "a3 STORE 1 +FLAGS (\\Deleted)",
        "a4 UID EXPUNGE 1",
        "a5 UID MOVE 1 Trash",
        "a6 APPEND INBOX {3+}",
        "a7 CREATE Evil",
        "a8 DELETE INBOX",
        "a9 RENAME INBOX Old",
        "b1 SETACL INBOX eve lrswipkxtea",
        "b2 EXAMINE {5}",
        "b3 UID FETCH 1 (BODY.PEEK[])",
    ];
    let argument = format!("{}|{}", server.port, lines.join("|"));
    let seen = probe(&host, "m1", "imap-commands", &argument)
        .await
        .unwrap();
    assert_eq!(
        seen,
        "ok,read-only,read-only,read-only,read-only,read-only,read-only,read-only,read-only,\
         read-only,read-only,ok"
    );
    assert_eq!(
        server.received_through("b3 UID FETCH").await,
        "a1 EXAMINE INBOX\r\nb3 UID FETCH 1 (BODY.PEEK[])\r\n",
        "only the reading commands reached the server"
    );
}

#[tokio::test]
async fn the_submission_socket_is_lent_to_send_calls_only() {
    let server = Recorder::start(true).await;
    let host = host_granting(None, Some(server.port));
    let seen = probe(&host, "m1", "submission-open", &server.port.to_string()).await;
    assert_eq!(seen.unwrap(), "not-lent");
}

/// Runs the adversarial guest's `send` with the attack `attack` against `server`, as the
/// linked `anna@example.nl` sending to `bob@example.nl`; what the guest saw.
async fn attack(host: &PluginHost, server: &Recorder, attack: &str) -> String {
    host.assign_provider("m1", Some("test")).await.unwrap();
    let draft = tests::draft_to("k", "bob@example.nl", attack, &server.port.to_string());
    let receipt = host
        .mailbox("m1")
        .send(&draft)
        .await
        .expect("the call runs");
    receipt.expect("the guest reports").thread_key
}

#[tokio::test]
async fn a_send_call_may_submit_only_the_drafts_envelope_once() {
    let server = Recorder::start(true).await;
    let host = host_granting(Some(server.port), Some(server.port));
    let seen = attack(&host, &server, "as-someone-else").await;
    assert_eq!(
        seen,
        "ok,refused EnvelopeRefusal::SenderNotLinked(\"ceo@example.nl\")"
    );
    let seen = attack(&host, &server, "to-someone-else").await;
    assert_eq!(
        seen,
        "ok,ok,refused EnvelopeRefusal::RecipientNotInDraft(\"eve@evil.example\")"
    );
    let seen = attack(&host, &server, "twice").await;
    assert_eq!(
        seen,
        "ok,ok,ok,ok,ok,ok,ok,refused EnvelopeRefusal::SecondMessage"
    );
    // The recorder keeps each line before it answers, and the guest reads every answer: all it
    // was sent is recorded by now.
    let received = server.received();
    for never in ["ceo@example.nl", "eve@evil.example"] {
        assert!(
            !received.contains(never),
            "{never} reached the server:\n{received}"
        );
    }
    assert_eq!(received.matches("DATA\r\n").count(), 1, "{received}");
    // In a send call the IMAP connection may write (a copy to Sent).
    assert_eq!(attack(&host, &server, "imap-write").await, "ok,ok");
}

#[tokio::test]
async fn a_connection_opened_to_write_cannot_be_handed_to_a_reading_call() {
    let server = Recorder::start(false).await;
    let host = host_granting(Some(server.port), Some(server.port));
    assert_eq!(attack(&host, &server, "park-writable").await, "parked");
    // The next call to unpark it may only read through it.
    let seen = probe(&host, "m1", "unpark-and-write", "").await.unwrap();
    assert_eq!(seen, "read-only");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !server.received().contains("STORE"),
        "{}",
        server.received()
    );
}

#[tokio::test]
async fn an_act_call_may_write_the_mailbox_but_never_send() {
    use host_harness::bindings::act::{Action, ActionError, Target};
    let imap = Recorder::start(false).await;
    let smtp = Recorder::start(true).await;
    // The guest writes these lines to the IMAP server, then tries the submission socket.
    let host = host_granting(Some(imap.port), Some(smtp.port));
    host.assign_provider("m1", Some("test")).await.unwrap();
    let target = Target {
        message_id: format!(
            "{}|a1 SELECT INBOX|a2 UID STORE 1 +FLAGS (\\Seen)",
            imap.port
        ),
        places: vec![],
        gmail_message_id: None,
    };
    let answer = host
        .mailbox("m1")
        .act(&target, Action::Seen(true))
        .await
        .expect("the call runs");
    let Err(ActionError::Refused(seen)) = answer else {
        panic!("the guest reports in a refusal: {answer:?}");
    };
    assert_eq!(seen.en, "imap=ok,ok;smtp=not-lent");
    assert_eq!(
        imap.received_through("a2 UID STORE").await,
        "a1 SELECT INBOX\r\na2 UID STORE 1 +FLAGS (\\Seen)\r\n",
        "the writing commands reached the server"
    );
    assert_eq!(smtp.received(), "", "nothing reached the submission server");
}

#[tokio::test]
async fn a_send_is_held_to_the_address_the_mailbox_was_linked_with() {
    use host_harness::bindings::send::SendError;
    let server = Recorder::start(true).await;
    let host = host_granting(Some(server.port), Some(server.port));
    host.assign_provider("m1", Some("test")).await.unwrap();
    // The link completed as another address than the one the plugin names now.
    host.shared()
        .db
        .set_linked_address("m1", "ceo@example.nl")
        .unwrap();
    let draft = tests::draft_to("k", "bob@example.nl", "as-asked", &server.port.to_string());
    let answer = host
        .mailbox("m1")
        .send(&draft)
        .await
        .expect("the call runs");
    match answer {
        Err(SendError::Mailbox(e)) => {
            assert_eq!(e.message.key, "send.sender_changed");
            assert!(e.message.en.contains("ceo@example.nl"), "{}", e.message.en);
        }
        other => panic!("expected the send refused, got {other:?}"),
    }
    assert_eq!(
        server.received(),
        "",
        "nothing reached the submission server"
    );
    // Linked as the plugin says: the send goes, and the address is kept.
    host.shared()
        .db
        .set_linked_address("m1", "anna@example.nl")
        .unwrap();
    let sent = host
        .mailbox("m1")
        .send(&draft)
        .await
        .expect("the call runs");
    assert!(sent.is_ok(), "{sent:?}");
    assert!(
        server
            .received_through("MAIL FROM")
            .await
            .contains("MAIL FROM:<anna@example.nl>")
    );
}
