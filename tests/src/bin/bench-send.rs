//! `make bench` (sending): the outbox over the HTTP API against the test Postfix. First, one
//! send at a time: from the API's POST to the submission server's acceptance (Postfix logs the
//! Message-ID) and to the entry recorded sent, as median, p99 and worst. Then `--queued` sends
//! queued at once under a rate of `--per-minute`: how long they take to drain, and the most sent
//! in any 60 s (never above the rate).

use std::time::{Duration, Instant};

use host_harness::service;
use tests::oauth_world::OAuthWorld;
use tests::panel_client::{PLATFORM_TOKEN, service_settings};
use tests::send_world::{log, world_with};
use tokio_util::sync::CancellationToken;

#[derive(clap::Parser)]
struct Args {
    /// Sends timed one at a time.
    #[arg(long, default_value_t = 100)]
    sends: usize,
    /// Sends queued at once for the drain.
    #[arg(long, default_value_t = 1000)]
    queued: usize,
    /// The mailbox's send rate during the drain.
    #[arg(long, default_value_t = 600)]
    per_minute: u32,
}

fn main() -> anyhow::Result<()> {
    use clap::Parser;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .init();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        latency(args.sends).await?;
        drain(args.queued, args.per_minute).await
    })
}

/// A world at `per_minute`, with the service over it: the world, the API's mailbox URL, and
/// how to stop the service.
async fn serving(
    per_minute: u32,
) -> anyhow::Result<(OAuthWorld, service::RunningService, CancellationToken)> {
    let w = world_with(|s| {
        s.policy.send_per_minute = per_minute;
        s.policy.send_per_day = 1_000_000;
    })
    .await;
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), service_settings(), stop.clone()).await?;
    Ok((w, running, stop))
}

/// Queues send `i` under its own key: its entry id and Message-ID.
async fn post(base: &str, i: usize) -> anyhow::Result<(String, String)> {
    let answer = tests::http_client()
        .post(format!("{base}/api/v1/mailboxes/m1/outbox"))
        .bearer_auth(PLATFORM_TOKEN)
        .header("Idempotency-Key", format!("bench-{i}"))
        .json(&serde_json::json!({
            "to": [{"name": "Bob de Vries", "address": "bob@example.nl"}],
            "subject": format!("Offerte {i}"),
            "text": "Beste Bob,\n\nHierbij de offerte.\n\nMet vriendelijke groet,\nAnna\n",
            "html": "<p>Beste Bob,</p><p>Hierbij de offerte.</p>",
        }))
        .send()
        .await?;
    anyhow::ensure!(answer.status() == 202, "queued: {}", answer.status());
    let entry: serde_json::Value = answer.json().await?;
    Ok((
        entry["id"].as_str().unwrap_or_default().to_string(),
        entry["message_id"].as_str().unwrap_or_default().to_string(),
    ))
}

fn sent(w: &OAuthWorld, entry: &str) -> bool {
    let db = &w.host.shared().db;
    db.outbox_entry("m1", entry)
        .ok()
        .flatten()
        .is_some_and(|e| !e.state.is_open())
}

async fn latency(sends: usize) -> anyhow::Result<()> {
    let (w, running, stop) = serving(1_000_000).await?;
    let base = format!("http://{}", running.address);
    let (mut accepted, mut recorded) = (Vec::new(), Vec::new());
    for i in 0..sends {
        let started = Instant::now();
        let (entry, message_id) = post(&base, i).await?;
        let needle = format!("message-id=<{message_id}>");
        until(|| log(&w).contains(&needle), Duration::from_secs(30)).await?;
        accepted.push(started.elapsed());
        until(|| sent(&w, &entry), Duration::from_secs(30)).await?;
        recorded.push(started.elapsed());
    }
    stop.cancel();
    running.stopped().await?;
    for (what, figures) in [
        ("the submission server's acceptance", &mut accepted),
        ("the entry recorded sent", &mut recorded),
    ] {
        figures.sort();
        let at = |q: f64| figures[((figures.len() as f64 * q) as usize).min(figures.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "POST to {what}, {} sends one at a time: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            figures.len(),
            ms(at(0.5)),
            ms(at(0.99)),
            ms(*figures.last().unwrap_or(&Duration::ZERO)),
        );
    }
    Ok(())
}

async fn drain(queued: usize, per_minute: u32) -> anyhow::Result<()> {
    let (w, running, stop) = serving(per_minute).await?;
    let base = format!("http://{}", running.address);
    let started = Instant::now();
    let mut entries = Vec::with_capacity(queued);
    for i in 0..queued {
        entries.push(post(&base, i).await?.0);
    }
    let all_queued = started.elapsed();
    let limit = Duration::from_secs(60 * (queued as u64 / u64::from(per_minute.max(1)) + 5));
    // Entries go in order: the last one done, all are.
    let last = entries.last().cloned().unwrap_or_default();
    until(|| sent(&w, &last), limit).await?;
    let drained = started.elapsed();
    stop.cancel();
    running.stopped().await?;
    // When each was sent, as the host counts its rate.
    let times = w.host.shared().db.sends_since("m1", 0)?;
    let most = times
        .iter()
        .enumerate()
        .map(|(i, &t)| times[i..].iter().take_while(|&&u| u < t + 60_000).count())
        .max()
        .unwrap_or(0);
    println!(
        "{queued} sends queued in {:.1} s at {per_minute} a minute: drained in {:.1} s; {} sent; \
         at most {most} in any 60 s (the rate: {per_minute})",
        all_queued.as_secs_f64(),
        drained.as_secs_f64(),
        times.len(),
    );
    Ok(())
}

async fn until(done: impl Fn() -> bool, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while !done() {
        anyhow::ensure!(started.elapsed() < limit, "waited {limit:?} in vain");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}
