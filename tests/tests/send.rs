//! Sending as the user against real servers: the plugin submits through Postfix, which checks
//! the linked account's token with Dovecot, and the message lands in the recipient's Dovecot
//! mailbox, threaded under the message it answers.

use std::time::Duration;

use host_harness::bindings::mailbox::LinkState;
use host_harness::bindings::message::MailboxAddress;
use host_harness::bindings::send::{Draft, RepliedMessage, SendError, SendOutcome, SentCopy};
use host_harness::settings::SentCopy as CopySetting;
use tests::dovecot::STANDARD_FOLDERS;
use tests::oauth_world::OAuthWorld;
use tests::secrets::assert_no_secret_captured;
use tests::send_world::{delivered, in_folder, log, world, world_keeping, world_with};

fn to(address: &str) -> MailboxAddress {
    MailboxAddress {
        name: Some("Bob de Vries".into()),
        address: address.into(),
    }
}

fn draft(key: &str) -> Draft {
    Draft {
        to: vec![to("bob@example.nl")],
        html: Some("<p>Beste Bob,</p><p>Dank voor uw brief.</p>".into()),
        ..tests::draft_to(
            key,
            "bob@example.nl",
            "Uw sollicitatie",
            "Beste Bob,\n\nDank voor uw brief.\n",
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_sent_as_the_user_arrives_once_in_the_recipients_mailbox_threaded() {
    let w = world().await;
    let mut reply = draft("k1");
    reply.subject = String::new();
    reply.replies_to = Some(RepliedMessage {
        message_id: "vacature-2@example.nl".into(),
        references: vec!["vacature-1@example.nl".into()],
        subject: Some("Vacature".into()),
    });
    let receipt = w
        .mailbox("m1")
        .send(&reply)
        .await
        .expect("the call runs")
        .expect("sent");
    assert_eq!(receipt.message_id, "k1.outbox@example.nl");
    assert_eq!(receipt.thread_key, "vacature-1@example.nl");
    assert_eq!(receipt.outcome, SendOutcome::Sent);
    assert_eq!(receipt.sent_copy, SentCopy::ByProvider);
    let arrived = delivered(&w, "bob@example.nl", "k1.outbox@example.nl").await;
    assert_eq!(
        arrived.len(),
        1,
        "exactly one copy; Postfix said:\n{}",
        log(&w)
    );
    let headers = &arrived[0];
    for expected in [
        "From: <anna@example.nl>",
        "Subject: Re: Vacature",
        "In-Reply-To: <vacature-2@example.nl>",
        "References: <vacature-1@example.nl> <vacature-2@example.nl>",
    ] {
        assert!(headers.contains(expected), "{expected} in:\n{headers}");
    }
    assert_no_secret_captured();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refreshed_token_is_used_when_the_server_refuses_the_old_one() {
    let w = world().await;
    w.google.world().expire_access_tokens();
    let receipt = w.mailbox("m1").send(&draft("k2")).await.expect("runs");
    receipt.expect("sent after one refresh");
    assert_eq!(w.google.world().refresh_scope_shapes.len(), 1);
    assert_eq!(
        delivered(&w, "bob@example.nl", "k2.outbox@example.nl")
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draft_that_cannot_be_sent_is_a_typed_error_and_nothing_goes_out() {
    let w = world().await;
    let mut bad = draft("k3");
    bad.to = vec![to("bob@example.nl>\r\nRCPT TO:<eve@evil.example")];
    match w.mailbox("m1").send(&bad).await.expect("runs") {
        Err(SendError::InvalidDraft(message)) => {
            assert!(
                message.en.contains("not an e-mail address"),
                "{}",
                message.en
            );
            assert!(
                message.nl.contains("kan zo niet verstuurd worden"),
                "{}",
                message.nl
            );
        }
        other => panic!("expected an invalid draft, got {other:?}"),
    }
    assert!(
        !log(&w).contains("eve@evil.example"),
        "nothing reached the server"
    );
    // Too many recipients for the host's cap: the envelope is refused before it goes out.
    let mut crowd = draft("k4");
    crowd.to = (0..101).map(|i| to(&format!("r{i}@example.nl"))).collect();
    match w.mailbox("m1").send(&crowd).await.expect("runs") {
        Err(SendError::InvalidDraft(message)) => {
            assert!(
                message.en.contains("more than 100 recipients"),
                "{}",
                message.en
            )
        }
        other => panic!("expected the host's refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn where_the_provider_keeps_no_copy_one_goes_to_sent_and_a_retry_sends_nothing_twice() {
    let w = world_keeping(CopySetting::Append).await;
    let first = w.mailbox("m1").send(&draft("k5")).await.expect("runs");
    let first = first.expect("sent");
    assert_eq!(first.outcome, SendOutcome::Sent);
    assert_eq!(first.sent_copy, SentCopy::Appended);
    // The platform, not knowing the first attempt went through (a crash before its record),
    // sends the same draft again: the copy in Sent says it was, and nothing goes out.
    let again = w.mailbox("m1").send(&draft("k5")).await.expect("runs");
    assert_eq!(again.expect("answered").outcome, SendOutcome::AlreadySent);
    let id = "k5.outbox@example.nl";
    assert_eq!(in_folder(&w, "anna@example.nl", "Sent", id).await.len(), 1);
    assert_eq!(delivered(&w, "bob@example.nl", id).await.len(), 1);
    assert_eq!(
        log(&w).matches("k5.outbox@example.nl").count(),
        1,
        "{}",
        log(&w)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mailboxs_send_rate_holds_the_next_message_back_until_the_minute_has_room() {
    let w = world_with(|s| s.policy.send_per_minute = 2).await;
    for key in ["r1", "r2"] {
        let sent = w.mailbox("m1").send(&draft(key)).await.expect("runs");
        sent.expect("within the rate");
    }
    match w.mailbox("m1").send(&draft("r3")).await.expect("runs") {
        Err(SendError::RateLimited(wait)) => assert!((1..=60).contains(&wait), "{wait}"),
        other => panic!("expected the rate's refusal, got {other:?}"),
    }
    assert!(!log(&w).contains("r3.outbox"), "nothing reached the server");
    // Once the minute has room (the host's clock moved on), it goes.
    w.host.clock().advance(Duration::from_secs(61));
    let sent = w.mailbox("m1").send(&draft("r3")).await.expect("runs");
    assert_eq!(sent.expect("sent").outcome, SendOutcome::Sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_refuses_even_a_fresh_token_fails_the_send_not_the_mailbox() {
    let w = OAuthWorld::with_dovecot(STANDARD_FOLDERS).await;
    w.link("m1", "google").await.expect("linked");
    // A submission server with SMTP AUTH switched off for the mailbox, as Microsoft 365
    // tenants may have it: every token is refused, while IMAP takes it.
    let refusing = tests::tls_server::serve_imaps(&w.pki, |tls| async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (read, mut write) = tokio::io::split(tls);
        write.write_all(b"220 smtp.example ESMTP\r\n").await?;
        let mut lines = BufReader::new(read).lines();
        while let Some(line) = lines.next_line().await? {
            let reply: &[u8] = if line.starts_with("EHLO") {
                b"250-smtp.example\r\n250 AUTH XOAUTH2\r\n"
            } else if line.starts_with("AUTH") {
                b"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled\r\n"
            } else {
                b"221 bye\r\n"
            };
            write.write_all(reply).await?;
        }
        Ok(())
    })
    .await
    .replace("imaps://", "smtps://");
    let mut settings = w.settings.clone();
    for provider in &mut settings.platform.providers {
        provider
            .endpoints
            .insert("submission".into(), refusing.clone());
    }
    let host = host_harness::PluginHost::load(
        host_harness::BUNDLED_PLUGIN.as_ref(),
        &settings,
        w.db.clone(),
        Some(&tests::component_cache()),
    )
    .expect("a host on the same database");
    match host.mailbox("m1").send(&draft("k9")).await.expect("runs") {
        Err(SendError::Rejected(message)) => {
            assert_eq!(message.key, "send.not_authorised");
            assert!(message.en.contains("mail still syncs"), "{}", message.en);
        }
        other => panic!("expected the refusal to send, got {other:?}"),
    }
    assert_eq!(
        w.google.world().refresh_scope_shapes.len(),
        1,
        "a fresh token was tried once"
    );
    let status = host
        .mailbox("m1")
        .status()
        .await
        .expect("runs")
        .expect("status");
    assert_eq!(
        status.state,
        LinkState::Linked,
        "the mailbox is still linked"
    );
}
