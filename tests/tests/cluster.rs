//! Several nodes on one PostgreSQL. Two nodes refreshing one rotating token at once keep the
//! mailbox linked; a link started on one node completes on another, by the plugin's call and by
//! the panel's callback between two `serve` processes, whose holder then pushes the mailbox
//! mapped through the other; and three
//! `mailsync-host serve` processes share 60 mailboxes on one Dovecot, take over a node killed
//! with SIGKILL within the lease time, lose or duplicate nothing, and keep the server's flags.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use host_harness::admin_store::AdminChoices;
use host_harness::at_rest::{KeyRing, SecretKey};
use host_harness::bindings::mailbox::LinkState;
use host_harness::db::DatabaseUrl;
use host_harness::{Database, PluginHost};
use tests::cluster_world::{ClusterWorld, TOKEN};
use tests::dovecot::Seeder;
use tests::mail_fixtures::plain;
use tests::many_mailboxes::{
    Flags, append_everywhere, crm_flags, flag_everywhere, mailbox_id, server_flags,
};
use tests::oauth_world::OAuthWorld;
use tests::postgres::PostgresCluster;
use tests::serve_node::ServeNode;

/// A node's handle on the shared database, its values sealed with the cluster's key.
fn node(url: &str, key: &SecretKey) -> Database {
    let url = DatabaseUrl::parse(url).expect("a PostgreSQL URL");
    Database::connect(&url, KeyRing::new(key)).expect("connect to the cluster's database")
}

/// Another node: its own host and its own handle on the same database.
fn another_host(w: &OAuthWorld, db: Database) -> PluginHost {
    let cache = tests::component_cache();
    PluginHost::load(
        host_harness::BUNDLED_PLUGIN.as_ref(),
        &w.settings,
        db,
        Some(&cache),
    )
    .expect("load the plugin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_refreshing_one_rotating_token_at_once_keep_the_mailbox_linked() {
    let cluster = PostgresCluster::shared();
    let (url, key) = (cluster.fresh_database(), SecretKey::generate());
    let w = OAuthWorld::on_database(node(&url, &key)).await;
    // Microsoft rotates the refresh token at every refresh, and refuses a retired one.
    w.link("m1", "microsoft").await.expect("linked");
    let other = another_host(&w, node(&url, &key));
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..6 {
        let mailbox = if i % 2 == 0 {
            w.mailbox("m1")
        } else {
            other.mailbox("m1")
        };
        calls.spawn(async move { mailbox.check_access(true).await });
    }
    while let Some(done) = calls.join_next().await {
        let checked = done.expect("joined").expect("the call runs");
        checked.expect("refreshed: no node used a retired refresh token");
    }
    assert_eq!(w.status("m1").await.state, LinkState::Linked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_started_on_one_node_completes_on_another() {
    let cluster = PostgresCluster::shared();
    let (url, key) = (cluster.fresh_database(), SecretKey::generate());
    let w = OAuthWorld::on_database(node(&url, &key)).await;
    let other = another_host(&w, node(&url, &key));
    let started = w.start_link("m1", "google").await.expect("started on A");
    let query = w.consent(&started.authorization_url).await;
    let completed = other
        .mailbox("m1")
        .link_complete("anna", &query)
        .await
        .expect("the call runs")
        .expect("completed on B");
    assert_eq!(completed.state, LinkState::Linked);
    assert_eq!(w.status("m1").await.state, LinkState::Linked, "A sees it");
    // And only the user who started it could have: bram's browser gets nowhere on either.
    let started = w.start_link("m2", "google").await.expect("started on A");
    let query = w.consent(&started.authorization_url).await;
    let stolen = other.mailbox("m2").link_complete("bram", &query).await;
    let refusal = stolen
        .expect("the call runs")
        .expect_err("another user's browser completes nothing");
    assert_eq!(
        refusal.kind,
        host_harness::bindings::mailbox::ErrorKind::StateInvalid(
            host_harness::bindings::mailbox::StateProblem::OtherUser
        ),
        "{refusal:?}"
    );
    assert_eq!(w.status("m2").await.state, LinkState::Unlinked);
}

/// A cookie's `name=value` from a `Set-Cookie` answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panel_link_and_mapping_reach_the_holder_from_any_serve_node() {
    let c = ClusterWorld::start(0, "[schedule]\ninterval_secs = 3600\n")
        .await
        .expect("the cluster's world");
    c.world.google.add_account("g-lb", "lb@example.nl");
    let host = tests::mailsync_host();
    let a = ServeNode::start(&host, &c.url, &c.key, &c.settings, "node-a").await;
    let b = ServeNode::start(&host, &c.url, &c.key, &c.settings, "node-b").await;
    let http = tests::http_client();

    // The platform mints a ticket on node A; the browser signs in on node B.
    let ticket: serde_json::Value = http
        .post(format!("{}/api/v1/panel/sessions", a.base))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "user": "anna", "mailbox": "lb", "admin": false }))
        .send()
        .await
        .expect("sessions")
        .json()
        .await
        .expect("a ticket");
    let path = ticket["login_path"].as_str().expect("path");
    let (signed_in, cookie) = tests::panel_sign_in(&b.base, path).await;
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    // Node A knows the session node B opened.
    let session: serde_json::Value = http
        .get(format!("{}/panel/session", a.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("the session");
    assert_eq!(session["mailbox"], "lb");
    let csrf = session["csrf"].as_str().expect("its CSRF token");

    // "Link mailbox" on node A; the provider's redirect reaches node B.
    let started: serde_json::Value = http
        .post(format!("{}/api/v1/mailboxes/lb/link", a.base))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({ "provider": "google", "login_hint": "lb@example.nl" }))
        .send()
        .await
        .expect("link")
        .json()
        .await
        .expect("started");
    let url = started["authorization_url"]
        .as_str()
        .expect("a consent URL");
    let query = c.world.consent(url).await;
    let callback = http
        .get(format!("{}/oauth/callback", b.base))
        .query(&query)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(callback.status(), reqwest::StatusCode::OK);
    let page = callback.text().await.expect("the page");
    assert!(page.contains("lb@example.nl is linked"), "{page}");

    // Both nodes say so, and one of them keeps it in sync.
    for node in [&a, &b] {
        let status: serde_json::Value = http
            .get(format!("{}/api/v1/mailboxes/lb", node.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("a status");
        assert_eq!(status["state"], "Linked", "on {}", node.name);
    }
    until("the mailbox held", Duration::from_secs(30), || {
        c.holders().get("lb").is_some_and(Option::is_some)
    })
    .await;

    // Its folders mapped through the node that does not hold it: that node syncs it once, and
    // nudges the holder, whose push then brings what arrives next.
    let holder = c.holders()["lb"].clone().expect("held");
    let other = if holder == a.name { &b } else { &a };
    let mapped = http
        .put(format!("{}/api/v1/mailboxes/lb/mapping", other.base))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "inbox": "INBOX", "archive": null, "deleted": null, "sent": null }))
        .send()
        .await
        .expect("mapping");
    assert!(mapped.status().is_success(), "{}", mapped.status());
    let reports = format!("{}/api/v1/mailboxes/lb/reports", other.base);
    let started = Instant::now();
    loop {
        let runs: Vec<serde_json::Value> = http
            .get(&reports)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("reports")
            .json()
            .await
            .expect("the reports");
        if !runs.is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no pass ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut seeder = Seeder::connect(c.imap_port(), "lb@example.nl").await;
    let message = plain(
        "after-mapping",
        "Klant <klant@example.com>",
        "lb@example.nl",
        "Hallo",
        "Tekst",
    );
    seeder.append("INBOX", &message).await;
    let pushed = until(
        "the holder's push brings it",
        Duration::from_secs(30),
        || c.db.inbox().inbox_messages("lb").expect("inbox").len() == 1,
    )
    .await;
    eprintln!("pushed by {holder} {pushed:?} after the append");
    for node in [a, b] {
        assert!(node.stop().await.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrators_change_on_one_node_reaches_the_others() {
    let cluster = PostgresCluster::shared();
    let (url, key) = (cluster.fresh_database(), SecretKey::generate());
    let w = OAuthWorld::on_database(node(&url, &key)).await;
    let other = another_host(&w, node(&url, &key));
    let enabled = |host: &PluginHost| {
        let platform = host.shared().platform();
        let google = platform
            .settings
            .providers
            .iter()
            .find(|p| p.id == "google");
        google.expect("google").enabled
    };
    assert!(enabled(&other));
    let mut choices = AdminChoices::of(&w.settings.platform);
    choices.providers.insert("google".into(), false);
    w.host.set_admin_choices(choices).await.expect("saved");
    assert!(
        other.follow_admin_choices().await.expect("read"),
        "taken up"
    );
    assert!(!enabled(&other), "Google is off on the other node too");
    assert!(!other.follow_admin_choices().await.expect("read"), "once");
}

const NODES: usize = 3;
const MAILBOXES: usize = 60;
const LEASE_SECS: u64 = 6;

/// Every mailbox's lease holder, sampled from the database.
fn holders(db: &Database) -> BTreeMap<String, Option<String>> {
    db.leases()
        .lease_holders()
        .expect("lease holders")
        .into_iter()
        .collect()
}

/// Waits until `nodes` idle in `inboxes` inboxes between them (their metrics say so).
async fn all_idling(nodes: &[ServeNode], inboxes: usize) {
    let started = Instant::now();
    loop {
        let mut idling = 0.0;
        for node in nodes {
            idling += node_metric(node, "mailsync_push_waiting").await;
        }
        if idling >= inboxes as f64 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {idling} of {inboxes} inboxes idle"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// Waits until each of the first `mailboxes` users has exactly one IMAP session open, by
/// Dovecot's own count: its holder's push. A node still watching a mailbox that another took
/// shows as two sessions, and one nobody watches as none.
async fn one_session_each(c: &ClusterWorld, mailboxes: usize) {
    let dovecot = c.world.dovecot.as_ref().expect("dovecot");
    let started = Instant::now();
    loop {
        let counts = dovecot.connections_per_user();
        let off: Vec<(String, usize)> = (0..mailboxes)
            .map(tests::many_mailboxes::user)
            .map(|u| {
                let n = counts.get(&u).copied().unwrap_or(0);
                (u, n)
            })
            .filter(|(_, n)| *n != 1)
            .collect();
        if off.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "mailboxes without exactly one session: {off:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many messages each mailbox holds in the CRM, and whether any is there twice.
fn inbox_counts(db: &Database) -> Vec<usize> {
    (0..MAILBOXES)
        .map(|i| {
            let messages = db.inbox().inbox_messages(&mailbox_id(i)).expect("inbox");
            let keys: BTreeSet<_> = messages.iter().map(|m| &m.dedupe_key).collect();
            assert_eq!(keys.len(), messages.len(), "a message stored twice");
            messages.iter().filter(|m| !m.removed).count()
        })
        .collect()
}

/// Waits until every mailbox holds `count` messages; names those that do not, and their
/// holders, when they never do.
async fn until_all(db: &Database, count: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let counts = inbox_counts(db);
        if counts.iter().all(|&c| c == count) {
            return started.elapsed();
        }
        if started.elapsed() > limit {
            let h = holders(db);
            let short: Vec<_> = (0..MAILBOXES)
                .filter(|&i| counts[i] != count)
                .map(|i| (mailbox_id(i), counts[i], h.get(&mailbox_id(i)).cloned()))
                .collect();
            panic!("not {count} messages each within {limit:?}: {short:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_sixty_mailboxes_and_take_over_from_one_killed() {
    let service = format!(
        "[schedule]\ninterval_secs = 3600\n[cluster]\nlease_secs = {LEASE_SECS}\nheartbeat_secs = 1\n"
    );
    let c = ClusterWorld::start(MAILBOXES, &service)
        .await
        .expect("linked and mapped");
    let db = c.db.clone();
    let host = tests::mailsync_host();
    let mut nodes = Vec::new();
    for n in 0..NODES {
        let name = format!("node{n}");
        nodes.push(ServeNode::start(&host, &c.url, &c.key, &c.settings, &name).await);
    }

    // Every mailbox held by one node, each node its share.
    until("the mailboxes shared out", Duration::from_secs(60), || {
        let h = holders(&db);
        let per_node = |n: usize| {
            h.values()
                .filter(|v| v.as_deref() == Some(&format!("node{n}")))
                .count()
        };
        h.len() == MAILBOXES && (0..NODES).all(|n| per_node(n) == MAILBOXES / NODES)
    })
    .await;
    // Each node watches what it holds: once every inbox idles, the first message of every
    // mailbox arrives by push.
    all_idling(&nodes, MAILBOXES).await;
    one_session_each(&c, MAILBOXES).await;
    append_everywhere(c.imap_port(), MAILBOXES, "first").await;
    until_all(&db, 1, Duration::from_secs(60)).await;

    // SIGKILL the first node: no clean shutdown, its leases simply stop being renewed.
    let victim = "node0".to_string();
    let held_by_victim: Vec<String> = holders(&db)
        .into_iter()
        .filter(|(_, h)| h.as_ref() == Some(&victim))
        .map(|(m, _)| m)
        .collect();
    assert_eq!(held_by_victim.len(), MAILBOXES / NODES);
    let mut survivors = nodes.split_off(1);
    nodes.pop().expect("node0").kill().await;
    let killed = Instant::now();
    let mut samples = Vec::new();
    let took = until(
        "the killed node's mailboxes taken over",
        Duration::from_secs(30),
        || {
            let h = holders(&db);
            samples.push((killed.elapsed(), h.clone()));
            held_by_victim
                .iter()
                .all(|m| matches!(&h[m], Some(n) if *n != victim))
        },
    )
    .await;
    eprintln!("takeover after kill -9: {took:?}");
    // Within a few leases, however loaded the machine.
    assert!(
        took <= Duration::from_secs(3 * LEASE_SECS + 10),
        "taken over only {took:?} after the kill, lease {LEASE_SECS} s"
    );
    // Never two holders in the database: once a survivor held a mailbox the killed node never
    // held it again (the sessions on the server are counted below).
    for (m, _) in samples.last().unwrap().1.iter() {
        let taken = samples
            .iter()
            .position(|(_, h)| matches!(&h[m], Some(n) if *n != victim));
        if let Some(at) = taken {
            assert!(
                samples[at..]
                    .iter()
                    .all(|(_, h)| h[m].as_ref() != Some(&victim))
            );
        }
    }
    // Mail for every mailbox, the killed node's included, still arrives: once the survivors
    // idle in every inbox, by push.
    all_idling(&survivors, MAILBOXES).await;
    // On the server too: each mailbox watched by one session, the killed node's gone.
    one_session_each(&c, MAILBOXES).await;
    append_everywhere(c.imap_port(), MAILBOXES, "second").await;
    let arrived = until_all(&db, 2, Duration::from_secs(60)).await;
    eprintln!("second messages, after the takeover: all in {arrived:?}");

    // Flags changed on the server reach the CRM, through the new owners' pushes too.
    flag_everywhere(c.imap_port(), MAILBOXES).await;
    let server = server_flags(c.imap_port(), MAILBOXES).await;
    let (first, second) = (
        Flags {
            seen: true,
            flagged: true,
            answered: false,
        },
        Flags {
            answered: true,
            ..Flags::default()
        },
    );
    for inbox in &server {
        let flags: Vec<Flags> = inbox.values().copied().collect();
        assert_eq!(flags, [first, second], "the server's flags");
    }
    until(
        "the CRM's flags equal the server's",
        Duration::from_secs(60),
        || crm_flags(&db, MAILBOXES).expect("the CRM's inbox") == server,
    )
    .await;

    // The survivors shut down cleanly and let their leases go at once.
    for node in survivors.drain(..) {
        let status = node.stop().await;
        assert!(status.success(), "{status}");
    }
    assert!(
        holders(&db).values().all(Option::is_none),
        "every lease let go"
    );
    let counts = inbox_counts(&db);
    assert!(counts.iter().all(|&c| c == 2), "nothing lost: {counts:?}");
}

/// Runs `sql` on the cluster's database, as the test's own client.
async fn run_sql(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client.batch_execute(sql).await.expect("run");
}

/// One metric of a node, parsed (0 when it has none yet).
async fn node_metric(node: &ServeNode, name: &str) -> f64 {
    use tests::MetricsText;
    tests::metrics_of(&node.base)
        .await
        .metric(name)
        .unwrap_or(0.0)
}

/// A node cut off from the database keeps its mailboxes while its leases last, then lets every
/// one go (its pushes end); another node takes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_from_the_database_lets_its_mailboxes_go_once_its_leases_lapse() {
    let c = ClusterWorld::start(
        2,
        "[schedule]\ninterval_secs = 3600\n[cluster]\nlease_secs = 4\nheartbeat_secs = 1\n",
    )
    .await
    .expect("the cluster's world");
    let role = format!("cut_off_node_{}", std::process::id());
    run_sql(&c.url, &format!("CREATE ROLE {role} LOGIN SUPERUSER")).await;
    let url_as_role = c.url.replacen(
        &format!("//{}@", tests::postgres::ROLE),
        &format!("//{role}@"),
        1,
    );
    let host = tests::mailsync_host();
    let a = ServeNode::start(&host, &url_as_role, &c.key, &c.settings, "node-a").await;
    all_idling(std::slice::from_ref(&a), 2).await;
    assert_eq!(node_metric(&a, "mailsync_leases_held").await, 2.0);

    run_sql(
        &c.url,
        &format!(
            "ALTER ROLE {role} NOLOGIN;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        ),
    )
    .await;
    // Its first failed round keeps what it holds: its leases have not run out.
    let cut = Instant::now();
    while node_metric(&a, "mailsync_lease_rounds_failed_total").await < 1.0 {
        assert!(cut.elapsed() < Duration::from_secs(20), "no round failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        node_metric(&a, "mailsync_leases_held").await,
        2.0,
        "let go before its leases ran out"
    );
    // Once they would have run out, it lets everything go: no push of it goes on.
    while node_metric(&a, "mailsync_leases_held").await > 0.0
        || node_metric(&a, "mailsync_push_waiting").await > 0.0
    {
        assert!(
            cut.elapsed() < Duration::from_secs(30),
            "a node cut off kept its mailboxes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let b = ServeNode::start(&host, &c.url, &c.key, &c.settings, "node-b").await;
    tests::cluster_world::until(Duration::from_secs(30), || c.held_by("node-b").len() == 2)
        .await
        .expect("node B takes both mailboxes");
    all_idling(std::slice::from_ref(&b), 2).await;
    run_sql(&c.url, &format!("ALTER ROLE {role} LOGIN")).await;
}

/// A webhook receiver that takes everything, keeping each delivery's event id in order.
async fn start_hook() -> (std::sync::Arc<std::sync::Mutex<Vec<i64>>>, String) {
    use axum::extract::State;
    type Taken = std::sync::Arc<std::sync::Mutex<Vec<i64>>>;
    async fn take(
        State(taken): State<Taken>,
        headers: axum::http::HeaderMap,
    ) -> axum::http::StatusCode {
        let id: Option<i64> = headers
            .get("x-mailsync-event-id")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        taken.lock().unwrap().extend(id);
        axum::http::StatusCode::NO_CONTENT
    }
    let taken = Taken::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(take))
        .with_state(taken.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (taken, url)
}

/// Two nodes with the same webhook: one delivers it, so each event reaches the receiver once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_each_event_to_a_webhook_once() {
    let (taken, hook) = start_hook().await;
    let c = ClusterWorld::start(
        4,
        &format!(
            "[schedule]\ninterval_secs = 3600\n[cluster]\nlease_secs = 6\nheartbeat_secs = 1\n\
             [[webhooks]]\nurl = \"{hook}\"\nsecret = \"webhook-secret-0123456789\"\n"
        ),
    )
    .await
    .expect("the cluster's world");
    let host = tests::mailsync_host();
    let a = ServeNode::start(&host, &c.url, &c.key, &c.settings, "node-a").await;
    let b = ServeNode::start(&host, &c.url, &c.key, &c.settings, "node-b").await;
    tests::cluster_world::until(Duration::from_secs(30), || c.settled(&["node-a", "node-b"]))
        .await
        .expect("the nodes share the mailboxes");
    // Both kept to the end: a node dropped is killed.
    let nodes = [a, b];
    all_idling(&nodes, 4).await;
    let before = c.db.events().events_latest_id().expect("the outbox");
    append_everywhere(c.imap_port(), 4, "hook").await;
    let created = || -> Vec<i64> {
        let events = c.db.events().events_after(before, 100).expect("the outbox");
        events
            .into_iter()
            .filter(|e| e.kind == "message.created")
            .map(|e| e.id)
            .collect()
    };
    tests::cluster_world::until(Duration::from_secs(30), || created().len() == 4)
        .await
        .expect("each node syncs its new messages");
    let raised = created();
    tests::cluster_world::until(Duration::from_secs(30), || {
        let taken = taken.lock().unwrap();
        raised.iter().all(|id| taken.contains(id))
    })
    .await
    .expect("every event reaches the receiver");
    let taken = taken.lock().unwrap().clone();
    let mut once = taken.clone();
    once.sort_unstable();
    once.dedup();
    assert_eq!(
        once.len(),
        taken.len(),
        "an event delivered twice: {taken:?}"
    );
    assert!(taken.windows(2).all(|w| w[0] < w[1]), "in order: {taken:?}");
}

/// A node whose turn moved on while it was frozen writes nothing when its sync goes on: every
/// storage and inbox write of the call carries the turn's fence, and the database refuses it.
/// Here only the row's token moves on (as another node's taking makes it), its holder left as
/// it was, so the node's renewals go on succeeding and nothing stops the call before it writes:
/// the fence alone keeps the write out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_in_a_turn_taken_since_writes_nothing() {
    use tests::sync_checks::{append_many, mapping, seeder};

    let cluster = PostgresCluster::shared();
    let (url, key) = (cluster.fresh_database(), SecretKey::generate());
    let w = OAuthWorld::with_dovecot_on(tests::dovecot::STANDARD_FOLDERS, node(&url, &key), |_| {})
        .await;
    w.link("m1", "google").await.expect("linked");
    let mapped = w.mailbox("m1").set_mapping(&mapping("INBOX", None)).await;
    tests::oauth_world::captured(mapped.expect("the call runs")).expect("mapped");
    let mut s = seeder(&w).await;
    append_many(&mut s, "INBOX", "fenced", 3).await;

    let mailbox = w.mailbox("m1");
    let turn = mailbox
        .free_turn()
        .await
        .expect("asked")
        .expect("the turn is free");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let moved = client
        .execute(
            "UPDATE mailbox_turns SET token = token + 1 WHERE mailbox = 'm1'",
            &[],
        )
        .await
        .expect("the token moves on");
    assert_eq!(moved, 1);

    let synced = mailbox.sync_holding(turn).await;
    let complete = matches!(&synced, Ok(Ok(report)) if report.complete);
    assert!(!complete, "a sync in a stale turn completed: {synced:?}");
    let db = node(&url, &key);
    assert!(
        db.inbox().inbox_messages("m1").unwrap().is_empty(),
        "a sync in a stale turn delivered"
    );

    // In a turn of its own, the same sync delivers everything.
    let report = tests::sync_checks::sync(&w).await;
    assert!(report.complete, "{report:?}");
    assert_eq!(db.inbox().inbox_messages("m1").unwrap().len(), 3);
}
