//! The service's events end to end: the inbox's `message.created` events reach a webhook signed
//! with the settings' secret, and neither a receiver that is down nor a restart of the service
//! loses one; the server-sent event stream resumes after the last id a client saw.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use host_harness::service::webhooks::{WebhookSettings, sign};
use host_harness::service::{self, RunningService, ServiceSettings};
use tests::mail_fixtures::{days_ago, plain};
use tests::oauth_world::OAuthWorld;
use tests::sync_checks::{ANNA, mapping, seeder, world};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "platform-token-0123456789";
const SECRET: &str = "webhook-secret-0123456789";

/// A webhook receiver that refuses while down, and checks every signature while up.
#[derive(Default)]
struct Receiver {
    up: AtomicBool,
    /// An event id it refuses even while up (a receiver choking on one event).
    poison: std::sync::atomic::AtomicI64,
    refused: AtomicUsize,
    /// (event id, kind) of each accepted delivery.
    accepted: Mutex<Vec<(i64, String)>>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers
        .get("x-mailsync-event-id")
        .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
    if id == Some(r.poison.load(Ordering::SeqCst)) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if !r.up.load(Ordering::SeqCst) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let signature = header("x-mailsync-signature");
    let (t, v1) = signature
        .split_once(",v1=")
        .map(|(t, v)| (t.trim_start_matches("t=").parse::<u64>().unwrap_or(0), v))
        .unwrap_or((0, ""));
    assert_eq!(
        sign(SECRET, t, &body),
        v1,
        "signature over the timestamp and body"
    );
    let event: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(header("x-mailsync-event-id"), event["id"].to_string());
    let kind = event["kind"].as_str().unwrap_or_default().to_string();
    r.accepted
        .lock()
        .unwrap()
        .push((event["id"].as_i64().unwrap(), kind));
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, url)
}

async fn serve(w: &OAuthWorld, hook: &str) -> (RunningService, CancellationToken) {
    serve_with(
        w,
        hook,
        host_harness::service::webhooks::DEFAULT_DEAD_LETTER_AFTER,
    )
    .await
}

/// `serve`, an event set aside after `dead_letter_after` failed attempts.
async fn serve_with(
    w: &OAuthWorld,
    hook: &str,
    dead_letter_after: u32,
) -> (RunningService, CancellationToken) {
    let mut config = ServiceSettings::from_table(&toml::Table::new()).expect("defaults");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.api_token = Some(TOKEN.into());
    config.schedule.interval_secs = 3600;
    config.schedule.jitter = 0.0;
    config.webhooks = vec![WebhookSettings {
        url: hook.parse().unwrap(),
        secret: SECRET.into(),
        dead_letter_after,
    }];
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), config, stop.clone())
        .await
        .expect("starts");
    (running, stop)
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn webhook_deliveries_survive_a_receiver_that_is_down_and_a_restart() {
    let w = world(mapping("INBOX", None)).await;
    let (receiver, hook) = start_receiver().await;
    let mut s = seeder(&w).await;
    for i in 0..2 {
        let m = plain(
            &format!("hook-{i}"),
            "Klant <klant@example.com>",
            ANNA,
            "Hallo",
            "body",
        );
        s.append_with("INBOX", "", Some(&days_ago(1)), &m).await;
    }
    let (running, stop) = serve(&w, &hook).await;
    // The first pass creates two messages; the receiver is down and refuses their events.
    until("refused twice", || {
        receiver.refused.load(Ordering::SeqCst) >= 2
    })
    .await;
    stop.cancel();
    running.stopped().await.expect("stops");
    assert!(receiver.accepted.lock().unwrap().is_empty());

    receiver.up.store(true, Ordering::SeqCst);
    let (running, stop) = serve(&w, &hook).await;
    until("two created events", || {
        receiver.accepted.lock().unwrap().len() >= 2
    })
    .await;
    let third = plain(
        "hook-2",
        "Klant <klant@example.com>",
        ANNA,
        "Nog een",
        "body",
    );
    s.append_with("INBOX", "", Some(&days_ago(0)), &third).await;
    until("the third message", || {
        tests::sync_checks::live(&w).len() >= 3
    })
    .await;
    until("three created events", || {
        receiver.accepted.lock().unwrap().len() >= 3
    })
    .await;
    let accepted = receiver.accepted.lock().unwrap().clone();
    let ids: Vec<i64> = accepted.iter().map(|(id, _)| *id).collect();
    assert!(
        ids.windows(2).all(|p| p[0] < p[1]),
        "in order, once each: {ids:?}"
    );
    assert!(
        accepted.iter().all(|(_, k)| k == "message.created"),
        "{accepted:?}"
    );
    stop.cancel();
    running.stopped().await.expect("stops");
}

#[tokio::test]
async fn an_event_the_receiver_never_takes_is_set_aside_and_the_next_goes_out() {
    let w = world(mapping("INBOX", None)).await;
    let (receiver, hook) = start_receiver().await;
    receiver.up.store(true, Ordering::SeqCst);
    let latest = w
        .host
        .shared()
        .db
        .events()
        .events_latest_id()
        .expect("outbox");
    // The first event of this run chokes the receiver; the rest it takes.
    receiver.poison.store(latest + 1, Ordering::SeqCst);
    let mut s = seeder(&w).await;
    for i in 0..2 {
        let m = plain(
            &format!("dead-{i}"),
            "Klant <klant@example.com>",
            ANNA,
            "Hallo",
            "body",
        );
        s.append_with("INBOX", "", Some(&days_ago(1)), &m).await;
    }
    let (running, stop) = serve_with(&w, &hook, 3).await;
    until("the event after the poisoned one", || {
        receiver
            .accepted
            .lock()
            .unwrap()
            .iter()
            .any(|(id, _)| *id > latest + 1)
    })
    .await;
    assert_eq!(
        receiver.refused.load(Ordering::SeqCst),
        3,
        "three attempts, then set aside"
    );
    let accepted = receiver.accepted.lock().unwrap().clone();
    assert!(
        accepted.iter().all(|(id, _)| *id != latest + 1),
        "{accepted:?}"
    );

    let api = format!("http://{}/api/v1/webhooks/0/dead-letters", running.address);
    let refused = tests::http_client().get(&api).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the platform's token only");
    let letters: serde_json::Value = tests::http_client()
        .get(&api)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let letters = letters["dead_letters"].as_array().expect("a list").clone();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["event"]["id"], latest + 1);
    assert_eq!(letters[0]["event"]["kind"], "message.created");
    assert_eq!(letters[0]["attempts"], 3);
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "{letters:?}"
    );
    let metrics = tests::metrics_of(&format!("http://{}", running.address)).await;
    let dead = tests::MetricsText::metric(
        metrics.as_str(),
        "mailsync_webhook_dead_letters_total{webhook=\"0\"}",
    );
    assert_eq!(dead, Some(1.0), "{metrics}");
    stop.cancel();
    running.stopped().await.expect("stops");
}

/// A message moved from the inbox to the archive while push watches the inbox: the inbox's
/// change comes first, yet no `message.removed` is raised; a message expunged is removed.
#[tokio::test]
async fn a_move_seen_by_push_is_a_move_and_an_expunge_a_removal() {
    let w = world(mapping("INBOX", Some("Archive"))).await;
    let (_receiver, hook) = start_receiver().await;
    let mut s = seeder(&w).await;
    for subject in ["to move", "to expunge"] {
        let m = plain(subject, "Klant <klant@example.com>", ANNA, subject, "body");
        s.append_with("INBOX", "", Some(&days_ago(1)), &m).await;
    }
    let (running, stop) = serve(&w, &hook).await;
    until("both messages", || tests::sync_checks::live(&w).len() == 2).await;
    let db = &w.host.shared().db;
    let before = db.events().events_latest_id().unwrap();
    // Once push watches the inbox, the changes come from it, not from a scheduled pass.
    let base = format!("http://{}", running.address);
    let parked = Instant::now();
    loop {
        let text = tests::metrics_of(&base).await;
        if tests::MetricsText::metric(text.as_str(), "mailsync_push_waiting") == Some(1.0) {
            break;
        }
        assert!(
            parked.elapsed() < Duration::from_secs(20),
            "push never parked: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.run("SELECT INBOX").await;
    s.run("UID MOVE 1 Archive").await;
    s.run("UID STORE 2 +FLAGS (\\Deleted)").await;
    s.run("EXPUNGE").await;
    let find = |subject: &str| {
        tests::sync_checks::messages(&w)
            .into_iter()
            .find(|m| m.subject.as_deref() == Some(subject))
            .unwrap()
    };
    until("moved to the archive and the other removed", || {
        find("to move").folder == "archive" && find("to expunge").removed
    })
    .await;
    assert!(!find("to move").removed);
    let told: Vec<(String, String)> = db
        .events()
        .events_after(before, 100)
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.kind,
                e.data["change"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        told,
        [
            ("message.updated".to_string(), "moved".to_string()),
            ("message.removed".to_string(), "removed".to_string())
        ]
    );
    stop.cancel();
    running.stopped().await.expect("stops");
}

#[tokio::test]
async fn the_event_stream_resumes_after_the_last_id_seen() {
    let w = world(mapping("INBOX", None)).await;
    let (_receiver, hook) = start_receiver().await;
    let mut s = seeder(&w).await;
    let m = plain("sse-1", "Klant <klant@example.com>", ANNA, "Een", "body");
    s.append_with("INBOX", "", Some(&days_ago(1)), &m).await;
    let (running, stop) = serve(&w, &hook).await;
    let base = format!("http://{}", running.address);
    let client = tests::http_client();
    // The first pass's event, through the stored list.
    let mut first: Vec<serde_json::Value> = Vec::new();
    let started = Instant::now();
    while first.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "no event");
        let list = client
            .get(format!("{base}/api/v1/events?after=0"))
            .bearer_auth(TOKEN);
        first = list.send().await.unwrap().json().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = first[0]["id"].as_i64().unwrap();
    let more = plain("sse-2", "Klant <klant@example.com>", ANNA, "Twee", "body");
    s.append_with("INBOX", "", Some(&days_ago(0)), &more).await;
    let stream = client
        .get(format!("{base}/api/v1/events/stream"))
        .bearer_auth(TOKEN)
        .header("last-event-id", seen.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut stream = stream;
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text.contains("message.created") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let id_line = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("an id");
    assert!(
        id_line.parse::<i64>().unwrap() > seen,
        "only what came after: {text}"
    );
    assert!(!text.contains(&format!("id: {seen}\n")), "{text}");
    stop.cancel();
    running.stopped().await.expect("stops");
}

#[tokio::test]
async fn a_webhooks_credentials_never_reach_a_log() {
    tests::secrets::capture_logs();
    const PASSWORD: &str = "hunter2-webhook-password";
    const TOKEN_PARAM: &str = "tok-webhook-0123456789";
    tests::secrets::issued(PASSWORD);
    tests::secrets::issued(TOKEN_PARAM);
    let w = world(mapping("INBOX", None)).await;
    // A receiver that is not there: every delivery fails, and is logged with reqwest's error,
    // which names the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let hook = format!("http://hook-user:{PASSWORD}@127.0.0.1:{port}/hook?token={TOKEN_PARAM}");
    let mut s = seeder(&w).await;
    let m = plain("cred-0", "Klant <klant@example.com>", ANNA, "Hallo", "body");
    s.append_with("INBOX", "", Some(&days_ago(1)), &m).await;
    let (running, stop) = serve(&w, &hook).await;
    until("a failed delivery logged", || {
        tests::secrets::captured_text().contains("webhook delivery failed; retrying")
    })
    .await;
    // The stuck event shows in the metrics, by the webhook's place, not its address.
    let metrics = tests::metrics_of(&format!("http://{}", running.address)).await;
    let attempts =
        tests::MetricsText::metric(metrics.as_str(), "mailsync_webhook_attempts{webhook=\"0\"}");
    assert!(attempts >= Some(1.0), "{metrics}");
    assert!(!metrics.contains("127.0.0.1"), "{metrics}");
    stop.cancel();
    running.stopped().await.expect("stops");
    assert!(
        tests::secrets::captured_text().contains("hook-user:***@127.0.0.1"),
        "the URL is logged without its credentials"
    );
    tests::secrets::assert_no_secret_captured();
}
