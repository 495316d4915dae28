//! `make bench` (nodes): the 200 × 500 workload synced by `mailsync-host serve` nodes, one on
//! SQLite and 1, 2 and 3 on one PostgreSQL, in one run. Each setup links the mailboxes afresh
//! on an empty database, starts its nodes and waits until they share every mailbox, then maps
//! each mailbox through its holder's API (which starts its first sync) and times until every
//! message is in the CRM; the ratio against SQLite on one node is the coordination's cost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use host_harness::at_rest::{KeyRing, SecretKey};
use host_harness::db::DatabaseUrl;
use host_harness::{Database, PluginHost};
use tests::cluster_world::{TOKEN, until};
use tests::dovecot::STANDARD_FOLDERS;
use tests::mail_fixtures::business_update;
use tests::many_mailboxes::{add_accounts, link_each, mailbox_id, user, write_settings};
use tests::oauth_world::OAuthWorld;
use tests::postgres::PostgresCluster;
use tests::serve_node::ServeNode;

#[derive(clap::Parser)]
struct Args {
    /// Mailboxes synced.
    #[arg(long, default_value_t = 200)]
    mailboxes: usize,
    /// Messages in each.
    #[arg(long, default_value_t = 500)]
    per_mailbox: usize,
    /// Syncs each node runs at once (`[service.schedule] max_concurrent_syncs`; the default).
    #[arg(long, default_value_t = 8)]
    syncs_per_node: usize,
    /// The setups measured: `sqlite` and `postgres-N` (N nodes), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sqlite,postgres-1,postgres-2,postgres-3"
    )]
    setups: Vec<String>,
    /// Runs of every setup, interleaved; the table gives each setup's median.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The `mailsync-host` binary [default: the one beside this one].
    #[arg(long)]
    host: Option<PathBuf>,
    /// Where the SQLite databases go [default: a temporary directory]; PostgreSQL runs with
    /// `fsync=off`, so `make bench` puts SQLite in memory too (`/dev/shm`).
    #[arg(long)]
    scratch: Option<PathBuf>,
}

/// Which store and how many nodes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Setup {
    Sqlite,
    Postgres(usize),
}

impl Setup {
    fn parse(name: &str) -> anyhow::Result<Setup> {
        match name.strip_prefix("postgres-") {
            None if name == "sqlite" => Ok(Setup::Sqlite),
            Some(n) => Ok(Setup::Postgres(n.parse().context("postgres-N: N nodes")?)),
            None => anyhow::bail!("unknown setup {name}: sqlite or postgres-N"),
        }
    }

    fn nodes(self) -> usize {
        match self {
            Setup::Sqlite => 1,
            Setup::Postgres(n) => n,
        }
    }

    fn label(self) -> String {
        match self {
            Setup::Sqlite => "SQLite, 1 node".into(),
            Setup::Postgres(1) => "PostgreSQL, 1 node".into(),
            Setup::Postgres(n) => format!("PostgreSQL, {n} nodes"),
        }
    }
}

/// One timed run.
struct Run {
    wall: Duration,
    /// CPU time of the nodes, and of PostgreSQL's processes.
    nodes_cpu: Duration,
    postgres_cpu: Duration,
}

fn main() -> anyhow::Result<()> {
    tests::run_main(run)
}

struct Bench {
    args: Args,
    host: PathBuf,
    world: OAuthWorld,
    postgres: PostgresCluster,
    key: SecretKey,
    scratch: tempfile::TempDir,
    client: reqwest::Client,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let host = tests::host_binary(args.host.clone())?;
    let scratch = match &args.scratch {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let key = SecretKey::generate();
    let world_db = connect(
        &format!("sqlite:{}", scratch.path().join("world.db").display()),
        &key,
    )?;
    let world = OAuthWorld::with_dovecot_on(STANDARD_FOLDERS, world_db, |_| {}).await;
    add_accounts(&world, args.mailboxes);
    let dovecot = world.dovecot.as_ref().context("dovecot")?;
    for i in 0..args.mailboxes {
        let first = i * args.per_mailbox;
        let messages = (first..first + args.per_mailbox).map(|j| business_update(j, &user(i)));
        dovecot.fill_inbox(&user(i), messages);
    }
    let bench = Bench {
        host,
        world,
        postgres: PostgresCluster::start(),
        key,
        scratch,
        client: tests::http_client(),
        args,
    };
    let total = bench.args.mailboxes * bench.args.per_mailbox;
    println!(
        "machine: {} cores; {} mailboxes of {} messages ({total} in all)",
        std::thread::available_parallelism()?.get(),
        bench.args.mailboxes,
        bench.args.per_mailbox
    );
    // Dovecot indexes each folder when it is first opened: one untimed run does that for all.
    let warm = bench.once(Setup::Sqlite, 0).await?;
    println!(
        "warm-up (Dovecot indexing): {:.2} s",
        warm.wall.as_secs_f64()
    );

    let setups: Vec<Setup> = bench
        .args
        .setups
        .iter()
        .map(|s| Setup::parse(s))
        .collect::<anyhow::Result<_>>()?;
    let mut runs: BTreeMap<Setup, Vec<Run>> = BTreeMap::new();
    for round in 0..bench.args.rounds {
        for (k, setup) in setups.iter().enumerate() {
            let run = bench.once(*setup, 1 + round * setups.len() + k).await?;
            println!(
                "round {round}: {}: {:.2} s",
                setup.label(),
                run.wall.as_secs_f64()
            );
            runs.entry(*setup).or_default().push(run);
        }
    }
    let median = |runs: &[Run], f: fn(&Run) -> Duration| {
        let mut v: Vec<Duration> = runs.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    };
    let baseline = runs
        .get(&Setup::Sqlite)
        .map(|runs| median(runs, |r| r.wall).as_secs_f64());
    println!(
        "\n## {total} messages ({} × {}), {} syncs at once per node, median of {} runs each\n",
        bench.args.mailboxes, bench.args.per_mailbox, bench.args.syncs_per_node, bench.args.rounds
    );
    println!(
        "| setup | wall time | messages/s | ratio to SQLite, 1 node | CPU of the nodes | CPU of PostgreSQL |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for setup in &setups {
        let runs = &runs[setup];
        let wall = median(runs, |r| r.wall).as_secs_f64();
        println!(
            "| {} | {wall:.2} s | {:.0} | {} | {:.1} s | {:.1} s |",
            setup.label(),
            total as f64 / wall,
            baseline.map_or("–".into(), |b| format!("{:.2}×", wall / b)),
            median(runs, |r| r.nodes_cpu).as_secs_f64(),
            median(runs, |r| r.postgres_cpu).as_secs_f64(),
        );
    }
    Ok(())
}

fn connect(url: &str, key: &SecretKey) -> anyhow::Result<Database> {
    let url = DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?;
    Ok(Database::connect(&url, KeyRing::new(key))?)
}

impl Bench {
    /// One run of `setup` on a fresh database; `index` names its files.
    async fn once(&self, setup: Setup, index: usize) -> anyhow::Result<Run> {
        let (mailboxes, per_mailbox) = (self.args.mailboxes, self.args.per_mailbox);
        let dir = self.scratch.path().join(format!("run-{index}"));
        std::fs::create_dir_all(&dir)?;
        let url = match setup {
            Setup::Sqlite => format!("sqlite:{}", dir.join("crm.db").display()),
            Setup::Postgres(_) => self.postgres.fresh_database(),
        };
        let db = connect(&url, &self.key)?;
        let cache = tests::component_cache();
        let linker = PluginHost::load(
            host_harness::BUNDLED_PLUGIN.as_ref(),
            &self.world.settings,
            db.clone(),
            Some(&cache),
        )?;
        // Linked but not mapped: the nodes have nothing to sync until the clock starts.
        link_each(&self.world, &linker, mailboxes, false).await?;
        drop(linker);
        let settings = dir.join("settings.toml");
        let service = toml::from_str(&format!(
            "[schedule]\ninterval_secs = 3600\nmax_concurrent_syncs = {}\n",
            self.args.syncs_per_node
        ))?;
        write_settings(&self.world.settings, TOKEN, service, &settings)?;

        let mut nodes = Vec::new();
        for n in 0..setup.nodes() {
            let name = format!("node{n}");
            nodes.push(ServeNode::start(&self.host, &url, &self.key, &settings, &name).await);
        }
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        until(Duration::from_secs(120), || shared_out(&db, &names)).await?;
        // Let the first passes over the unmapped mailboxes end.
        tokio::time::sleep(Duration::from_secs(3)).await;

        let holders = db.leases().lease_holders()?;
        let pids: Vec<u32> = nodes.iter().map(ServeNode::pid).collect();
        let (nodes_before, postgres_before) = (cpu_of(&pids), postgres_cpu());
        let started = Instant::now();
        self.map_through_holders(&nodes, &holders).await?;
        let total = mailboxes * per_mailbox;
        loop {
            if self.created(&nodes).await? >= total {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(900),
                "{}: not every message within 15 minutes",
                setup.label()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let wall = started.elapsed();
        let run = Run {
            wall,
            nodes_cpu: cpu_of(&pids).saturating_sub(nodes_before),
            postgres_cpu: postgres_cpu().saturating_sub(postgres_before),
        };
        for node in nodes {
            let status = node.stop().await;
            anyhow::ensure!(status.success(), "a node stopped with {status}");
        }
        check_inboxes(&db, mailboxes, per_mailbox)?;
        std::fs::remove_dir_all(&dir)?;
        Ok(run)
    }

    /// Maps every mailbox's inbox through the API of the node holding it, 16 requests at once.
    async fn map_through_holders(
        &self,
        nodes: &[ServeNode],
        holders: &[(String, Option<String>)],
    ) -> anyhow::Result<()> {
        let base_of: BTreeMap<&str, &str> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.base.as_str()))
            .collect();
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
        let mut requests = tokio::task::JoinSet::new();
        for (mailbox, holder) in holders {
            let holder = holder.as_deref().context("a mailbox nobody holds")?;
            let url = format!("{}/api/v1/mailboxes/{mailbox}/mapping", base_of[holder]);
            let (client, permit) = (self.client.clone(), gate.clone().acquire_owned().await?);
            requests.spawn(async move {
                let _permit = permit;
                let mapping = serde_json::json!({ "inbox": "INBOX", "archive": null, "deleted": null, "sent": null });
                let response = client
                    .put(&url)
                    .bearer_auth(TOKEN)
                    .json(&mapping)
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "{url}: {}", response.status());
                anyhow::Ok(())
            });
        }
        while let Some(done) = requests.join_next().await {
            done??;
        }
        Ok(())
    }

    /// Messages the nodes have created in the CRM, from their `/metrics`.
    async fn created(&self, nodes: &[ServeNode]) -> anyhow::Result<usize> {
        let mut created = 0;
        for node in nodes {
            let text = self
                .client
                .get(format!("{}/metrics", node.base))
                .send()
                .await?
                .text()
                .await?;
            let line = text
                .lines()
                .find(|l| l.starts_with("mailsync_messages_total{change=\"created\"}"));
            if let Some(value) = line.and_then(|l| l.split_whitespace().last()) {
                created += value.parse::<f64>()? as usize;
            }
        }
        Ok(created)
    }
}

/// Whether every mailbox is held and each node holds some, and no more than its share.
fn shared_out(db: &Database, nodes: &[String]) -> bool {
    let Ok(holders) = db.leases().lease_holders() else {
        return false;
    };
    let share = holders.len().div_ceil(nodes.len());
    holders.iter().all(|(_, h)| h.is_some())
        && nodes.iter().all(|node| {
            let held = holders
                .iter()
                .filter(|(_, h)| h.as_deref() == Some(node))
                .count();
            (1..=share).contains(&held)
        })
}

/// Every mailbox holds exactly its messages in the CRM, none twice.
fn check_inboxes(db: &Database, mailboxes: usize, per_mailbox: usize) -> anyhow::Result<()> {
    for i in 0..mailboxes {
        let messages = db.inbox().inbox_messages(&mailbox_id(i))?;
        let keys: std::collections::BTreeSet<_> = messages.iter().map(|m| &m.dedupe_key).collect();
        anyhow::ensure!(
            messages.len() == per_mailbox && keys.len() == per_mailbox,
            "{}: {} messages, {} distinct",
            mailbox_id(i),
            messages.len(),
            keys.len()
        );
    }
    Ok(())
}

/// User and system CPU time of a process, from `/proc/PID/stat` (in clock ticks of 10 ms).
fn process_cpu(stat: &Path) -> Option<(String, Duration)> {
    let text = std::fs::read_to_string(stat).ok()?;
    let (name, rest) = text.split_once(" (")?.1.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((name.to_string(), Duration::from_millis(ticks * 10)))
}

fn cpu_of(pids: &[u32]) -> Duration {
    pids.iter()
        .filter_map(|pid| process_cpu(&PathBuf::from(format!("/proc/{pid}/stat"))))
        .map(|(_, cpu)| cpu)
        .sum()
}

/// The CPU time of every `postgres` process alive now.
fn postgres_cpu() -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .flatten()
        .filter_map(|e| process_cpu(&e.path().join("stat")))
        .filter(|(name, _)| name == "postgres")
        .map(|(_, cpu)| cpu)
        .sum()
}
