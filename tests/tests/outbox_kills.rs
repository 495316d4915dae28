//! Exactly once across kills: 50 sends queued over the API of a `serve` process that is
//! SIGKILLed at random moments and started again. Afterwards each message went through the
//! submission server once, reached the correspondent once, and is in Sent once (the server keeps
//! the copy there, as Gmail does; the plugin looks for it before sending again).

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use host_harness::Database;
use host_harness::at_rest::{KeyRing, SecretKey};
use host_harness::outbox_store::OutboxState;
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
    let db = w.host.shared().db.clone();
    let deadline = Instant::now() + Duration::from_secs(180);
    let finished = loop {
        let stored: Vec<_> = entries
            .iter()
            .map(|(id, _)| db.outbox_entry("m1", id).unwrap().expect("kept"))
            .collect();
        if stored.iter().all(|e| !e.state.is_open()) {
            break stored;
        }
        assert!(Instant::now() < deadline, "entries still open: {stored:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
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
