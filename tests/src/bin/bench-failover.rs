//! `make bench` (failover): three `mailsync-host serve` nodes on one PostgreSQL share
//! `--mailboxes` mailboxes with the default lease (15 s). Again and again, one node is killed
//! with SIGKILL and a message is appended at once to a mailbox it held: the figure is the time
//! from the kill to that message in the CRM, pushed by the mailbox's new owner. The node is then
//! started again, and the time until the cluster has rebalanced is measured too.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use tests::cluster_world::{ClusterWorld, until};
use tests::dovecot::Seeder;
use tests::mail_fixtures::plain;
use tests::many_mailboxes::{mailbox_id, user};
use tests::serve_node::ServeNode;

#[derive(clap::Parser)]
struct Args {
    /// Nodes killed one after another (each started again after).
    #[arg(long, default_value_t = 5)]
    kills: usize,
    /// Mailboxes the three nodes share.
    #[arg(long, default_value_t = 30)]
    mailboxes: usize,
    /// The `mailsync-host` binary [default: the one beside this one].
    #[arg(long)]
    host: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tests::run_main(run)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

async fn run(args: Args) -> anyhow::Result<()> {
    let host = tests::host_binary(args.host)?;
    let c = ClusterWorld::start(args.mailboxes, "[schedule]\ninterval_secs = 3600\n").await?;
    let names = ["node0", "node1", "node2"];
    let mut nodes = Vec::new();
    for name in names {
        nodes.push(Some(
            ServeNode::start(&host, &c.url, &c.key, &c.settings, name).await,
        ));
    }
    until(Duration::from_secs(120), || c.settled(&names)).await?;
    let (mut failovers, mut rebalances) = (Vec::new(), Vec::new());
    for round in 0..args.kills {
        let index = round % names.len();
        let victim = names[index];
        let mailbox = c
            .held_by(victim)
            .first()
            .cloned()
            .context("the victim holds none")?;
        let i: usize = mailbox.trim_start_matches("mb").parse()?;
        assert_eq!(mailbox, mailbox_id(i));
        // Let the victim's push settle on its idle connection before the kill.
        tokio::time::sleep(Duration::from_secs(2)).await;
        nodes[index].take().context("running")?.kill().await;
        let killed = Instant::now();
        let subject = format!("failover {round}");
        let message = plain(
            &format!("failover-{round}"),
            "Klant <klant@example.com>",
            &user(i),
            &subject,
            "body",
        );
        Seeder::connect(c.imap_port(), &user(i))
            .await
            .append("INBOX", &message)
            .await;
        until(Duration::from_secs(120), || {
            let messages = c.db.inbox().inbox_messages(&mailbox).unwrap_or_default();
            messages
                .iter()
                .any(|m| m.subject.as_deref() == Some(subject.as_str()))
        })
        .await?;
        let failover = killed.elapsed();
        nodes[index] = Some(ServeNode::start(&host, &c.url, &c.key, &c.settings, victim).await);
        let rejoined = Instant::now();
        until(Duration::from_secs(120), || c.settled(&names)).await?;
        let rebalance = rejoined.elapsed();
        eprintln!(
            "kill {round}: {victim}'s {mailbox} pushed by its new owner {:.1} s after the kill; \
             rebalanced {:.1} s after the restart",
            failover.as_secs_f64(),
            rebalance.as_secs_f64()
        );
        failovers.push(failover);
        rebalances.push(rebalance);
    }
    for node in nodes.into_iter().flatten() {
        node.stop().await;
    }
    let secs = |d: Duration| d.as_secs_f64();
    let command: Vec<String> = std::env::args().collect();
    println!("command: {}", command.join(" "));
    println!(
        "failover after SIGKILL (lease 15 s, heartbeat 3 s), kill to the first push by the new owner: \
         median {:.1} s, min {:.1} s, max {:.1} s over {} kills",
        secs(median(failovers.clone())),
        secs(*failovers.iter().min().context("kills")?),
        secs(*failovers.iter().max().context("kills")?),
        failovers.len()
    );
    println!(
        "rebalance after the node restarts (every node at most its share): median {:.1} s",
        secs(median(rebalances))
    );
    Ok(())
}
