//! `make bench` (convergence): how soon after a fault every mapped folder is current. Mailboxes
//! map INBOX and Archive, with a backlog in Archive, and change throughout: mail arrives in
//! INBOX, and moves from INBOX to Archive. Two runs, each ending at its last fault, after which
//! the figure is the time until the CRM holds exactly the mailboxes' mail, each message in its
//! folder:
//! - `restarts`: one `serve` node SIGKILLed and started again `--restarts` times, Archive's
//!   backlog never synced before the first kill;
//! - `cluster`: three nodes, each SIGKILLed in turn (its mailboxes taken over once its leases
//!   lapse) and started again, PostgreSQL restarted once in the middle; measured from the last
//!   takeover, and from the kill before it.
//!
//! It also counts the moved messages the CRM ever showed as removed (the goal: none).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use tests::cluster_world::{ClusterWorld, until};
use tests::dovecot::Seeder;
use tests::mail_fixtures::plain;
use tests::many_mailboxes::{mailbox_id, user};
use tests::serve_node::ServeNode;
use tests::sync_checks::mapping;

#[derive(clap::Parser)]
struct Args {
    /// Mailboxes in each run.
    #[arg(long, default_value_t = 6)]
    mailboxes: usize,
    /// Messages waiting in each mailbox's Archive before the first start.
    #[arg(long, default_value_t = 380)]
    archived: usize,
    /// Kills and starts of the one node in the first run.
    #[arg(long, default_value_t = 15)]
    restarts: usize,
    /// Kills in the cluster run (one node at a time, in turn).
    #[arg(long, default_value_t = 6)]
    kills: usize,
    /// The `mailsync-host` binary [default: the one beside this one].
    #[arg(long)]
    host: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tests::run_main(run)
}

/// Where each message of each mailbox is on the server: Message-ID to "inbox" or "archive".
type Truth = Vec<BTreeMap<String, &'static str>>;

/// Changes the mailboxes as their users would, and remembers what it did.
struct Mailboxes {
    seeders: Vec<Seeder>,
    truth: Arc<Mutex<Truth>>,
    next: usize,
    rng: rand::rngs::StdRng,
}

impl Mailboxes {
    async fn connect(c: &ClusterWorld, n: usize) -> Self {
        let mut seeders = Vec::new();
        for i in 0..n {
            let mut s = Seeder::connect(c.imap_port(), &user(i)).await;
            s.run("SELECT INBOX").await;
            seeders.push(s);
        }
        Mailboxes {
            seeders,
            truth: Arc::new(Mutex::new(vec![BTreeMap::new(); n])),
            next: 0,
            rng: rand::rngs::StdRng::seed_from_u64(1),
        }
    }

    async fn append(&mut self, i: usize, folder: &'static str) {
        self.next += 1;
        let id = format!("converge-{}", self.next);
        let message = plain(&id, "Klant <klant@example.com>", &user(i), &id, "body");
        self.seeders[i]
            .append(
                if folder == "inbox" {
                    "INBOX"
                } else {
                    "Archive"
                },
                &message,
            )
            .await;
        let mut truth = self.truth.lock().unwrap();
        truth[i].insert(format!("{id}@mail.example.org"), folder);
    }

    /// Moves one message of mailbox `i`'s INBOX to Archive, if it has one.
    async fn move_one(&mut self, i: usize) {
        let inbox: Vec<String> = {
            let truth = self.truth.lock().unwrap();
            truth[i]
                .iter()
                .filter(|(_, f)| **f == "inbox")
                .map(|(id, _)| id.clone())
                .collect()
        };
        if inbox.is_empty() {
            return;
        }
        let id = inbox[self.rng.random_range(0..inbox.len())].clone();
        let found = self.seeders[i]
            .answers(&format!("UID SEARCH HEADER Message-ID \"<{id}>\""))
            .await;
        let uid = found
            .iter()
            .find_map(|line| line.strip_prefix("* SEARCH "))
            .map(|uids| uids.trim().to_string());
        if let Some(uid) = uid {
            self.seeders[i]
                .run(&format!("UID MOVE {uid} Archive"))
                .await;
            self.truth.lock().unwrap()[i].insert(id, "archive");
        }
    }

    /// One change in a mailbox chosen at random: new mail in INBOX, or a message moved to
    /// Archive. (Mail filed straight into Archive comes with the scheduled pass, an hour away
    /// here: push watches INBOX, and sees what leaves it.)
    async fn change(&mut self) {
        let i = self.rng.random_range(0..self.seeders.len());
        if self.rng.random_range(0..10) < 6 {
            self.append(i, "inbox").await
        } else {
            self.move_one(i).await
        }
    }
}

/// Changes the mailboxes every 100 ms until `stop`; the mailboxes back when stopped.
fn keep_changing(
    mut mailboxes: Mailboxes,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<Mailboxes> {
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            mailboxes.change().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        mailboxes
    })
}

/// What the CRM still has wrong: messages missing, removed or in another folder, and messages
/// it shows that the mailbox no longer has.
fn lagging(c: &ClusterWorld, truth: &Truth) -> usize {
    let mut wrong = 0;
    for (i, expected) in truth.iter().enumerate() {
        let Ok(stored) = c.db.inbox().inbox_messages(&mailbox_id(i)) else {
            return usize::MAX;
        };
        let crm: BTreeMap<&str, &str> = stored
            .iter()
            .filter(|m| !m.removed)
            .map(|m| (m.message_id.as_str(), m.folder))
            .collect();
        wrong += expected
            .iter()
            .filter(|(id, folder)| crm.get(id.as_str()) != Some(*folder))
            .count();
        wrong += crm.keys().filter(|id| !expected.contains_key(**id)).count();
    }
    wrong
}

/// Messages that only moved, yet were shown as removed at some point.
fn moves_shown_as_removals(c: &ClusterWorld, truth: &Truth) -> anyhow::Result<usize> {
    let mut shown = 0;
    for (i, expected) in truth.iter().enumerate() {
        let stored = c.db.inbox().inbox_messages(&mailbox_id(i))?;
        shown += stored
            .iter()
            .filter(|m| expected.contains_key(&m.message_id))
            .filter(|m| m.updates.iter().any(|u| u == "removed"))
            .count();
    }
    Ok(shown)
}

/// A cluster's world whose mailboxes map INBOX and Archive, with `archived` messages waiting in
/// each Archive and five in each INBOX.
async fn world(args: &Args) -> anyhow::Result<(ClusterWorld, Mailboxes)> {
    let service = "[schedule]\ninterval_secs = 3600\n";
    let c = ClusterWorld::start(args.mailboxes, service).await?;
    for i in 0..args.mailboxes {
        let mailbox = c.world.host.mailbox(&mailbox_id(i));
        let mapped = mailbox
            .set_mapping(&mapping("INBOX", Some("Archive")))
            .await?;
        mapped.map_err(|e| anyhow::anyhow!("mapping: {e:?}"))?;
    }
    let mut mailboxes = Mailboxes::connect(&c, args.mailboxes).await;
    for i in 0..args.mailboxes {
        for _ in 0..args.archived {
            mailboxes.append(i, "archive").await;
        }
        for _ in 0..5 {
            mailboxes.append(i, "inbox").await;
        }
    }
    Ok((c, mailboxes))
}

struct Figure {
    converged: Duration,
    messages: usize,
    removals: usize,
}

/// Stops the changes, and waits until the CRM matches the mailboxes.
async fn converge(
    c: &ClusterWorld,
    changes: tokio::task::JoinHandle<Mailboxes>,
    stop: tokio_util::sync::CancellationToken,
    last_fault: Instant,
) -> anyhow::Result<Figure> {
    stop.cancel();
    let mailboxes = changes.await?;
    let truth = mailboxes.truth.lock().unwrap().clone();
    until(Duration::from_secs(300), || lagging(c, &truth) == 0)
        .await
        .with_context(|| format!("{} messages still wrong", lagging(c, &truth)))?;
    Ok(Figure {
        converged: last_fault.elapsed(),
        messages: truth.iter().map(BTreeMap::len).sum(),
        removals: moves_shown_as_removals(c, &truth)?,
    })
}

async fn start(host: &Path, c: &ClusterWorld, name: &str) -> ServeNode {
    ServeNode::start(host, &c.url, &c.key, &c.settings, name).await
}

/// One node, killed and started again while mail arrives.
async fn restarts(host: &Path, args: &Args) -> anyhow::Result<Figure> {
    let (c, mailboxes) = world(args).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let changes = keep_changing(mailboxes, stop.clone());
    for round in 0..args.restarts {
        let node = start(host, &c, "node0").await;
        // Killed while its first passes run: 1 to 3 s after it listens.
        tokio::time::sleep(Duration::from_millis(1000 + (round as u64 % 3) * 1000)).await;
        node.kill().await;
    }
    let node = start(host, &c, "node0").await;
    let last_start = Instant::now();
    let figure = converge(&c, changes, stop, last_start).await;
    node.stop().await;
    figure
}

/// Three nodes, each killed in turn and started again once its mailboxes were taken over;
/// PostgreSQL restarted once. The last fault: the last kill, measured from the takeover of that
/// node's mailboxes (and from the kill, in `since_kill`).
async fn cluster(host: &Path, args: &Args) -> anyhow::Result<(Figure, Duration)> {
    let (c, mailboxes) = world(args).await?;
    let names = ["node0", "node1", "node2"];
    let mut nodes = Vec::new();
    for name in names {
        nodes.push(Some(start(host, &c, name).await));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let changes = keep_changing(mailboxes, stop.clone());
    let (mut killed, mut taken_over) = (Instant::now(), Instant::now());
    for round in 0..args.kills {
        let index = round % names.len();
        tokio::time::sleep(Duration::from_secs(2)).await;
        nodes[index].take().context("running")?.kill().await;
        killed = Instant::now();
        if round == args.kills / 2 {
            c.postgres().restart();
            eprintln!("cluster: PostgreSQL restarted");
        }
        let gone = until(Duration::from_secs(120), || {
            c.held_by(names[index]).is_empty() && c.holders().values().all(Option::is_some)
        })
        .await?;
        taken_over = Instant::now();
        eprintln!(
            "cluster: {}'s mailboxes taken over {:.1} s after its kill",
            names[index],
            gone.as_secs_f64()
        );
        if round + 1 < args.kills {
            nodes[index] = Some(start(host, &c, names[index]).await);
        }
    }
    let figure = converge(&c, changes, stop, taken_over).await?;
    let since_kill = killed.elapsed();
    for node in nodes.into_iter().flatten() {
        node.stop().await;
    }
    Ok((figure, since_kill))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let host = tests::host_binary(args.host.clone())?;
    let one = restarts(&host, &args).await?;
    let three = cluster(&host, &args).await?;
    let command: Vec<String> = std::env::args().collect();
    println!("command: {}", command.join(" "));
    let show = |what: &str, after: &str, f: &Figure| {
        println!(
            "{what}: every mapped folder current {:.1} s after {after} ({} messages in {} \
             mailboxes); moved messages ever shown as removed: {}",
            f.converged.as_secs_f64(),
            f.messages,
            args.mailboxes,
            f.removals
        )
    };
    show(
        &format!("one node, {} kills and starts", args.restarts),
        "the last start",
        &one,
    );
    let (three, since_kill) = three;
    show(
        &format!(
            "three nodes, {} kills with takeovers, PostgreSQL restarted once",
            args.kills
        ),
        &format!(
            "the last takeover ({:.1} s after the last kill)",
            since_kill.as_secs_f64()
        ),
        &three,
    );
    Ok(())
}
