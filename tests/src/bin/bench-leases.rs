//! `make bench` (leases): 10,000 leased mailboxes on one throwaway PostgreSQL and three nodes'
//! heartbeats (every 3 s, each a lease round through the store, as `serve` runs them), with no
//! IMAP: the renewal load on PostgreSQL (transactions, rows updated and rounds per second, and
//! how long a round takes), then the time until the cluster has rebalanced after a fourth node
//! joins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use host_harness::Database;
use host_harness::at_rest::{KeyRing, SecretKey};
use host_harness::db::DatabaseUrl;
use tests::cluster_world::until;
use tests::postgres::PostgresCluster;

#[derive(clap::Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    mailboxes: usize,
    /// Seconds over which the steady renewal load is measured.
    #[arg(long, default_value_t = 30)]
    steady_secs: u64,
}

const HEARTBEAT: Duration = Duration::from_secs(3);
const TTL: Duration = Duration::from_secs(12);
const MAX_CLAIMS: u32 = 1000;

fn main() -> anyhow::Result<()> {
    tests::run_main(run)
}

/// One node's heartbeat until `stop`: a lease round every `HEARTBEAT`; each round's duration.
fn heartbeat(db: Database, node: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut rounds = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        db.leases()
            .lease_round(&node, TTL, MAX_CLAIMS)
            .expect("a lease round");
        rounds.push(started.elapsed());
        std::thread::sleep(HEARTBEAT.saturating_sub(started.elapsed()));
    }
    rounds
}

async fn stats(client: &tokio_postgres::Client) -> anyhow::Result<(i64, i64)> {
    let row = client
        .query_one(
            "SELECT xact_commit, tup_updated FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

fn settled(db: &Database, nodes: usize) -> bool {
    let holders = db.leases().lease_holders().expect("holders");
    let share = holders.len().div_ceil(nodes);
    let mut per_node = std::collections::HashMap::<String, usize>::new();
    for holder in holders.iter().map(|(_, h)| h) {
        match holder {
            Some(h) => *per_node.entry(h.clone()).or_default() += 1,
            None => return false,
        }
    }
    per_node.len() == nodes && per_node.values().all(|&n| n <= share)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = PostgresCluster::start();
    let url = cluster.fresh_database();
    let key = SecretKey::generate();
    let open = || {
        Database::connect(&DatabaseUrl::parse(&url).expect("URL"), KeyRing::new(&key))
            .expect("connect")
    };
    let db = open();
    let linking = Instant::now();
    for i in 0..args.mailboxes {
        db.set_mailbox_provider(&format!("mb{i:05}"), Some("google"))?;
    }
    eprintln!(
        "{} mailboxes recorded in {:.1} s",
        args.mailboxes,
        linking.elapsed().as_secs_f64()
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);

    // Three nodes start; the first claims everything while alone, the others take their share.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut nodes = Vec::new();
    for n in 0..3 {
        let (db, stop) = (open(), stop.clone());
        nodes.push(std::thread::spawn(move || {
            heartbeat(db, format!("node{n}"), stop)
        }));
    }
    until(Duration::from_secs(120), || settled(&db, 3))
        .await
        .context("three nodes never settled")?;
    let first_settled = started.elapsed();

    // The steady load: renewals only.
    let before = stats(&client).await?;
    let measuring = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.steady_secs)).await;
    let after = stats(&client).await?;
    let seconds = measuring.elapsed().as_secs_f64();

    // A fourth node joins.
    let fourth = {
        let (db, stop) = (open(), stop.clone());
        std::thread::spawn(move || heartbeat(db, "node3".into(), stop))
    };
    let rebalanced = until(Duration::from_secs(120), || settled(&db, 4))
        .await
        .context("four nodes never rebalanced")?;
    stop.store(true, Ordering::SeqCst);
    let mut rounds: Vec<Duration> = Vec::new();
    for node in nodes.into_iter().chain([fourth]) {
        rounds.extend(node.join().ok().context("a heartbeat panicked")?);
    }
    rounds.sort();
    let percentile =
        |p: f64| rounds[((rounds.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;

    let command: Vec<String> = std::env::args().collect();
    println!("command: {}", command.join(" "));
    println!(
        "{} leased mailboxes, 3 nodes, heartbeat {} s, lease renewal {} s",
        args.mailboxes,
        HEARTBEAT.as_secs(),
        TTL.as_secs()
    );
    println!(
        "three nodes starting at once: every mailbox held, each node its share, after {:.1} s",
        first_settled.as_secs_f64()
    );
    println!(
        "steady renewal load over {seconds:.0} s: {:.1} transactions/s, {:.0} rows updated/s ({} rounds/s)",
        (after.0 - before.0) as f64 / seconds,
        (after.1 - before.1) as f64 / seconds,
        3.0 / HEARTBEAT.as_secs_f64()
    );
    println!(
        "a lease round (renew, count, claim or shed): median {:.1} ms, p99 {:.1} ms over {} rounds",
        percentile(0.5),
        percentile(0.99),
        rounds.len()
    );
    println!(
        "a fourth node joins: rebalanced (each of 4 at most its share) after {:.1} s",
        rebalanced.as_secs_f64()
    );
    Ok(())
}
