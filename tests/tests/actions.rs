//! Actions on mail against a real Dovecot: read state, flags and moves made through the outbox
//! reach the mailbox (as another IMAP client sees it), the CRM's record follows at once, the
//! sync that sees our own change raises no second event, a change made in the mailbox meanwhile
//! wins, and a server without CONDSTORE or MOVE gets COPY and an expunge of that UID only.

use host_harness::actions::{ActionRequest, MoveTarget};
use host_harness::bindings::folders::FolderMapping;
use host_harness::inbox_store::StoredMessage;
use host_harness::service;
use reqwest::StatusCode;
use tests::dovecot::STANDARD_FOLDERS;
use tests::oauth_world::{DovecotSetup, OAuthWorld};
use tests::panel_client::{PLATFORM_TOKEN, service_settings};
use tokio_util::sync::CancellationToken;

const USER: &str = "anna@example.nl";

fn message(n: u32) -> Vec<u8> {
    format!(
        "From: Bob de Vries <bob@example.nl>\r\nTo: {USER}\r\nSubject: Kandidaat {n}\r\n\
         Date: Mon, 7 Dec 2026 09:0{n}:00 +0100\r\nMessage-ID: <kandidaat-{n}@example.nl>\r\n\r\n\
         Beste Anna, bericht {n}.\r\n"
    )
    .into_bytes()
}

/// `m1` linked to Google on a Dovecot set up by `settings`, with INBOX, Archive, Trash and Sent
/// mapped, three messages in INBOX (the third already `\Deleted` by the user's own client), and
/// synced.
async fn world(settings: &'static str) -> OAuthWorld {
    world_configured(settings, |_| {}).await
}

/// As `world`, the host's settings changed by `configure`.
async fn world_configured(
    settings: &'static str,
    configure: impl FnOnce(&mut host_harness::HostSettings),
) -> OAuthWorld {
    let setup = DovecotSetup {
        settings,
        ..DovecotSetup::new(STANDARD_FOLDERS)
    };
    let w = OAuthWorld::with_dovecot_setup_and(setup, configure).await;
    w.link("m1", "google").await.expect("linked");
    assert_eq!(
        w.host.shared().db.linked_address("m1").unwrap().as_deref(),
        Some(USER),
        "the sender recorded as the link completed"
    );
    let mapping = FolderMapping {
        inbox: Some("INBOX".into()),
        archive: Some("Archive".into()),
        deleted: Some("Trash".into()),
        sent: Some("Sent".into()),
    };
    w.mailbox("m1")
        .set_mapping(&mapping)
        .await
        .expect("runs")
        .expect("mapped");
    let mut seeder = w.dovecot.as_ref().expect("Dovecot").seeder(USER).await;
    seeder.append("INBOX", &message(1)).await;
    seeder.append("INBOX", &message(2)).await;
    seeder
        .append_with("INBOX", "\\Deleted", None, &message(3))
        .await;
    sync(&w).await;
    w
}

async fn sync(w: &OAuthWorld) {
    let report = w.mailbox("m1").sync().await.expect("runs").expect("synced");
    assert!(report.complete, "{report:?}");
}

fn stored(w: &OAuthWorld, n: u32) -> StoredMessage {
    w.host
        .shared()
        .db
        .inbox()
        .inbox_messages("m1")
        .expect("read")
        .into_iter()
        .find(|m| m.message_id == format!("kandidaat-{n}@example.nl"))
        .expect("the CRM has the message")
}

fn events(w: &OAuthWorld, kind: &str) -> Vec<serde_json::Value> {
    w.host
        .shared()
        .db
        .events()
        .events_of(Some("m1"), 0, 1000)
        .expect("events read")
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.data)
        .collect()
}

/// Queues `action` on message `n` and works the outbox: the entry as it ended.
async fn act(w: &OAuthWorld, key: &str, n: u32, action: ActionRequest) -> serde_json::Value {
    let m = w.mailbox("m1");
    let queued = m
        .queue_action(key, stored(w, n).id, action)
        .await
        .expect("queued");
    m.work_outbox().await.expect("worked");
    let entry = m.outbox_entry(&queued.entry.id).await.unwrap().unwrap();
    serde_json::to_value(entry).unwrap()
}

/// The flags another IMAP client sees on message `n` in `folder`.
async fn flags_in_mailbox(w: &OAuthWorld, folder: &str, n: u32) -> Vec<String> {
    let mut seeder = w.dovecot.as_ref().unwrap().seeder(USER).await;
    let uid = stored(w, n)
        .locations
        .iter()
        .find(|(f, _)| f == folder)
        .map(|(_, uid)| *uid)
        .expect("a place in the folder");
    seeder
        .flags(folder)
        .await
        .into_iter()
        .find(|(u, _)| *u == uid)
        .map(|(_, flags)| flags)
        .expect("the message is there")
}

/// Archives message 2 through the outbox: applied, out of INBOX and once in Archive, as another
/// client sees the mailbox.
async fn archive_message_2(w: &OAuthWorld) {
    let archived = act(
        w,
        "archive-2",
        2,
        ActionRequest::MoveTo(MoveTarget::Archive),
    )
    .await;
    assert_eq!(archived["state"], "applied", "{archived}");
    let header = "<kandidaat-2@example.nl>";
    assert_eq!(copies_in(w, "INBOX", header).await, 0);
    assert_eq!(copies_in(w, "Archive", header).await, 1);
}

/// How many messages of `folder` carry `header` as their Message-ID, as another client sees it
/// now (the action was made before the outbox's work returned: nothing to wait for).
async fn copies_in(w: &OAuthWorld, folder: &str, header: &str) -> usize {
    let mut seeder = w.dovecot.as_ref().unwrap().seeder(USER).await;
    seeder.run(&format!("EXAMINE {folder}")).await;
    seeder
        .answers(&format!("UID SEARCH HEADER Message-ID \"{header}\""))
        .await
        .iter()
        .filter_map(|l| l.trim().strip_prefix("* SEARCH"))
        .map(|rest| rest.split_whitespace().count())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn read_state_flags_and_moves_reach_the_mailbox_and_the_record_follows_once() {
    let w = world("").await;
    let updates_before = events(&w, "message.updated").len();

    let seen = act(&w, "read-1", 1, ActionRequest::Seen(true)).await;
    assert_eq!(seen["state"], "applied", "{seen}");
    assert_eq!(seen["kind"], "action");
    assert_eq!(seen["outcome"]["outcome"], "applied");
    assert!(
        flags_in_mailbox(&w, "INBOX", 1)
            .await
            .contains(&"\\Seen".to_string())
    );
    assert!(stored(&w, 1).seen, "the CRM's record follows at once");

    archive_message_2(&w).await;
    let record = stored(&w, 2);
    assert_eq!(record.folder, "archive");
    assert_eq!(record.locations.len(), 1);
    assert_eq!(record.locations[0].0, "Archive");

    let updates_after_actions = events(&w, "message.updated").len();
    assert_eq!(
        updates_after_actions - updates_before,
        2,
        "one event per action"
    );
    // The sync that sees our own changes finds nothing new: no second event, nothing removed.
    sync(&w).await;
    sync(&w).await;
    assert_eq!(events(&w, "message.updated").len(), updates_after_actions);
    assert!(events(&w, "message.removed").is_empty());
    assert_eq!(stored(&w, 2).folder, "archive");
    assert!(!stored(&w, 2).removed);

    // The same key again is the same entry, and makes nothing new.
    let again = w
        .mailbox("m1")
        .queue_action("read-1", stored(&w, 1).id, ActionRequest::Seen(true))
        .await
        .expect("the same entry");
    assert!(!again.added);
    // Delete is a move to the mapped deleted folder: never an expunge of the message itself.
    let deleted = act(
        &w,
        "delete-1",
        1,
        ActionRequest::MoveTo(MoveTarget::Deleted),
    )
    .await;
    assert_eq!(deleted["state"], "applied", "{deleted}");
    assert_eq!(copies_in(&w, "Trash", "<kandidaat-1@example.nl>").await, 1);
    assert_eq!(stored(&w, 1).folder, "deleted");
    // Moving it where it already is writes nothing.
    let already = act(
        &w,
        "delete-1b",
        1,
        ActionRequest::MoveTo(MoveTarget::Deleted),
    )
    .await;
    assert_eq!(already["outcome"]["outcome"], "already", "{already}");
    // The message the user marked `\Deleted` in INBOX is still there: no bare EXPUNGE.
    assert_eq!(copies_in(&w, "INBOX", "<kandidaat-3@example.nl>").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_in_the_mailbox_meanwhile_wins_and_the_crm_is_told() {
    let w = world("").await;
    assert!(!stored(&w, 2).flagged);
    // The user flags it in their own client; the CRM, not yet synced, asks to unflag it.
    let mut seeder = w.dovecot.as_ref().unwrap().seeder(USER).await;
    seeder.run("SELECT INBOX").await;
    let uid = stored(&w, 2).locations[0].1;
    seeder
        .run(&format!("UID STORE {uid} +FLAGS (\\Flagged)"))
        .await;
    let entry = act(&w, "unflag-2", 2, ActionRequest::Flagged(false)).await;
    assert_eq!(entry["state"], "failed", "{entry}");
    assert_eq!(entry["outcome"]["kind"], "changed-in-mailbox");
    assert!(
        flags_in_mailbox(&w, "INBOX", 2)
            .await
            .contains(&"\\Flagged".to_string())
    );
    assert!(stored(&w, 2).flagged, "the CRM follows the mailbox");
    let told = events(&w, "action.failed");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["error"]["kind"], "changed-in-mailbox");
}

/// A Dovecot that advertises neither CONDSTORE, QRESYNC nor MOVE, as Outlook's writes are
/// tested against: flags are read back after the write, and a move is COPY, `\Deleted` and a
/// UID EXPUNGE of that UID only.
const WITHOUT_CONDSTORE_OR_MOVE: &str = "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS NAMESPACE SPECIAL-USE\n";

#[tokio::test(flavor = "multi_thread")]
async fn without_condstore_or_move_a_message_is_copied_and_only_its_uid_expunged() {
    let w = world(WITHOUT_CONDSTORE_OR_MOVE).await;
    let mut seeder = w.dovecot.as_ref().unwrap().seeder(USER).await;
    let capabilities = seeder.answers("CAPABILITY").await.join(" ");
    for absent in ["CONDSTORE", "QRESYNC", " MOVE"] {
        assert!(!capabilities.contains(absent), "{absent} in {capabilities}");
    }
    assert!(capabilities.contains("UIDPLUS"), "{capabilities}");
    let flagged = act(&w, "flag-1", 1, ActionRequest::Flagged(true)).await;
    assert_eq!(flagged["state"], "applied", "{flagged}");
    assert!(
        flags_in_mailbox(&w, "INBOX", 1)
            .await
            .contains(&"\\Flagged".to_string())
    );
    assert!(stored(&w, 1).flagged);

    archive_message_2(&w).await;
    assert_eq!(stored(&w, 2).folder, "archive");
    // The user's own `\Deleted` message was not expunged with it.
    assert_eq!(copies_in(&w, "INBOX", "<kandidaat-3@example.nl>").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http_an_action_is_queued_worked_and_shown() {
    let w = world("").await;
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), service_settings(), stop.clone())
        .await
        .expect("the service starts");
    let base = format!("http://{}/api/v1/mailboxes/m1", running.address);
    let http = tests::http_client();
    let id = stored(&w, 1).id;
    let post = |message: i64, key: Option<&str>, body: serde_json::Value| {
        let mut call = http
            .post(format!("{base}/messages/{message}/actions"))
            .bearer_auth(PLATFORM_TOKEN)
            .json(&body);
        if let Some(key) = key {
            call = call.header("Idempotency-Key", key);
        }
        call.send()
    };
    let first = post(id, Some("crm-read-1"), serde_json::json!({"seen": true}))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let entry: serde_json::Value = first.json().await.unwrap();
    assert_eq!(entry["kind"], "action");
    assert_eq!(entry["message_id"], "kandidaat-1@example.nl");
    let entry_id = entry["id"].as_str().unwrap().to_string();
    // The service works it at once; the entry shows it applied.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let shown = loop {
        let shown: serde_json::Value = http
            .get(format!("{base}/outbox/{entry_id}"))
            .bearer_auth(PLATFORM_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if shown["state"] != "queued" && shown["state"] != "sending"
            || std::time::Instant::now() > deadline
        {
            break shown;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(shown["state"], "applied", "{shown}");
    assert!(
        flags_in_mailbox(&w, "INBOX", 1)
            .await
            .contains(&"\\Seen".to_string())
    );
    // Refusals: another action under the same key, an unknown message, an action that is not
    // one, and no token.
    let reused = post(id, Some("crm-read-1"), serde_json::json!({"seen": false}))
        .await
        .unwrap();
    assert_eq!(reused.status(), StatusCode::CONFLICT);
    let unknown = post(99_999, None, serde_json::json!({"seen": true}))
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    for bad in [
        serde_json::json!({"move_to": "sent"}),
        serde_json::json!({"expunge": true}),
        serde_json::json!({"seen": true, "flagged": true}),
    ] {
        let refused = post(id, None, bad.clone()).await.unwrap();
        assert!(
            refused.status().is_client_error(),
            "{bad}: {}",
            refused.status()
        );
    }
    let anonymous = http
        .post(format!("{base}/messages/{id}/actions"))
        .json(&serde_json::json!({"seen": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // A panel session acts for its own mailbox only, and only with its CSRF token.
    let root = format!("http://{}", running.address);
    let other = tests::panel_client::sign_in(&root, "eve", "m2", false).await;
    let foreign = other
        .changing(
            reqwest::Method::POST,
            format!("{base}/messages/{id}/actions"),
        )
        .json(&serde_json::json!({"flagged": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let own = tests::panel_client::sign_in(&root, "anna", "m1", false).await;
    let forged = own
        .reading(
            reqwest::Method::POST,
            format!("{base}/messages/{id}/actions"),
        )
        .json(&serde_json::json!({"flagged": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert!(!stored(&w, 1).flagged, "neither was queued");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_outbox_refuses_the_next_entry_and_still_answers_a_known_key() {
    use host_harness::outbox::QueueError;
    let w = world_configured("", |s| s.policy.outbox_max_open = 2).await;
    let m = w.mailbox("m1");
    let (one, two) = (stored(&w, 1).id, stored(&w, 2).id);
    m.queue_action("a", one, ActionRequest::Seen(true))
        .await
        .expect("queued");
    m.queue_action("b", two, ActionRequest::Seen(true))
        .await
        .expect("queued");
    match m.queue_action("c", one, ActionRequest::Flagged(true)).await {
        Err(QueueError::OutboxFull { limit: 2 }) => {}
        other => panic!("expected the outbox full, got {other:?}"),
    }
    // A retry of a key already taken still gets its entry.
    let again = m.queue_action("a", one, ActionRequest::Seen(true)).await;
    assert!(!again.expect("the same entry").added);
    m.work_outbox().await.expect("worked");
    let after = m.queue_action("c", one, ActionRequest::Flagged(true)).await;
    assert!(after.expect("room again").added);
}
