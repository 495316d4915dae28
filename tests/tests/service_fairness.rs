//! A few mailboxes cannot starve the rest: a pass or a push takes one of the node's shared slots
//! only once it holds its mailbox's turn, so mailboxes whose turns other calls hold (a long sync,
//! the panel) leave the slots to the others; and the calls that may wait for one mailbox's turn
//! are bounded, the next refused with 429 and when to try again.

use std::time::Duration;

use host_harness::service;
use reqwest::StatusCode;
use tests::dovecot::STANDARD_FOLDERS;
use tests::mail_fixtures::plain;
use tests::many_mailboxes::{link_all, mailbox_id, user};
use tests::oauth_world::OAuthWorld;
use tokio_util::sync::CancellationToken;

use tests::panel_client::PLATFORM_TOKEN as TOKEN;
const BUSY: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_busy_mailboxes_hold_up_neither_a_ninths_sync_nor_its_push() {
    let w = OAuthWorld::with_dovecot(STANDARD_FOLDERS).await;
    link_all(&w, BUSY + 1).await.expect("nine linked mailboxes");
    let ninth = mailbox_id(BUSY);
    // Other calls hold the turns of the first eight for the whole test.
    let mut held = Vec::new();
    for i in 0..BUSY {
        let turn = w.host.shared().mailbox_turns.acquire(&mailbox_id(i)).await;
        held.push(turn.expect("a turn"));
    }

    // As many sync slots and push slots as there are busy mailboxes.
    let mut config = tests::panel_client::service_settings();
    config.push = true;
    config.schedule.max_concurrent_syncs = BUSY;
    config.schedule.max_concurrent_pushes = BUSY;
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), config, stop.clone())
        .await
        .expect("the service starts");
    let base = format!("http://{}", running.address);
    let http = tests::http_client();
    // "Sync now" for the busy ones first, then the ninth.
    for i in 0..=BUSY {
        let answer = http
            .post(format!("{base}/api/v1/mailboxes/{}/sync", mailbox_id(i)))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("sync now");
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
    }
    let reports = format!("{base}/api/v1/mailboxes/{ninth}/reports?limit=1");
    tests::until(
        "the ninth mailbox's sync",
        Duration::from_secs(60),
        || async {
            let runs: Vec<serde_json::Value> = http
                .get(&reports)
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (!runs.is_empty()).then_some(())
        },
    )
    .await;

    // New mail in the ninth's inbox arrives by push, while the eight are still busy.
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    let mut seeder = dovecot.seeder(&user(BUSY)).await;
    let message = plain("ninth-1", "a@example.org", &user(BUSY), "Pushed", "hello");
    seeder.append("INBOX", &message).await;
    let messages = format!("{base}/api/v1/mailboxes/{ninth}/messages");
    tests::until(
        "the ninth mailbox's new mail",
        Duration::from_secs(60),
        || async {
            let page: serde_json::Value = http
                .get(&messages)
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let subjects = page["messages"].as_array()?;
            subjects
                .iter()
                .any(|m| m["subject"] == "Pushed")
                .then_some(())
        },
    )
    .await;
    assert_eq!(held.len(), BUSY, "the eight were busy throughout");

    // Calls that wait on a busy mailbox's turn are bounded: of twelve at once, the four past
    // the bound are refused at once, with when to try again; the rest are served once it frees.
    let status = format!("{base}/api/v1/mailboxes/{}/folders", mailbox_id(0));
    let bound = host_harness::mailbox::MAX_WAITING_FOR_TURN;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..bound + 4 {
        let (http, status) = (http.clone(), status.clone());
        calls.spawn(async move {
            let answer = http.get(&status).bearer_auth(TOKEN).send().await?;
            let retry_after = answer.headers().contains_key("retry-after");
            Ok::<_, reqwest::Error>((answer.status(), retry_after))
        });
    }
    let mut answers = Vec::new();
    while answers.len() < 4 {
        let done = tokio::time::timeout(Duration::from_secs(20), calls.join_next())
            .await
            .expect("the calls past the bound are answered at once");
        answers.push(done.expect("a call").expect("ran").expect("answered"));
    }
    assert_eq!(
        answers,
        vec![(StatusCode::TOO_MANY_REQUESTS, true); 4],
        "the calls past the bound"
    );
    drop(held);
    while let Some(done) = calls.join_next().await {
        let (status, _) = done.expect("ran").expect("answered once the turn is free");
        assert_eq!(status, StatusCode::OK, "the waiters are served");
    }
    stop.cancel();
    running.stopped().await.expect("the service stops");
}
