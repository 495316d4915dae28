//! Sync against a scripted Gmail (`tests/src/gmail_script.rs`): X-GM-EXT-1 ids, threads and
//! labels, and a server with CONDSTORE but no QRESYNC, whose flag changes and expunges sync still
//! finds.

use std::sync::{Arc, Mutex};

use tests::gmail_script::{Commands, GmailFolder, GmailMessage, Mailbox};
use tests::mail_fixtures::plain;
use tests::oauth_world::{OAuthWorld, captured, point_imap_at};
use tests::sync_checks::{folder, mapping, messages, sync};

const ANNA: &str = "anna@example.nl";

fn message(id: u64, thread: u64, labels: &'static str, seen: bool, raw: &[u8]) -> GmailMessage {
    GmailMessage {
        gm_msgid: id,
        gm_thrid: thread,
        labels,
        seen,
        raw: raw.to_vec(),
        expunged: false,
        modseq: 1,
        internal_date: "24-Nov-2026 10:00:00 +0000",
    }
}

async fn gmail_world() -> (OAuthWorld, Mailbox, Commands) {
    gmail_world_with(true).await
}

/// Anna's Gmail: a quote and its reply in INBOX and All Mail, and a resend of the quote (the same
/// Message-ID and size, another Gmail message) in All Mail only; linked and mapped. Without
/// `condstore` the server keeps no mod-sequences.
async fn gmail_world_with(condstore: bool) -> (OAuthWorld, Mailbox, Commands) {
    gmail_world_where(condstore, |_| {}).await
}

/// `gmail_world_with`, with the host's settings changed by `change`.
async fn gmail_world_where(
    condstore: bool,
    change: impl FnOnce(&mut host_harness::HostSettings),
) -> (OAuthWorld, Mailbox, Commands) {
    let quote = plain(
        "quote-1",
        "Klant <klant@example.com>",
        ANNA,
        "Offerte",
        "body",
    );
    let reply = plain(
        "reply-1",
        "Klant <klant@example.com>",
        ANNA,
        "Re: Offerte",
        "ok",
    );
    let inbox = GmailFolder {
        name: "INBOX",
        special_use: "",
        messages: vec![
            message(1001, 900, "\\Inbox \\Important", false, &quote),
            message(1003, 900, "\\Inbox Klanten", true, &reply),
        ],
        cut_after_bodies: None,
    };
    let all_mail = GmailFolder {
        name: "[Gmail]/All Mail",
        special_use: " \\All",
        messages: vec![
            message(1001, 900, "\\Inbox \\Important", false, &quote),
            message(1002, 950, "", true, &quote),
            message(1003, 900, "\\Inbox Klanten", true, &reply),
        ],
        cut_after_bodies: None,
    };
    let pki = tests::tls_server::TestPki::new();
    let gmail: Mailbox = Arc::new(Mutex::new(vec![inbox, all_mail]));
    let (endpoint, commands) =
        tests::gmail_script::start_with(&pki, gmail.clone(), condstore).await;
    let ca = pki.ca_pem.clone();
    let w = OAuthWorld::with(|s| {
        point_imap_at(s, &endpoint);
        s.tls.extra_roots.push(ca);
        change(s);
    })
    .await;
    w.link("m1", "google").await.expect("linked");
    let map = mapping("INBOX", Some("[Gmail]/All Mail"));
    captured(w.mailbox("m1").set_mapping(&map).await.unwrap()).expect("mapped");
    (w, gmail, commands)
}

#[tokio::test]
async fn one_record_per_gmail_id_with_its_thread_and_labels() {
    let (w, _, _) = gmail_world().await;
    let report = sync(&w).await;
    assert!(report.complete, "{report:?}");
    assert_eq!(folder(&report, "INBOX").created, 2, "{report:?}");
    let all = folder(&report, "[Gmail]/All Mail");
    assert_eq!((all.created, all.skipped), (1, 2), "{report:?}");
    let stored = messages(&w);
    assert_eq!(
        stored.len(),
        3,
        "one record per X-GM-MSGID, the resend apart"
    );
    let in_inbox: Vec<_> = stored.iter().filter(|m| m.folder == "inbox").collect();
    assert_eq!(in_inbox.len(), 2);
    assert!(in_inbox.iter().all(|m| m.thread_key == "gmail:900"));
    let resent = stored.iter().find(|m| m.folder == "archive").unwrap();
    assert_eq!(resent.thread_key, "gmail:950");
    let reply = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("Re: Offerte"))
        .unwrap();
    assert!(reply.seen);
    let record: serde_json::Value = serde_json::from_str(&reply.record_json).unwrap();
    assert_eq!(record["gmail"]["message_id"], 1003);
    assert_eq!(
        record["gmail"]["labels"],
        serde_json::json!(["\\Inbox", "Klanten"])
    );
}

#[tokio::test]
async fn a_first_sync_takes_the_backfill_window_and_an_oversized_message_as_its_headers() {
    let (w, gmail, commands) =
        gmail_world_where(true, |s| s.platform.limits.max_message_bytes = 4096).await;
    {
        let mut folders = gmail.lock().unwrap();
        let old = plain("old-1", "Klant <klant@example.com>", ANNA, "Oud", "body");
        let mut old = message(1005, 970, "\\Inbox", false, &old);
        old.internal_date = "24-Nov-2020 10:00:00 +0000";
        let big = "x".repeat(10_000);
        let big = plain("big-1", "Klant <klant@example.com>", ANNA, "Groot", &big);
        let big = message(1006, 980, "\\Inbox", false, &big);
        folders[0].messages.extend([old, big]);
    }
    let report = sync(&w).await;
    assert!(report.complete, "{report:?}");
    let stored = messages(&w);
    let subjects: Vec<_> = stored.iter().filter_map(|m| m.subject.as_deref()).collect();
    assert!(
        !subjects.contains(&"Oud"),
        "received before the backfill window: {subjects:?}"
    );
    let big = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("Groot"))
        .expect("the oversized message, kept");
    let record: serde_json::Value = serde_json::from_str(&big.record_json).unwrap();
    assert_eq!(record["record"]["truncated"], true, "{record}");
    assert_eq!(
        record["record"]["text_body"], "",
        "its headers only: {record}"
    );
    let sent = commands.lock().unwrap().clone();
    assert!(sent.iter().any(|c| c.contains("LARGER 4096")), "{sent:?}");
    assert!(
        sent.iter().any(|c| c.contains("BODY.PEEK[HEADER]")),
        "{sent:?}"
    );
}

#[tokio::test]
async fn after_a_run_cut_short_a_message_deleted_meanwhile_is_still_found_gone() {
    let (w, gmail, _) = gmail_world_where(true, |s| s.platform.limits.max_delivery_batch = 2).await;
    {
        let mut folders = gmail.lock().unwrap();
        for i in 0..4u64 {
            let subject = format!("Alleen {i}");
            let raw = plain(
                &format!("only-{i}"),
                "Klant <klant@example.com>",
                ANNA,
                &subject,
                "body",
            );
            folders[0]
                .messages
                .push(message(2000 + i, 2000 + i, "\\Inbox", false, &raw));
        }
        // Batches of two: the first two arrive whole, the third is cut after its first body.
        folders[0].cut_after_bodies = Some(5);
    }
    let first = sync(&w).await;
    assert!(!first.complete, "{first:?}");
    assert!(folder(&first, "INBOX").error.is_some(), "{first:?}");
    let checkpoint = w.stored("m1", "sync/folder/INBOX").expect("a checkpoint");
    assert_eq!(checkpoint["last_uid"], 4, "{checkpoint}");

    // Meanwhile UID 3, a message in INBOX only and already delivered, is deleted.
    {
        let mut folders = gmail.lock().unwrap();
        folders[0].messages[2].expunged = true;
        folders[0].messages[2].modseq = 9;
    }
    let second = sync(&w).await;
    assert!(second.complete, "{second:?}");
    let inbox = folder(&second, "INBOX");
    assert_eq!((inbox.created, inbox.removed), (2, 1), "{second:?}");
    let stored = messages(&w);
    let state = |subject: &str| {
        stored
            .iter()
            .find(|m| m.subject.as_deref() == Some(subject))
            .map(|m| m.removed)
    };
    assert_eq!(state("Alleen 0"), Some(true), "deleted during the gap");
    for subject in ["Alleen 1", "Alleen 2", "Alleen 3"] {
        assert_eq!(state(subject), Some(false), "{subject}");
    }
    assert_eq!(stored.len(), 7, "nothing duplicated");
}

#[tokio::test]
async fn without_qresync_flag_changes_and_archiving_are_still_found() {
    let (w, gmail, commands) = gmail_world().await;
    sync(&w).await;

    // Nothing changed: CONDSTORE's mod-sequence has not moved, so no flags are asked for.
    commands.lock().unwrap().clear();
    let report = sync(&w).await;
    assert!(
        report
            .folders
            .iter()
            .all(|f| f.created + f.updated + f.removed == 0)
    );
    let sent = commands.lock().unwrap().clone();
    assert!(!sent.iter().any(|c| c.contains("FLAGS")), "{sent:?}");

    // The quote is archived (gone from INBOX), the reply marked unread.
    {
        let mut folders = gmail.lock().unwrap();
        folders[0].messages[0].expunged = true;
        folders[0].messages[0].modseq = 5;
        folders[0].messages[1].seen = false;
        folders[0].messages[1].modseq = 6;
        folders[1].messages[2].seen = false;
        folders[1].messages[2].modseq = 6;
    }
    commands.lock().unwrap().clear();
    let report = sync(&w).await;
    let sent = commands.lock().unwrap().clone();
    assert!(
        sent.iter()
            .any(|c| c.contains("(UID FLAGS) (CHANGEDSINCE 1)")),
        "only what changed since the checkpoint's mod-sequence: {sent:?}"
    );
    let inbox = folder(&report, "INBOX");
    assert_eq!(
        (inbox.created, inbox.updated, inbox.removed),
        (0, 2, 0),
        "{report:?}"
    );
    let stored = messages(&w);
    assert_eq!(stored.len(), 3);
    let quote = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("Offerte") && m.thread_key == "gmail:900")
        .unwrap();
    assert_eq!(
        (quote.folder, quote.removed),
        ("archive", false),
        "moved, not removed"
    );
    let reply = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("Re: Offerte"))
        .unwrap();
    assert!(!reply.seen);
}

#[tokio::test]
async fn without_condstore_the_latest_messages_flags_are_read_each_time() {
    let (w, gmail, commands) = gmail_world_with(false).await;
    sync(&w).await;
    gmail.lock().unwrap()[0].messages[1].seen = false;
    commands.lock().unwrap().clear();
    let report = sync(&w).await;
    let sent = commands.lock().unwrap().clone();
    assert!(
        sent.iter().any(|c| c.ends_with("1:2 (UID FLAGS)")),
        "the known UIDs' flags: {sent:?}"
    );
    assert_eq!(folder(&report, "INBOX").updated, 1, "{report:?}");
    let reply = messages(&w)
        .into_iter()
        .find(|m| m.subject.as_deref() == Some("Re: Offerte"))
        .unwrap();
    assert!(!reply.seen);
}

#[tokio::test]
async fn a_message_the_imap_codec_refuses_is_still_delivered() {
    let (w, gmail, _) = gmail_world().await;
    // imap-codec refuses a literal with a NUL byte; the message must not be skipped.
    let with_nul = b"Message-ID: <nul-1@example.com>\r\nSubject: Nul\r\n\r\nbroken\0body\r\n";
    gmail.lock().unwrap()[0]
        .messages
        .push(message(1004, 960, "\\Inbox", false, with_nul));
    let report = sync(&w).await;
    assert_eq!(folder(&report, "INBOX").created, 3, "{report:?}");
    let nul = messages(&w)
        .into_iter()
        .find(|m| m.subject.as_deref() == Some("Nul"))
        .expect("delivered");
    assert_eq!(nul.thread_key, "gmail:960");
}
