//! `make bench` (writing back): actions over the HTTP API against Dovecot, one at a time, each
//! timed from the API's POST until another IMAP client sees it: `{"seen": true}` until that
//! client's FETCH shows `\Seen`, and `{"move_to": "archive"}` until its SEARCH finds the message
//! in Archive. Median, p99 and worst of each.

use std::time::{Duration, Instant};

use host_harness::bindings::folders::FolderMapping;
use host_harness::service;
use tests::dovecot::STANDARD_FOLDERS;
use tests::oauth_world::{DovecotSetup, OAuthWorld};
use tests::panel_client::{PLATFORM_TOKEN, service_settings};
use tokio_util::sync::CancellationToken;

const USER: &str = "anna@example.nl";

#[derive(clap::Parser)]
struct Args {
    /// Messages marked read, one at a time.
    #[arg(long, default_value_t = 100)]
    reads: usize,
    /// Messages archived, one at a time.
    #[arg(long, default_value_t = 50)]
    moves: usize,
}

fn main() -> anyhow::Result<()> {
    tests::run_main(run)
}

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: Bob de Vries <bob@example.nl>\r\nTo: {USER}\r\nSubject: Vraag {i}\r\n\
         Date: Mon, 7 Dec 2026 09:00:00 +0100\r\nMessage-ID: <bench-act-{i}@example.nl>\r\n\r\n\
         Beste Anna, vraag {i}.\r\n"
    )
    .into_bytes()
}

async fn run(args: Args) -> anyhow::Result<()> {
    let total = args.reads.max(args.moves);
    let w = OAuthWorld::with_dovecot_setup_and(DovecotSetup::new(STANDARD_FOLDERS), |_| {}).await;
    w.link("m1", "google").await.expect("linked");
    let mapping = FolderMapping {
        inbox: Some("INBOX".into()),
        archive: Some("Archive".into()),
        deleted: Some("Trash".into()),
        sent: Some("Sent".into()),
    };
    w.mailbox("m1")
        .set_mapping(&mapping)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let dovecot = w.dovecot.as_ref().expect("Dovecot");
    let mut seeder = dovecot.seeder(USER).await;
    for i in 0..total {
        seeder.append("INBOX", &message(i)).await;
    }
    w.mailbox("m1")
        .sync()
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let stored = w.host.shared().db.inbox().inbox_messages("m1")?;
    let by_index = |i: usize| {
        let id = format!("bench-act-{i}@example.nl");
        stored
            .iter()
            .find(|m| m.message_id == id)
            .map(|m| (m.id, m.locations[0].1))
            .expect("synced")
    };
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), service_settings(), stop.clone()).await?;
    let base = format!("http://{}/api/v1/mailboxes/m1", running.address);
    let http = tests::http_client();
    // Another client, as the user's mail program: INBOX open, asked again after each poll.
    let mut other = dovecot.seeder(USER).await;
    other.run("EXAMINE INBOX").await;

    let mut reads = Vec::new();
    for i in 0..args.reads {
        let (id, uid) = by_index(i);
        let started = Instant::now();
        post(&http, &base, id, serde_json::json!({"seen": true})).await?;
        loop {
            let answer = other.answers(&format!("UID FETCH {uid} (FLAGS)")).await;
            if answer.iter().any(|l| l.contains("\\Seen")) {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "never seen");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reads.push(started.elapsed());
    }
    report(
        "mark read (API POST → another client's FETCH shows \\Seen)",
        reads,
    );

    let mut moves = Vec::new();
    for i in 0..args.moves {
        let (id, _) = by_index(i);
        let started = Instant::now();
        post(&http, &base, id, serde_json::json!({"move_to": "archive"})).await?;
        loop {
            other.run("EXAMINE Archive").await;
            let found = other
                .answers(&format!(
                    "UID SEARCH HEADER Message-ID \"<bench-act-{i}@example.nl>\""
                ))
                .await;
            if found.iter().any(|l| {
                l.trim()
                    .strip_prefix("* SEARCH")
                    .is_some_and(|r| !r.trim().is_empty())
            }) {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "never archived"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        moves.push(started.elapsed());
    }
    report(
        "archive (API POST → another client finds it in Archive)",
        moves,
    );
    stop.cancel();
    Ok(())
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    message: i64,
    action: serde_json::Value,
) -> anyhow::Result<()> {
    let answer = http
        .post(format!("{base}/messages/{message}/actions"))
        .bearer_auth(PLATFORM_TOKEN)
        .json(&action)
        .send()
        .await?;
    anyhow::ensure!(answer.status().is_success(), "HTTP {}", answer.status());
    Ok(())
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "{what}: {} actions, median {:.1} ms, p99 {:.1} ms, worst {:.1} ms",
        times.len(),
        ms(times[times.len() / 2]),
        ms(at(0.99)),
        ms(*times.last().unwrap())
    );
}
