//! The outbox against real servers: a send is queued under its idempotency key, sent once
//! through Postfix however often it is asked for, not sent again after a crash between the
//! server's acceptance and the outbox's record, and reachable over the HTTP API.

use std::time::{Duration, Instant};

use host_harness::outbox::{QueueError, Recipient, SendRequest};
use host_harness::outbox_store::{CRASHED_ATTEMPT_WAIT_MS, OutboxState};
use host_harness::service;
use host_harness::settings::SentCopy as CopySetting;
use reqwest::StatusCode;
use tests::oauth_world::OAuthWorld;
use tests::panel_client::{PLATFORM_TOKEN, service_settings};
use tests::send_world::{delivered, in_folder, log, world, world_keeping};
use tokio_util::sync::CancellationToken;

fn request(text: &str) -> SendRequest {
    SendRequest {
        to: vec![Recipient::Named {
            name: Some("Bob de Vries".into()),
            address: "bob@example.nl".into(),
        }],
        subject: "Uw sollicitatie".into(),
        text: text.into(),
        ..SendRequest::default()
    }
}

/// The stored events of `mailbox` of `kind`.
fn events(w: &OAuthWorld, mailbox: &str, kind: &str) -> Vec<serde_json::Value> {
    let db = &w.host.shared().db;
    db.events()
        .events_of(Some(mailbox), 0, 1000)
        .expect("events read")
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.data)
        .collect()
}

/// Works `m1`'s outbox with a crash armed after the send's answer, before the outbox's record:
/// the entry stays `sending`; then moves the host's clock past the wait for such an entry.
async fn send_and_crash_before_the_record(w: &OAuthWorld, entry: &str) {
    w.host.shared().faults.arm().crash_before_outbox_record();
    assert!(w.mailbox("m1").work_outbox().await.is_err(), "the crash");
    let left = w.mailbox("m1").outbox_entry(entry).await.unwrap().unwrap();
    assert_eq!((left.state, left.attempts), (OutboxState::Sending, 1));
    w.host
        .clock()
        .advance(Duration::from_millis(CRASHED_ATTEMPT_WAIT_MS as u64 + 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_is_sent_once_however_often_it_is_queued_and_after_a_crash_past_acceptance() {
    let w = world_keeping(CopySetting::Append).await;
    let m = w.mailbox("m1");
    let queued = m
        .queue_send("order-17", request("Beste Bob"))
        .await
        .expect("queued");
    assert!(queued.added);
    let entry = queued.entry;
    assert_eq!(entry.state, OutboxState::Queued);
    assert!(
        entry.message_id.ends_with(".mailsync@example.nl"),
        "made in the linked address's domain: {}",
        entry.message_id
    );
    // The same request under the same key is the same entry; another request is refused.
    let again = m.queue_send("order-17", request("Beste Bob")).await;
    let again = again.expect("the same entry");
    assert!(!again.added);
    assert_eq!(again.entry.id, entry.id);
    match m
        .queue_send("order-17", request("Beste Bob, nog iets"))
        .await
    {
        Err(QueueError::KeyReused { entry: id }) => assert_eq!(id, entry.id),
        other => panic!("expected the key's reuse refused, got {other:?}"),
    }

    // The server accepts it, and the node dies before the outbox records so: the entry still
    // says sending. The next attempt finds the copy in Sent and sends nothing.
    send_and_crash_before_the_record(&w, &entry.id).await;
    let id = entry.message_id.as_str();
    assert_eq!(delivered(&w, "bob@example.nl", id).await.len(), 1);
    assert_eq!(in_folder(&w, "anna@example.nl", "Sent", id).await.len(), 1);
    let run = m.work_outbox().await.expect("worked");
    assert_eq!(run.worked.len(), 1);
    let after = m.outbox_entry(&entry.id).await.unwrap().expect("kept");
    assert_eq!((after.state, after.attempts), (OutboxState::Sent, 2));
    let outcome = after.outcome.clone().expect("the receipt");
    assert_eq!(outcome["outcome"], "already-sent");
    assert_eq!(outcome["message_id"], id);
    let told = events(&w, "m1", "message.sent");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["entry"], entry.id.as_str());
    // The key asked for again once sent: the entry as it is, nothing queued.
    let late = m
        .queue_send("order-17", request("Beste Bob"))
        .await
        .unwrap();
    assert!(!late.added && late.entry.state == OutboxState::Sent);
    assert!(m.work_outbox().await.unwrap().worked.is_empty());
    assert_eq!(delivered(&w, "bob@example.nl", id).await.len(), 1);
    assert_eq!(in_folder(&w, "anna@example.nl", "Sent", id).await.len(), 1);
    assert_eq!(log(&w).matches(id).count(), 1, "{}", log(&w));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_refused_for_good_fails_with_why_and_the_next_entry_still_goes() {
    let w = world().await;
    let m = w.mailbox("m1");
    let mut refused = request("Aan niemand");
    refused.to = vec![Recipient::Address("nobody@refused.example".into())];
    let first = m.queue_send("k-refused", refused).await.expect("queued");
    let second = m
        .queue_send("k-fine", request("Beste Bob"))
        .await
        .expect("queued");
    m.work_outbox().await.expect("worked");
    let failed = m.outbox_entry(&first.entry.id).await.unwrap().unwrap();
    assert_eq!(failed.state, OutboxState::Failed, "{failed:?}");
    let error = failed.outcome.expect("why");
    assert_eq!(error["kind"], "recipients-refused", "{error}");
    assert_eq!(error["recipients"][0]["address"], "nobody@refused.example");
    let told = events(&w, "m1", "send.failed");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["entry"], first.entry.id.as_str());
    let sent = m.outbox_entry(&second.entry.id).await.unwrap().unwrap();
    assert_eq!(sent.state, OutboxState::Sent, "{sent:?}");
    assert_eq!(
        delivered(&w, "bob@example.nl", &sent.message_id)
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http_a_send_is_accepted_once_per_key_and_its_entry_shows_it_sent() {
    let w = world().await;
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), service_settings(), stop.clone())
        .await
        .expect("the service starts");
    let base = format!("http://{}/api/v1/mailboxes/m1", running.address);
    let http = tests::http_client();
    let post = |key: Option<&str>, body: serde_json::Value| {
        let mut call = http
            .post(format!("{base}/outbox"))
            .bearer_auth(PLATFORM_TOKEN)
            .json(&body);
        if let Some(key) = key {
            call = call.header("Idempotency-Key", key);
        }
        call.send()
    };
    let body = serde_json::json!({
        "to": [{"name": "Bob de Vries", "address": "bob@example.nl"}],
        "subject": "Uw sollicitatie",
        "text": "Beste Bob,\n\nDank voor uw brief.\n",
        "attachments": [{"filename": "cv.txt", "mime_type": "text/plain", "content": "Q1Y="}],
    });
    let first = post(Some("crm-4711"), body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let entry: serde_json::Value = first.json().await.unwrap();
    let (id, message_id) = (
        entry["id"].as_str().unwrap().to_string(),
        entry["message_id"].as_str().unwrap().to_string(),
    );
    let again = post(Some("crm-4711"), body.clone()).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], id.as_str());
    // Refusals: no key, the key reused for another message, no recipient, no token.
    let no_key = post(None, body.clone()).await.unwrap();
    assert_eq!(no_key.status(), StatusCode::BAD_REQUEST);
    let mut other = body.clone();
    other["text"] = "Iets anders".into();
    let reused = post(Some("crm-4711"), other).await.unwrap();
    assert_eq!(reused.status(), StatusCode::CONFLICT);
    let reused: serde_json::Value = reused.json().await.unwrap();
    assert_eq!(reused["error"]["kind"], "idempotency-key-reused");
    let nobody = post(Some("crm-4712"), serde_json::json!({"text": "x"}))
        .await
        .unwrap();
    assert_eq!(nobody.status(), StatusCode::BAD_REQUEST);
    let anonymous = http
        .post(format!("{base}/outbox"))
        .header("Idempotency-Key", "crm-4713")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // A panel session sends for its own mailbox only, and only with its CSRF token.
    let root = format!("http://{}", running.address);
    let other = tests::panel_client::sign_in(&root, "eve", "m2", false).await;
    let foreign = other
        .changing(reqwest::Method::POST, format!("{base}/outbox"))
        .header("Idempotency-Key", "eve-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let own = tests::panel_client::sign_in(&root, "anna", "m1", false).await;
    let forged = own
        .reading(reqwest::Method::POST, format!("{base}/outbox"))
        .header("Idempotency-Key", "anna-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "no CSRF token");

    // The service works it at once: sent, with its receipt, one copy delivered, one event.
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let shown: serde_json::Value = http
            .get(format!("{base}/outbox/{id}"))
            .bearer_auth(PLATFORM_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if shown["state"] != "queued" && shown["state"] != "sending" {
            break shown;
        }
        assert!(Instant::now() < deadline, "still not sent: {shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["state"], "sent", "{shown}");
    assert_eq!(shown["outcome"]["message_id"], message_id.as_str());
    let unknown = http
        .get(format!("{base}/outbox/ob_unknown"))
        .bearer_auth(PLATFORM_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let headers = delivered(&w, "bob@example.nl", &message_id).await;
    assert_eq!(headers.len(), 1);
    assert!(headers[0].contains("multipart/mixed"), "{}", headers[0]);
    assert_eq!(events(&w, "m1", "message.sent").len(), 1);
    let metrics = tests::metrics_of(&format!("http://{}", running.address)).await;
    use tests::MetricsText;
    assert_eq!(
        metrics.metric("mailsync_outbox_attempts_total{ended=\"sent\"}"),
        Some(1.0),
        "{metrics}"
    );
    stop.cancel();
    running.stopped().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn where_no_copy_is_kept_the_journal_of_accepted_messages_stops_a_second_send() {
    let w = world_keeping(CopySetting::None).await;
    let m = w.mailbox("m1");
    let queued = m
        .queue_send("k-journal", request("Beste Bob"))
        .await
        .unwrap();
    let entry = queued.entry;
    // A crash before the outbox's record: nothing in Sent to find, but the journal has it.
    send_and_crash_before_the_record(&w, &entry.id).await;
    m.work_outbox().await.expect("worked");
    let after = m.outbox_entry(&entry.id).await.unwrap().unwrap();
    assert_eq!(after.state, OutboxState::Sent);
    assert_eq!(after.outcome.unwrap()["outcome"], "already-sent");
    let id = entry.message_id.as_str();
    assert_eq!(delivered(&w, "bob@example.nl", id).await.len(), 1);
    assert!(
        in_folder(&w, "anna@example.nl", "Sent", id)
            .await
            .is_empty()
    );
    assert_eq!(log(&w).matches(id).count(), 1, "{}", log(&w));
}
