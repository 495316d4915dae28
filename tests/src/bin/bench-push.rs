//! `make bench` (push): the time from an IMAP APPEND to the message's row in the CRM's inbox,
//! with the service watching the mailbox through IDLE and nothing scheduled meanwhile. Reports
//! the median, 90th and 99th percentile and the worst of `--messages` appends, one at a time,
//! and the host's share: from the server's notification to the row.

use std::time::{Duration, Instant};

use host_harness::bindings::folders::FolderMapping;
use host_harness::service::{self, ServiceSettings};
use tests::dovecot::STANDARD_FOLDERS;
use tests::mail_fixtures::plain;
use tests::oauth_world::OAuthWorld;
use tokio_util::sync::CancellationToken;

const ANNA: &str = "anna@example.nl";

#[derive(clap::Parser)]
struct Args {
    /// Messages appended, one at a time.
    #[arg(long, default_value_t = 200)]
    messages: usize,
}

fn main() -> anyhow::Result<()> {
    use clap::Parser;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .init();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let w = OAuthWorld::with_dovecot(STANDARD_FOLDERS).await;
    w.link("m1", "google")
        .await
        .map_err(|e| anyhow::anyhow!("link: {e:?}"))?;
    let mapping = FolderMapping {
        inbox: Some("INBOX".into()),
        archive: None,
        deleted: None,
        sent: None,
    };
    w.mailbox("m1")
        .set_mapping(&mapping)
        .await?
        .map_err(|e| anyhow::anyhow!("mapping: {e:?}"))?;
    let mut config =
        ServiceSettings::from_table(&toml::Table::new()).map_err(anyhow::Error::msg)?;
    config.listen = "127.0.0.1:0".parse()?;
    config.schedule.interval_secs = 24 * 3600;
    config.schedule.jitter = 0.0;
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), config, stop.clone()).await?;
    let metrics = running.context.metrics.clone();
    let waiting = || metrics.encode().contains("mailsync_push_waiting 1");
    until(waiting, Duration::from_secs(30)).await?;
    let mut seeder = w.dovecot.as_ref().expect("dovecot").seeder(ANNA).await;
    let mut latencies = Vec::with_capacity(args.messages);
    for i in 0..args.messages {
        let id = format!("push-bench-{i}");
        let message = plain(&id, "Klant <klant@example.com>", ANNA, "Nieuw", "body");
        let started = Instant::now();
        seeder.append_with("INBOX", "", None, &message).await;
        let arrived = || {
            w.db.inbox()
                .inbox_page("m1", None, 1)
                .ok()
                .and_then(|page| page.into_iter().next())
                .is_some_and(|m| m.message.message_id.contains(&id))
        };
        until(arrived, Duration::from_secs(30)).await?;
        latencies.push(started.elapsed());
        // The watch parks again before the next one, as between two real messages.
        until(waiting, Duration::from_secs(30)).await?;
    }
    let text = metrics.encode();
    let figure = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (sum, count) = (
        figure("mailsync_push_latency_seconds_sum "),
        figure("mailsync_push_latency_seconds_count "),
    );
    stop.cancel();
    running.stopped().await?;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "push latency, APPEND to the CRM's row, {} messages: median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
    );
    // The host's share: from the server's notification on the idle connection to the row.
    println!(
        "of which from the server's notification to the row (the host and plugin): mean {:.1} ms over {count} pushes",
        if count > 0.0 {
            sum / count * 1000.0
        } else {
            0.0
        },
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
