//! Two mailboxes in one service, one of them hostile: its server sends a poison message, then
//! stalls (takes connections and never answers). The other mailbox's mail keeps arriving by
//! push through all of it, and the service still shuts down.

use std::time::{Duration, Instant};
use tests::MetricsText;

use host_harness::service::{self, ServiceSettings};
use tests::cut_proxy::CutProxy;
use tests::dovecot::STANDARD_FOLDERS;
use tests::fake_provider::Consent;
use tests::mail_fixtures::{control_characters, html_beside, plain};
use tests::oauth_world::OAuthWorld;
use tests::sync_checks::{ANNA, mapping};
use tokio_util::sync::CancellationToken;

const BRAM: &str = "bram@example.nl";

async fn metrics(address: std::net::SocketAddr) -> String {
    let response = tests::http_client()
        .get(format!("http://{address}/metrics"))
        .send()
        .await;
    response.unwrap().text().await.unwrap()
}

/// How long the hostile server may stall a read before it fails.
const STALL: Duration = Duration::from_secs(10);
/// How soon the good mailbox's mail arrives beside the hostile one: well inside `STALL`, and
/// far above the second or so it takes on a loaded machine.
const NOT_HELD_UP: Duration = Duration::from_secs(8);

/// Waits (at most 60 s) until `done`; how long it took.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(60), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

fn has(w: &OAuthWorld, mailbox: &str, subject: &str) -> bool {
    w.db.inbox()
        .inbox_messages(mailbox)
        .expect("inbox")
        .iter()
        .any(|m| m.subject.as_deref() == Some(subject))
}

#[tokio::test]
async fn a_hostile_neighbour_does_not_hold_up_another_mailboxs_push() {
    let proxy = CutProxy::start().await;
    let endpoint = proxy.endpoint();
    let w = OAuthWorld::with_dovecot_and(STANDARD_FOLDERS, |s| {
        // A provider of its own for the hostile mailbox: Google's sign-in, its IMAP server
        // behind the proxy.
        let mut hostile = s.platform.providers[0].clone();
        hostile.id = "hostile".into();
        hostile.display_name = Some("Hostile Corp".into());
        hostile.endpoints.insert("imap".into(), endpoint.clone());
        hostile.scopes = ["https://mail.google.com/", "openid", "email"]
            .map(String::from)
            .to_vec();
        hostile.authorize_params = [("access_type", "offline"), ("prompt", "consent")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        s.platform.providers.push(hostile);
        // A stalled read fails after 10 s instead of 30, to keep the test short, and long
        // enough that mail the good mailbox gets within it was not held up by the stall.
        s.policy.io_timeout_ms = STALL.as_millis() as u64;
    })
    .await;
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    proxy.set_target(dovecot.imaps_port);
    w.link("good", "google").await.expect("linked");
    w.google
        .world()
        .consents
        .push_back(Consent::Allow { email: BRAM.into() });
    w.link("bad", "hostile").await.expect("linked");
    for mailbox in ["good", "bad"] {
        let mapped = w
            .mailbox(mailbox)
            .set_mapping(&mapping("INBOX", None))
            .await;
        mapped.expect("call runs").expect("mapped");
    }
    let mut config = ServiceSettings::from_table(&toml::Table::new()).expect("defaults");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.schedule.interval_secs = 3600;
    config.schedule.network_backoff_secs = 1;
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), config, stop.clone())
        .await
        .expect("the service starts");
    let address = running.address;
    until("both mailboxes idle", async || {
        metrics(address).await.shows("mailsync_push_waiting", 2.0)
    })
    .await;
    let text = metrics(address).await;
    assert!(
        text.shows("mailsync_leases_held", 2.0),
        "a lone node holds both leases: {text}"
    );

    // A poison message reaches the hostile mailbox as mail for the good one arrives.
    let mut anna = dovecot.seeder(ANNA).await;
    let mut bram = dovecot.seeder(BRAM).await;
    let poison = html_beside("cc", &control_characters(12 * 1024 * 1024));
    bram.append("INBOX", &poison).await;
    let first = plain(
        "good-1",
        "Klant <klant@example.com>",
        ANNA,
        "Eerste",
        "body",
    );
    anna.append("INBOX", &first).await;
    let took = until("the good mailbox's first message", async || {
        has(&w, "good", "Eerste")
    })
    .await;
    assert!(
        took < NOT_HELD_UP,
        "beside a poison message, pushed only in {took:?}"
    );
    until("the poison kept cut", async || has(&w, "bad", "Poison cc")).await;
    let poison = w.db.inbox().inbox_messages("bad").unwrap();
    assert!(poison.iter().all(|m| m.truncated), "the poison is kept cut");

    // Then the hostile server stalls: its idle connection is cut, and every new one is taken
    // and never answered.
    proxy.stall(true);
    proxy.cut_all();
    until("the hostile mailbox hangs on its server", async || {
        proxy.stalled() >= 1
    })
    .await;
    let second = plain(
        "good-2",
        "Klant <klant@example.com>",
        ANNA,
        "Tweede",
        "body",
    );
    anna.append("INBOX", &second).await;
    let took = until("the good mailbox's second message", async || {
        has(&w, "good", "Tweede")
    })
    .await;
    // Well within the stall: the good mailbox did not wait for the hostile server's timeout.
    assert!(
        took < NOT_HELD_UP,
        "beside a stalled server, pushed only in {took:?}"
    );
    // The stalled read fails after the timeout.
    until("the stalled server's failures are counted", async || {
        metrics(address)
            .await
            .contains("mailsync_sync_failures_total{kind=")
    })
    .await;
    // The good mailbox idles again; the hostile one keeps trying, with backoff.
    until("the good mailbox idles again", async || {
        metrics(address).await.shows("mailsync_push_waiting", 1.0)
    })
    .await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), running.stopped())
        .await
        .expect("a stalled server does not hold the shutdown")
        .expect("stops cleanly");
}
