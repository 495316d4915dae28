//! `make demo-cluster`: two `mailsync-host serve` nodes on a local, throwaway PostgreSQL share
//! six linked mailboxes on a local Dovecot. One node is killed (SIGKILL); the other takes its
//! mailboxes over when their leases lapse, and mail sent to them still arrives. The survivor
//! stops cleanly and lets its leases go. Nothing is left running.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use tests::cluster_world::{ClusterWorld, until};
use tests::dovecot::Seeder;
use tests::mail_fixtures::plain;
use tests::many_mailboxes::user;
use tests::serve_node::ServeNode;

#[derive(clap::Parser)]
struct Args {
    /// The `mailsync-host` binary.
    #[arg(long)]
    host: PathBuf,
}

const MAILBOXES: usize = 6;
const LEASE_SECS: u64 = 6;

fn main() -> anyhow::Result<()> {
    tests::run_main(run)
}

fn step(text: &str) {
    println!("\n== {text}");
}

fn show(c: &ClusterWorld) {
    for (mailbox, holder) in c.holders() {
        println!("   {mailbox}: {}", holder.as_deref().unwrap_or("(nobody)"));
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    step("A throwaway PostgreSQL, a local Dovecot, six mailboxes linked through the fake Google");
    let service = format!("[cluster]\nlease_secs = {LEASE_SECS}\nheartbeat_secs = 1\n");
    let c = ClusterWorld::start(MAILBOXES, &service).await?;
    println!(
        "   database: {}",
        host_harness::db::DatabaseUrl::parse(&c.url).map_err(anyhow::Error::msg)?
    );

    step("Two nodes start on it and share the mailboxes by lease");
    let names = ["node-a", "node-b"];
    let a = ServeNode::start(&args.host, &c.url, &c.key, &c.settings, names[0]).await;
    let b = ServeNode::start(&args.host, &c.url, &c.key, &c.settings, names[1]).await;
    println!("   node-a on {}, node-b on {}", a.base, b.base);
    until(Duration::from_secs(60), || c.settled(&names)).await?;
    show(&c);

    let lost = c.held_by("node-a");
    step(&format!(
        "node-a is killed (SIGKILL) while it holds {}; its leases last {LEASE_SECS} s",
        lost.join(", ")
    ));
    a.kill().await;
    let killed = Instant::now();
    until(Duration::from_secs(60), || {
        c.held_by("node-b").len() == MAILBOXES
    })
    .await?;
    println!(
        "   node-b holds all six {:.1} s after the kill:",
        killed.elapsed().as_secs_f64()
    );
    show(&c);

    let mailbox = lost.first().context("node-a held a mailbox")?;
    let i: usize = mailbox.trim_start_matches("mb").parse()?;
    step(&format!(
        "New mail for {mailbox}, which node-a kept in sync"
    ));
    let message = plain(
        "after-the-kill",
        "Klant <klant@example.com>",
        &user(i),
        "Sent after node-a died",
        "body",
    );
    let sent = Instant::now();
    Seeder::connect(c.imap_port(), &user(i))
        .await
        .append("INBOX", &message)
        .await;
    until(Duration::from_secs(60), || {
        let messages = c.db.inbox().inbox_messages(mailbox).unwrap_or_default();
        messages
            .iter()
            .any(|m| m.subject.as_deref() == Some("Sent after node-a died"))
    })
    .await?;
    println!(
        "   in the CRM {:.2} s later, pushed by node-b",
        sent.elapsed().as_secs_f64()
    );

    step("node-b stops cleanly (SIGTERM) and lets its leases go");
    let status = b.stop().await;
    println!("   node-b: {status}");
    show(&c);
    println!("\nNothing is left running: the nodes have exited; PostgreSQL and Dovecot stop now.");
    Ok(())
}
