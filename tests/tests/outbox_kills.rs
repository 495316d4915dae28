//! Exactly once across kills: 50 sends, then 100 actions, queued over the API of a `serve`
//! process that is SIGKILLed at random moments and started again. Afterwards each message went
//! through the submission server once, reached the correspondent once, and is in Sent once (the
//! server keeps the copy there, as Gmail does; the plugin looks for it before sending again); and
//! each action is applied, each moved message in its new folder once.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use host_harness::Database;
use host_harness::at_rest::{KeyRing, SecretKey};
use host_harness::outbox_store::{OutboxEntry, OutboxState};
use tests::dovecot::STANDARD_FOLDERS;
use tests::oauth_world::{DovecotSetup, OAuthWorld};
use tests::send_world::{delivered, in_folder, log};
use tests::serve_node::ServeNode;

const SENDS: usize = 50;
const TOKEN: &str = "kill-token-0123456789abcdef";

struct Node {
    db: String,
    key: SecretKey,
    settings: std::path::PathBuf,
}

impl Node {
    async fn start(&self) -> ServeNode {
        ServeNode::start(
            &tests::mailsync_host(),
            &self.db,
            &self.key,
            &self.settings,
            "sender",
        )
        .await
    }
}

/// Waits (up to 180 s, while the last node runs on) until every entry of `m1` in `ids` has
/// ended; the entries as they ended.
async fn all_finished(w: &OAuthWorld, ids: &[&str]) -> Vec<OutboxEntry> {
    let db = w.host.shared().db.clone();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let stored: Vec<_> = ids
            .iter()
            .map(|id| db.outbox_entry("m1", id).unwrap().expect("kept"))
            .collect();
        if stored.iter().all(|e| !e.state.is_open()) {
            return stored;
        }
        assert!(Instant::now() < deadline, "entries still open: {stored:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (up to 10 s) until Postfix has accepted the message `message_id`.
async fn accepted(w: &OAuthWorld, message_id: &str) {
    let needle = format!("message-id=<{message_id}>");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log(w).contains(&needle) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sends_queued_while_the_sender_is_killed_go_out_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("outbox.db");
    let key = SecretKey::generate();
    let db = Database::open_with_keys(&db_path, KeyRing::new(&key)).expect("database");
    let setup = DovecotSetup {
        submission: true,
        server_keeps_sent: true,
        ..DovecotSetup::new(STANDARD_FOLDERS)
    };
    // The sends' own rate is not what is tested here.
    let w =
        OAuthWorld::with_dovecot_setup_on(setup, db, |s| s.policy.send_per_minute = 1_000).await;
    w.link("m1", "google").await.expect("linked");
    tests::send_world::map_inbox_and_sent(&w).await;
    let settings = dir.path().join("settings.toml");
    tests::many_mailboxes::write_settings(&w.settings, TOKEN, toml::Table::new(), &settings)
        .unwrap();
    let node = Node {
        db: db_path.display().to_string(),
        key,
        settings,
    };

    let http = tests::http_client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(28);
    let mut serving = node.start().await;
    let (mut entries, mut kills) = (Vec::new(), 0);
    while entries.len() < SENDS {
        for _ in 0..rng.random_range(1..=5) {
            let i = entries.len();
            if i == SENDS {
                break;
            }
            let answer = http
                .post(format!("{}/api/v1/mailboxes/m1/outbox", serving.base))
                .bearer_auth(TOKEN)
                .header("Idempotency-Key", format!("kill-{i}"))
                .json(&serde_json::json!({
                    "to": ["bob@example.nl"],
                    "subject": format!("Bericht {i}"),
                    "text": format!("Bericht nummer {i}.\n"),
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED);
            let entry: serde_json::Value = answer.json().await.unwrap();
            entries.push((
                entry["id"].as_str().unwrap().to_string(),
                entry["message_id"].as_str().unwrap().to_string(),
            ));
        }
        // Some go out, one may be half-way: then the sender dies, without a word. Half the
        // kills come the moment the server has taken the burst's first message, before the
        // outbox may have recorded it.
        let burst_first = &entries[entries.len().saturating_sub(1)].1;
        if rng.random_bool(0.5) {
            accepted(&w, burst_first).await;
        } else {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..150))).await;
        }
        if rng.random_range(0..3) > 0 {
            serving.kill().await;
            kills += 1;
            serving = node.start().await;
        }
    }

    // The last node runs on: every entry ends sent.
    let ids: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
    let finished = all_finished(&w, &ids).await;
    let interrupted = finished.iter().filter(|e| e.attempts > 1).count();
    let found_in_sent = finished
        .iter()
        .filter(|e| {
            e.outcome
                .as_ref()
                .is_some_and(|o| o["outcome"] == "already-sent")
        })
        .count();
    eprintln!(
        "{kills} kills; {interrupted} entries attempted more than once, {found_in_sent} of them found in Sent"
    );
    let postfix_log = log(&w);
    for (entry, (_, message_id)) in finished.iter().zip(&entries) {
        assert_eq!(entry.state, OutboxState::Sent, "{entry:?}");
        assert_eq!(
            postfix_log
                .matches(&format!("message-id=<{message_id}>"))
                .count(),
            1,
            "{message_id} submitted once"
        );
        assert_eq!(delivered(&w, "bob@example.nl", message_id).await.len(), 1);
        assert_eq!(
            in_folder(&w, "anna@example.nl", "Sent", message_id)
                .await
                .len(),
            1
        );
    }
    serving.stop().await;
}

const ACTIONS: usize = 100;

/// The action on message `i`, and the folder it should end in with the flag it should have.
fn action_for(i: usize) -> (serde_json::Value, &'static str, Option<&'static str>) {
    match i % 4 {
        0 => (serde_json::json!({"seen": true}), "INBOX", Some("\\Seen")),
        1 => (
            serde_json::json!({"flagged": true}),
            "INBOX",
            Some("\\Flagged"),
        ),
        2 => (serde_json::json!({"move_to": "archive"}), "Archive", None),
        _ => (serde_json::json!({"move_to": "deleted"}), "Trash", None),
    }
}

/// Waits (up to 10 s) until the mailbox shows action `i`, as another client sees it.
async fn applied(seeder: &mut tests::dovecot::Seeder, i: usize) {
    let header = format!("HEADER Message-ID \"<kill-act-{i}@example.nl>\"");
    let (folder, criteria) = match action_for(i) {
        (_, folder, Some(flag)) => (folder, format!("{} {header}", &flag[1..])),
        (_, folder, None) => (folder, header),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        seeder.run(&format!("EXAMINE {folder}")).await;
        let found = seeder.answers(&format!("UID SEARCH {criteria}")).await;
        if found.iter().any(|l| {
            l.trim()
                .strip_prefix("* SEARCH")
                .is_some_and(|r| !r.trim().is_empty())
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_queued_while_the_node_is_killed_are_each_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("actions.db");
    let key = SecretKey::generate();
    let db = Database::open_with_keys(&db_path, KeyRing::new(&key)).expect("database");
    let w =
        OAuthWorld::with_dovecot_setup_on(DovecotSetup::new(STANDARD_FOLDERS), db, |_| {}).await;
    w.link("m1", "google").await.expect("linked");
    let mapping = host_harness::bindings::folders::FolderMapping {
        inbox: Some("INBOX".into()),
        archive: Some("Archive".into()),
        deleted: Some("Trash".into()),
        sent: Some("Sent".into()),
    };
    w.mailbox("m1")
        .set_mapping(&mapping)
        .await
        .unwrap()
        .expect("mapped");
    let mut seeder = w.dovecot.as_ref().unwrap().seeder("anna@example.nl").await;
    for i in 0..ACTIONS {
        let message = format!(
            "From: bob@example.nl\r\nTo: anna@example.nl\r\nSubject: Vraag {i}\r\n\
             Message-ID: <kill-act-{i}@example.nl>\r\n\r\nVraag {i}.\r\n"
        );
        seeder.append("INBOX", message.as_bytes()).await;
    }
    w.mailbox("m1").sync().await.unwrap().expect("synced");
    let ids: Vec<i64> = (0..ACTIONS)
        .map(|i| {
            let wanted = format!("kill-act-{i}@example.nl");
            w.host
                .shared()
                .db
                .inbox()
                .inbox_messages("m1")
                .unwrap()
                .into_iter()
                .find(|m| m.message_id == wanted)
                .expect("synced")
                .id
        })
        .collect();
    let settings = dir.path().join("settings.toml");
    tests::many_mailboxes::write_settings(&w.settings, TOKEN, toml::Table::new(), &settings)
        .unwrap();
    let node = Node {
        db: db_path.display().to_string(),
        key,
        settings,
    };

    let http = tests::http_client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(128);
    let mut serving = node.start().await;
    let (mut entries, mut kills) = (Vec::new(), 0);
    while entries.len() < ACTIONS {
        let burst_first = entries.len();
        for _ in 0..rng.random_range(1..=8) {
            let i = entries.len();
            if i == ACTIONS {
                break;
            }
            let answer = http
                .post(format!(
                    "{}/api/v1/mailboxes/m1/messages/{}/actions",
                    serving.base, ids[i]
                ))
                .bearer_auth(TOKEN)
                .header("Idempotency-Key", format!("kill-act-{i}"))
                .json(&action_for(i).0)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED);
            let entry: serde_json::Value = answer.json().await.unwrap();
            entries.push(entry["id"].as_str().unwrap().to_string());
        }
        // Half the kills come the moment the mailbox shows the burst's first action, before the
        // outbox may have recorded it.
        if rng.random_bool(0.5) {
            applied(&mut seeder, burst_first).await;
        } else {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..150))).await;
        }
        if rng.random_range(0..3) > 0 {
            serving.kill().await;
            kills += 1;
            serving = node.start().await;
        }
    }

    let ids: Vec<&str> = entries.iter().map(String::as_str).collect();
    let finished = all_finished(&w, &ids).await;
    let interrupted = finished.iter().filter(|e| e.attempts > 1).count();
    eprintln!("{kills} kills; {interrupted} actions attempted more than once");
    let mut seeder = w.dovecot.as_ref().unwrap().seeder("anna@example.nl").await;
    let mut flags = std::collections::HashMap::new();
    // How many copies of each message each folder holds, by its Message-ID.
    let mut copies_in = std::collections::HashMap::new();
    for folder in ["INBOX", "Archive", "Trash"] {
        flags.insert(folder, seeder.flags(folder).await);
        for i in 0..ACTIONS {
            let found = seeder
                .answers(&format!(
                    "UID SEARCH HEADER Message-ID \"<kill-act-{i}@example.nl>\""
                ))
                .await;
            let n: usize = found
                .iter()
                .filter_map(|l| l.trim().strip_prefix("* SEARCH"))
                .map(|rest| rest.split_whitespace().count())
                .sum();
            copies_in.insert((folder, i), n);
        }
    }
    let stored = w.host.shared().db.inbox().inbox_messages("m1").unwrap();
    for (i, entry) in finished.iter().enumerate() {
        assert_eq!(entry.state, OutboxState::Applied, "{i}: {entry:?}");
        let (_, folder, flag) = action_for(i);
        let header = format!("<kill-act-{i}@example.nl>");
        assert_eq!(copies_in[&(folder, i)], 1, "{header} once in {folder}");
        let copies: usize = ["INBOX", "Archive", "Trash"]
            .iter()
            .map(|f| copies_in[&(*f, i)])
            .sum();
        assert_eq!(copies, 1, "{header} in the mailbox once");
        let record = stored
            .iter()
            .find(|m| m.message_id == format!("kill-act-{i}@example.nl"))
            .unwrap();
        if let Some(flag) = flag {
            let uid = record.locations[0].1;
            let (_, on) = flags["INBOX"].iter().find(|(u, _)| *u == uid).unwrap();
            assert!(on.iter().any(|f| f == flag), "{header} has {flag}: {on:?}");
        } else {
            assert_eq!(record.locations.len(), 1, "{record:?}");
            assert_eq!(record.locations[0].0, folder, "the CRM follows: {record:?}");
        }
    }
    serving.stop().await;
}
