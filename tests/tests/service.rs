//! The always-on service end to end: the real component in the real host, serving the HTTP API
//! over a real Dovecot. Mail arrives on the schedule with nobody asking; the API refuses a
//! request without the platform's token; a shutdown lets the running pass end and stops.

use std::time::{Duration, Instant};
use tests::MetricsText;

use host_harness::service::{self, RunningService, ServiceSettings};
use tests::mail_fixtures::{days_ago, plain};
use tests::oauth_world::OAuthWorld;
use tests::sync_checks::{ANNA, live, mapping, messages, seeder, world};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "platform-token-0123456789";

/// The service over `w`'s host on a free loopback port, syncing every `interval_secs`, with push.
async fn serve(w: &OAuthWorld, interval_secs: u64) -> (RunningService, CancellationToken) {
    serve_with(w, interval_secs, true).await
}

async fn serve_with(
    w: &OAuthWorld,
    interval_secs: u64,
    push: bool,
) -> (RunningService, CancellationToken) {
    serve_configured(w, interval_secs, |c| c.push = push).await
}

/// As `serve`, with the settings changed by `configure` too.
async fn serve_configured(
    w: &OAuthWorld,
    interval_secs: u64,
    configure: impl FnOnce(&mut ServiceSettings),
) -> (RunningService, CancellationToken) {
    let mut config = ServiceSettings::from_table(&toml::Table::new()).expect("defaults");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.api_token = Some(TOKEN.into());
    config.schedule.interval_secs = interval_secs;
    config.schedule.jitter = 0.0;
    configure(&mut config);
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), config, stop.clone())
        .await
        .expect("the service starts");
    (running, stop)
}

fn url(running: &RunningService, path: &str) -> String {
    format!("http://{}{path}", running.address)
}

async fn metrics_text(running: &RunningService) -> String {
    tests::metrics_of(&url(running, "")).await
}

/// Waits until the host waits on one parked idle connection; the metrics then.
async fn until_parked(running: &RunningService) -> String {
    until_metrics(running, |t| t.shows("mailsync_push_waiting", 1.0)).await
}

/// Waits (at most 20 s) until the metrics satisfy `done`; the metrics then.
async fn until_metrics(running: &RunningService, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = metrics_text(running).await;
        if done(&text) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never came: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A world whose IMAP server is reached through a proxy that can cut or stall connections.
async fn world_behind_proxy() -> (OAuthWorld, tests::cut_proxy::CutProxy) {
    let proxy = tests::cut_proxy::CutProxy::start().await;
    let endpoint = proxy.endpoint();
    let w = OAuthWorld::with_dovecot_and(tests::dovecot::STANDARD_FOLDERS, |s| {
        tests::oauth_world::point_imap_at(s, &endpoint)
    })
    .await;
    proxy.set_target(w.dovecot.as_ref().unwrap().imaps_port);
    (w, proxy)
}

/// Scheduled sync passes that ran to their end, from the metrics.
fn sync_count(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("mailsync_syncs_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `m1` holds `n` live messages, for at most `limit`.
async fn until_live(w: &OAuthWorld, n: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    while live(w).len() < n {
        assert!(
            started.elapsed() < limit,
            "{} of {n} messages after {limit:?}",
            live(w).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn mail_arrives_on_the_schedule_without_anyone_asking() {
    let w = world(mapping("INBOX", None)).await;
    let mut s = seeder(&w).await;
    let first = plain("svc-1", "Klant <klant@example.com>", ANNA, "Eerste", "body");
    s.append_with("INBOX", "", Some(&days_ago(1)), &first).await;
    // Push off: the schedule alone brings the mail.
    let (running, stop) = serve_with(&w, 2, false).await;
    // The first pass runs within one interval of the start.
    until_live(&w, 1, Duration::from_secs(20)).await;
    let second = plain("svc-2", "Klant <klant@example.com>", ANNA, "Tweede", "body");
    s.append_with("INBOX", "", Some(&days_ago(0)), &second)
        .await;
    until_live(&w, 2, Duration::from_secs(20)).await;
    // The counters follow the inbox's commit: wait for them too.
    until_metrics(&running, |t| {
        sync_count(t) >= 2 && t.shows("mailsync_messages_total{change=\"created\"}", 2.0)
    })
    .await;
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

#[tokio::test]
async fn the_api_refuses_requests_without_the_platforms_token() {
    let w = world(mapping("INBOX", None)).await;
    let (running, stop) = serve(&w, 3600).await;
    let client = tests::http_client();
    let status = url(&running, "/api/v1/mailboxes/m1");
    let unlink = url(&running, "/api/v1/mailboxes/m1/unlink");
    for (what, bearer) in [
        ("none", None),
        ("wrong", Some("platform-token-0123456788")),
        ("short", Some("x")),
    ] {
        let mut get = client.get(&status);
        let mut post = client.post(&unlink);
        if let Some(b) = bearer {
            get = get.bearer_auth(b);
            post = post.bearer_auth(b);
        }
        assert_eq!(get.send().await.unwrap().status(), 401, "{what}: status");
        assert_eq!(post.send().await.unwrap().status(), 401, "{what}: unlink");
    }
    // Still linked: the refused unlink changed nothing.
    let answer = client.get(&status).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["state"], "Linked", "{body}");
    assert_eq!(body["address"], ANNA);
    assert_eq!(
        client
            .get(url(&running, "/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

#[tokio::test]
async fn sync_now_reports_and_messages_over_the_api() {
    let w = world(mapping("INBOX", None)).await;
    let mut s = seeder(&w).await;
    for i in 0..3 {
        let m = plain(
            &format!("api-{i}"),
            "Klant <klant@example.com>",
            ANNA,
            &format!("Offerte {i}"),
            "body",
        );
        s.append_with("INBOX", "", Some(&days_ago(1)), &m).await;
    }
    // Push off: "sync now" alone brings the mail.
    let (running, stop) = serve_with(&w, 3600, false).await;
    let client = tests::http_client();
    let sync = client
        .post(url(&running, "/api/v1/mailboxes/m1/sync"))
        .bearer_auth(TOKEN);
    assert_eq!(sync.send().await.unwrap().status(), 202);
    until_live(&w, 3, Duration::from_secs(20)).await;
    let page = |q: &str| {
        let u = url(&running, &format!("/api/v1/mailboxes/m1/messages{q}"));
        client.get(u).bearer_auth(TOKEN).send()
    };
    let first: serde_json::Value = page("?limit=2").await.unwrap().json().await.unwrap();
    assert_eq!(first["messages"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(
        first["messages"][0]["from"][0]["address"],
        "klant@example.com"
    );
    let next = first["next_before"].as_i64().expect("a next page");
    let rest: serde_json::Value = page(&format!("?limit=2&before={next}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["messages"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest["next_before"].is_null());
    let reports: serde_json::Value = client
        .get(url(&running, "/api/v1/mailboxes/m1/reports"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The first pass (at the start) and the one asked for: between them, the three messages.
    let created: u64 = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report"]["folders"][0]["created"].as_u64().unwrap())
        .sum();
    assert_eq!(created, 3, "{reports}");
    // A typed error, in the language asked for.
    let unknown = client
        .get(url(&running, "/api/v1/mailboxes/m2/folders"))
        .bearer_auth(TOKEN)
        .header("accept-language", "nl-NL,nl;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 409);
    let error: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(error["error"]["kind"], "NotLinked", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Er is geen"),
        "in Dutch: {error}"
    );
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

#[tokio::test]
async fn new_mail_is_pushed_through_idle_without_waiting_for_the_schedule() {
    let w = world(mapping("INBOX", None)).await;
    let mut s = seeder(&w).await;
    let first = plain(
        "push-1",
        "Klant <klant@example.com>",
        ANNA,
        "Eerste",
        "body",
    );
    s.append_with("INBOX", "", Some(&days_ago(1)), &first).await;
    // An hour between scheduled syncs: only push can bring the second message in time.
    let (running, stop) = serve(&w, 3600).await;
    until_live(&w, 1, Duration::from_secs(20)).await;
    // The watch parks its connection: no instance runs while the server is quiet.
    until_parked(&running).await;
    for n in 2..=4 {
        let m = plain(
            &format!("push-{n}"),
            "Klant <klant@example.com>",
            ANNA,
            "Nieuw",
            "body",
        );
        s.append_with("INBOX", "", Some(&days_ago(0)), &m).await;
        until_live(&w, n, Duration::from_secs(20)).await;
    }
    let text = until_parked(&running).await;
    let pushes = text
        .lines()
        .find_map(|l| l.strip_prefix("mailsync_push_latency_seconds_count "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no push latency in:\n{text}"));
    assert!(pushes >= 1, "{text}");
    // One scheduled pass ran, at the start (or, when push held the mailbox's turn then, a
    // moment later); the next is an hour away: push brought the rest.
    let text = until_metrics(&running, |t| t.shows("mailsync_syncs_total", 1.0)).await;
    assert!(
        text.shows("mailsync_messages_total{change=\"created\"}", 4.0),
        "{text}"
    );
    assert!(
        text.shows("mailsync_imap_connections", 1.0),
        "one connection, parked in IDLE: {text}"
    );
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
    assert!(
        w.host.shared().parked.mailboxes().is_empty(),
        "the idle connection was logged out at shutdown"
    );
}

#[tokio::test]
async fn a_lapsed_authorisation_stops_the_retries_and_raises_the_event() {
    let w = world(mapping("INBOX", None)).await;
    w.google.world().revoke_account(ANNA);
    // Were it taken for a network failure, it would be retried within a second.
    let (running, stop) = serve_configured(&w, 1, |c| c.schedule.network_backoff_secs = 1).await;
    let failures = |t: &str| {
        t.lines()
            .find_map(|l| {
                l.strip_prefix("mailsync_sync_failures_total{kind=\"reauthorization-needed\"} ")
            })
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    until_metrics(&running, |t| failures(t) >= 1).await;
    let events = w.db.events().events_after(0, 100).unwrap();
    let raised: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        raised.contains(&"mailbox.reauthorization-needed"),
        "{raised:?}"
    );
    let event = events
        .iter()
        .find(|e| e.kind == "mailbox.reauthorization-needed")
        .unwrap();
    assert_eq!(event.mailbox, "m1");
    assert!(
        event.data["message"]["nl"]
            .as_str()
            .unwrap()
            .contains("Mailbox koppelen")
    );
    // Five intervals later: no second attempt.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let text = metrics_text(&running).await;
    assert_eq!(failures(&text), 1, "{text}");
    let status = tests::http_client()
        .get(url(&running, "/api/v1/mailboxes/m1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!(status["state"], "ReauthorizationNeeded", "{status}");
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

#[tokio::test]
async fn an_idle_connection_that_is_cut_reconnects_with_backoff() {
    let (w, proxy) = world_behind_proxy().await;
    w.link("m1", "google").await.expect("linked");
    let mapped = w.mailbox("m1").set_mapping(&mapping("INBOX", None)).await;
    mapped.expect("call runs").expect("mapped");
    let (running, stop) = serve_configured(&w, 3600, |c| c.schedule.network_backoff_secs = 1).await;
    // The scheduled pass at the start has ended, so only the watch is connected.
    until_metrics(&running, |t| {
        sync_count(t) == 1 && t.shows("mailsync_push_waiting", 1.0)
    })
    .await;
    // The server goes away while the mailbox idles: each try to reconnect is noted when it
    // arrives, until three have.
    proxy.refuse(true);
    let before = proxy.accepted();
    proxy.cut_all();
    let cut_at = Instant::now();
    let mut arrivals = Vec::new();
    while arrivals.len() < 3 {
        let seen = (proxy.accepted() - before) as usize;
        while arrivals.len() < seen.min(3) {
            arrivals.push(cut_at.elapsed());
        }
        assert!(cut_at.elapsed() < Duration::from_secs(60), "{arrivals:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Backoff with equal jitter (0.5–1, 1–2, 2–4 s): the waits never shrink, and none is
    // shorter than half a second, however loaded the machine (a delay only lengthens them).
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    let slack = Duration::from_millis(60);
    assert!(
        gaps[0] + slack >= Duration::from_millis(500),
        "{arrivals:?}"
    );
    assert!(
        gaps[1] + slack >= gaps[0],
        "the backoff shrank: {arrivals:?}"
    );
    proxy.refuse(false);
    let mut s = seeder(&w).await;
    let m = plain(
        "cut-1",
        "Klant <klant@example.com>",
        ANNA,
        "Na de storing",
        "body",
    );
    s.append_with("INBOX", "", Some(&days_ago(0)), &m).await;
    // Pushed once the watch is back (the next try is at most 8 s away).
    until_live(&w, 1, Duration::from_secs(20)).await;
    let text = until_parked(&running).await;
    assert!(
        text.contains("mailsync_sync_failures_total{kind="),
        "{text}"
    );
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

/// Push calls past `max_concurrent_pushes` wait for a slot: three mailboxes lose their idle
/// connections at once to a server that then stalls; one call holds the only slot (its
/// connection stalled) while the other two queue, and all three idle again once it answers.
#[tokio::test]
async fn push_calls_past_max_concurrent_pushes_queue_for_a_slot() {
    let (w, proxy) = world_behind_proxy().await;
    w.google.add_account("g-cor", "cor@example.nl");
    for (mailbox, email) in [
        ("m1", ANNA),
        ("m2", "bram@example.nl"),
        ("m3", "cor@example.nl"),
    ] {
        if mailbox != "m1" {
            w.google
                .world()
                .consents
                .push_back(tests::fake_provider::Consent::Allow {
                    email: email.into(),
                });
        }
        w.link(mailbox, "google").await.expect("linked");
        let mapped = w
            .mailbox(mailbox)
            .set_mapping(&mapping("INBOX", None))
            .await;
        mapped.expect("call runs").expect("mapped");
    }
    let (running, stop) = serve_configured(&w, 3600, |c| {
        c.schedule.max_concurrent_pushes = 1;
        c.schedule.network_backoff_secs = 1;
    })
    .await;
    until_metrics(&running, |t| t.shows("mailsync_push_waiting", 3.0)).await;

    proxy.stall(true);
    proxy.cut_all();
    // One call in flight, stalled on its new connection; the other two queued behind it.
    let started = Instant::now();
    loop {
        let text = metrics_text(&running).await;
        if proxy.stalled() == 1 && text.shows("mailsync_push_calls_queued", 2.0) {
            break;
        }
        assert!(
            proxy.stalled() <= 1,
            "{} push calls in flight at once, past the cap of one",
            proxy.stalled()
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never one in flight and two queued: {} stalled\n{text}",
            proxy.stalled()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.stall(false);
    until_metrics(&running, |t| {
        t.shows("mailsync_push_waiting", 3.0) && t.shows("mailsync_push_calls_queued", 0.0)
    })
    .await;
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

#[tokio::test]
async fn unlinking_through_the_api_ends_the_watch_and_closes_its_connection() {
    let w = world(mapping("INBOX", None)).await;
    let (running, stop) = serve(&w, 3600).await;
    until_parked(&running).await;
    let unlinked = tests::http_client()
        .post(url(&running, "/api/v1/mailboxes/m1/unlink"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), 200);
    until_metrics(&running, |t| {
        t.shows("mailsync_imap_connections", 0.0) && t.shows("mailsync_push_waiting", 0.0)
    })
    .await;
    let kinds: Vec<String> =
        w.db.events()
            .events_after(0, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
    assert!(kinds.contains(&"mailbox.unlinked".to_string()), "{kinds:?}");
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

#[tokio::test]
async fn a_restarted_service_resumes_where_it_stopped() {
    let w = world(mapping("INBOX", None)).await;
    let mut s = seeder(&w).await;
    let message = |n: u32| {
        let id = format!("restart-{n}");
        plain(&id, "Klant <klant@example.com>", ANNA, &id, "body")
    };
    s.append_with("INBOX", "", Some(&days_ago(0)), &message(1))
        .await;
    let (running, stop) = serve(&w, 3600).await;
    until_live(&w, 1, Duration::from_secs(20)).await;
    until_parked(&running).await;
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
    // Mail that arrives while the service is down comes with the next start, once.
    for n in [2, 3] {
        s.append_with("INBOX", "", Some(&days_ago(0)), &message(n))
            .await;
    }
    let (running, stop) = serve(&w, 3600).await;
    until_live(&w, 3, Duration::from_secs(20)).await;
    until_parked(&running).await;
    s.append_with("INBOX", "", Some(&days_ago(0)), &message(4))
        .await;
    until_live(&w, 4, Duration::from_secs(20)).await;
    let mut ids: Vec<String> = live(&w).into_iter().map(|m| m.message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "nothing twice: {ids:?}");
    assert_eq!(messages(&w).len(), 4, "one record per message");
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

/// Not only the pushed inbox: after a (re)start every mapped folder is brought up to date at
/// once, not at the next scheduled pass (an hour away here, and formerly spread over up to the
/// jitter's share of it: twelve minutes).
#[tokio::test]
async fn after_a_start_every_mapped_folder_is_current_within_seconds() {
    let w = world(mapping("INBOX", Some("Archive"))).await;
    let mut s = seeder(&w).await;
    for i in 0..20 {
        let m = plain(
            &format!("archived-{i}"),
            "Klant <klant@example.com>",
            ANNA,
            "Gearchiveerd",
            "body",
        );
        s.append_with("Archive", "", Some(&days_ago(2)), &m).await;
    }
    // The default jitter: first passes were once spread over up to 720 s of this interval.
    let (running, stop) = serve_configured(&w, 3600, |c| c.schedule.jitter = 0.2).await;
    let took = until_live(&w, 20, Duration::from_secs(30)).await;
    assert!(
        messages(&w).iter().all(|m| m.folder == "archive"),
        "the archive's mail, in the CRM's archive"
    );
    eprintln!("archive current {took:?} after the start");
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}

/// Dovecot's capabilities without IDLE (its own list, less that one).
const CAPABILITIES_WITHOUT_IDLE: &str = "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID \
    ENABLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND \
    URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE \
    QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY \
    PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE\n";

#[tokio::test]
async fn a_server_without_idle_is_polled_on_the_schedule() {
    let setup = tests::oauth_world::DovecotSetup {
        settings: CAPABILITIES_WITHOUT_IDLE,
        ..tests::oauth_world::DovecotSetup::new(tests::dovecot::STANDARD_FOLDERS)
    };
    let w = OAuthWorld::with_dovecot_setup(setup).await;
    w.link("m1", "google").await.expect("linked");
    let mapped = w.mailbox("m1").set_mapping(&mapping("INBOX", None)).await;
    mapped.expect("call runs").expect("mapped");
    // Push on, a pass every 2 s.
    let (running, stop) = serve(&w, 2).await;
    until_metrics(&running, |t| sync_count(t) >= 1).await;
    let mut s = seeder(&w).await;
    let m = plain(
        "poll-1",
        "Klant <klant@example.com>",
        ANNA,
        "Gepeild",
        "body",
    );
    s.append_with("INBOX", "", Some(&days_ago(0)), &m).await;
    until_live(&w, 1, Duration::from_secs(30)).await;
    let text = metrics_text(&running).await;
    // Nothing idles (the server cannot), and no wake from IDLE brought the mail: a pass did (a
    // scheduled one, or the watch tried again after an interval, which syncs the inbox).
    assert!(text.shows("mailsync_push_waiting", 0.0), "{text}");
    assert!(
        text.metric("mailsync_push_latency_seconds_count")
            .is_none_or(|n| n == 0.0),
        "{text}"
    );
    stop.cancel();
    running.stopped().await.expect("stops cleanly");
}
