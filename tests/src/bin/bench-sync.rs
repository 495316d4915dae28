//! `make bench` (sync): the first sync of 10,000 small and 10,000 realistic messages from a local
//! Dovecot over TLS, side by side with `mbsync` copying the same mailbox to a Maildir; a sync with
//! nothing new; 100 new messages into a large mailbox; the peak memory of an instance syncing a
//! 50 MiB message; and 200 mailboxes of 500 messages synced at once by this one host process.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use host_harness::Database;
use host_harness::bindings::sync::WatchOutcome;
use tests::dovecot::{SEED_PASSWORD, STANDARD_FOLDERS};
use tests::fake_provider::Consent;
use tests::mail_fixtures::{business_update, with_attachment};
use tests::many_mailboxes::inbox_only;
use tests::oauth_world::OAuthWorld;

const ANNA: &str = "anna@example.nl";
/// The owner of the realistic mailbox, and of the large one.
const REAL: &str = "real@example.nl";
const LARGE: &str = "large@example.nl";
const ROUNDS: usize = 3;

/// The sync benchmarks; `make bench` runs them with `--scratch /dev/shm`.
#[derive(clap::Parser)]
struct Args {
    /// Small messages in the mailbox of the first-sync comparison.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Realistic messages (`tests/bench/seed.py --seed 1`) in a second first-sync comparison.
    #[arg(long, default_value_t = 10_000)]
    realistic: usize,
    /// Realistic messages of a large mailbox, synced once against mbsync once; then 100 new
    /// messages at a time are synced into it [default: none; the 10,000 take them].
    #[arg(long, default_value_t = 0)]
    large: usize,
    /// The messages of the many-mailbox run: `small`, or `realistic` (seed.py, seed 4).
    #[arg(long, default_value = "small")]
    many_corpus: String,
    /// Mailboxes synced at once.
    #[arg(long, default_value_t = 200)]
    mailboxes: usize,
    /// Messages in each of them.
    #[arg(long, default_value_t = 500)]
    per_mailbox: usize,
    /// Worker instances the sync hands messages to (0: normalise in the sync's own instance)
    /// [default: the policy's, one per core].
    #[arg(long)]
    normalize_workers: Option<u32>,
    /// Where our SQLite inbox and mbsync's Maildir go (the same file system for both)
    /// [default: a temporary directory].
    #[arg(long)]
    scratch: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    use clap::Parser;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .init();
    let args = Args::parse();
    assert!(
        Path::new("/usr/bin/mbsync").exists(),
        "mbsync is not installed: run `make bench`, which installs it, or `apt-get install isync`"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

fn sample(i: usize) -> Vec<u8> {
    business_update(i, ANNA)
}

async fn link(w: &OAuthWorld, mailbox: &str, email: &str) -> anyhow::Result<()> {
    w.google.world().consents.push_back(Consent::Allow {
        email: email.into(),
    });
    w.link(mailbox, "google")
        .await
        .map_err(|e| anyhow::anyhow!("link {mailbox}: {:?}", e.kind))?;
    w.mailbox(mailbox)
        .set_mapping(&inbox_only())
        .await?
        .map_err(|e| anyhow::anyhow!("map {mailbox}: {:?}", e.kind))?;
    Ok(())
}

/// One sync; its wall time and how many records it created.
async fn timed_sync(w: &OAuthWorld, mailbox: &str) -> anyhow::Result<(Duration, u32)> {
    let start = Instant::now();
    let report = w
        .mailbox(mailbox)
        .sync()
        .await?
        .map_err(|e| anyhow::anyhow!("sync {mailbox}: {:?}", e.kind))?;
    let took = start.elapsed();
    anyhow::ensure!(report.complete, "sync {mailbox} did not finish: {report:?}");
    Ok((took, report.folders.iter().map(|f| f.created).sum()))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbsync(dir: &Path, user: &str, imaps_port: u16, ca: &Path) -> anyhow::Result<Duration> {
    let store = dir.join("maildir");
    std::fs::create_dir_all(&store)?;
    let config = dir.join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "FSync no\n\nIMAPAccount bench\nHost localhost\nPort {imaps_port}\nUser {user}\nPass {SEED_PASSWORD}\n\
             SSLType IMAPS\nCertificateFile {ca}\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount bench\n\n\
             MaildirStore local\nPath {store}/\nInbox {store}/INBOX\n\n\
             Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSync Pull\n\
             SyncState *\n",
            ca = ca.display(),
            store = store.display()
        ),
    )?;
    let start = Instant::now();
    let out = Command::new("mbsync")
        .arg("-q")
        .arg("-c")
        .arg(&config)
        .arg("-a")
        .output()?;
    let took = start.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "mbsync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied = std::fs::read_dir(store.join("INBOX").join("cur"))?.count()
        + std::fs::read_dir(store.join("INBOX").join("new"))?.count();
    anyhow::ensure!(copied > 0, "mbsync copied nothing");
    Ok(took)
}

/// CPU time this process has used so far (all threads): (user, system).
fn cpu_times() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name; 100 ticks a second.
    (
        Duration::from_millis(ticks(11) * 10),
        Duration::from_millis(ticks(12) * 10),
    )
}

/// CPU time the whole machine has spent busy so far, every core summed (user, nice, system,
/// irq and softirq in `/proc/stat`): what Dovecot and we use together.
fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .next()
        .map(|cpu| {
            let fields: Vec<u64> = cpu
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// This process's resident set: (current, peak) in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let scratch = match &args.scratch {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let db = Database::open(&scratch.path().join("crm.db"))?;
    let workers = args.normalize_workers;
    let w = OAuthWorld::with_dovecot_on(STANDARD_FOLDERS, db, |s| {
        s.policy.normalize_workers = workers.or(s.policy.normalize_workers)
    })
    .await;
    println!(
        "machine: {} cores; normalisation workers: {}",
        std::thread::available_parallelism()?.get(),
        w.host.shared().platform().policy.normalize_workers()
    );
    let small = (0..args.messages).map(sample).collect();
    let mailbox = fill_and_compare(&w, scratch.path(), (ANNA, "small"), small).await?;
    nothing_new(&w, &mailbox).await?;

    let realistic = tests::realistic::messages(args.realistic, 1)?;
    w.google.add_account("g-real", REAL);
    let mut grown = fill_and_compare(&w, scratch.path(), (REAL, "realistic"), realistic).await?;
    let (mut grown_user, mut grown_size) = (REAL, args.realistic);
    if args.large > 0 {
        grown = large_first_sync(&w, scratch.path(), args.large).await?;
        (grown_user, grown_size) = (LARGE, args.large);
    }
    hundred_new(&w, (&grown, grown_user), grown_size).await?;
    peak_memory(&w, &mailbox).await?;
    many_mailboxes(w, args.mailboxes, args.per_mailbox, &args.many_corpus).await
}

/// Fills `user`'s INBOX with `messages` and compares its first sync against mbsync's, in
/// `ROUNDS` rounds; returns our last mailbox's id.
async fn fill_and_compare(
    w: &OAuthWorld,
    scratch: &Path,
    (user, label): (&str, &str),
    messages: Vec<Vec<u8>>,
) -> anyhow::Result<String> {
    let (count, bytes) = (messages.len(), messages.iter().map(Vec::len).sum());
    w.dovecot
        .as_ref()
        .expect("dovecot")
        .fill_inbox(user, messages);
    first_sync_against_mbsync(w, scratch, user, label, (count, bytes), ROUNDS).await
}

/// The first sync of `user`'s INBOX, filled beforehand with `count` messages of `bytes` in all,
/// against mbsync, in `rounds` rounds; returns our last mailbox's id.
async fn first_sync_against_mbsync(
    w: &OAuthWorld,
    scratch: &Path,
    user: &str,
    label: &str,
    (messages, total_bytes): (usize, usize),
    rounds: usize,
) -> anyhow::Result<String> {
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    // Both read a warm Dovecot: its index is built before either is timed.
    let mut warm = dovecot.seeder(user).await;
    warm.run("EXAMINE INBOX").await;
    warm.run("FETCH 1:* (UID RFC822.SIZE INTERNALDATE)").await;
    // mbsync trusts a server whose certificate is in its CertificateFile.
    let trusted = scratch.join("trusted.pem");
    std::fs::write(
        &trusted,
        [
            std::fs::read(&w.pki.ca_pem)?,
            w.pki.server_cert_pem.clone().into_bytes(),
        ]
        .concat(),
    )?;
    let (mut ours, mut theirs, mut ours_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut busy = Vec::new();
    for round in 0..rounds {
        let mailbox = format!("first-{label}-{round}");
        link(w, &mailbox, user).await?;
        let (user_cpu, system_cpu) = cpu_times();
        let machine_before = machine_busy();
        let (took, created) = timed_sync(w, &mailbox).await?;
        let ours_busy = machine_busy() - machine_before;
        let (user_after, system_after) = cpu_times();
        ours_cpu.push((user_after - user_cpu, system_after - system_cpu));
        anyhow::ensure!(
            created as usize == messages,
            "created {created} of {messages}"
        );
        ours.push(took);
        let dir = scratch.join(format!("mbsync-{label}-{round}"));
        let machine_before = machine_busy();
        theirs.push(mbsync(&dir, user, dovecot.imaps_port, &trusted)?);
        busy.push((ours_busy, machine_busy() - machine_before));
        // Neither copy is needed again; /dev/shm is memory.
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (ours_first, theirs_first) = (median(ours.clone()), median(theirs.clone()));
    println!(
        "\n## First sync of {messages} {label} messages ({:.1} MiB), local Dovecot over TLS, median of {rounds}\n",
        total_bytes as f64 / 1048576.0
    );
    println!("| | wall time | messages/s | ratio to mbsync |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, d: Duration| {
        println!(
            "| {name} | {:.2} s | {:.0} | {:.2} |",
            d.as_secs_f64(),
            messages as f64 / d.as_secs_f64(),
            d.as_secs_f64() / theirs_first.as_secs_f64()
        )
    };
    row(
        "mail-sync plugin (fetch, normalise, SQLite inbox)",
        ours_first,
    );
    row(
        "mbsync (isync 1.4, copy to Maildir, FSync no)",
        theirs_first,
    );
    println!("\nrounds: ours {ours:.2?}; mbsync {theirs:.2?}");
    println!("CPU time (user, system) of this host process during our rounds: {ours_cpu:.2?}");
    println!("CPU time of the whole machine (ours with Dovecot, mbsync with Dovecot): {busy:.2?}");
    Ok(format!("first-{label}-{}", rounds - 1))
}

/// The first sync of `count` realistic messages (seed 1), once against mbsync once: how the
/// cost grows past the 10,000. The messages go from seed.py's files to Dovecot's one at a time.
async fn large_first_sync(w: &OAuthWorld, scratch: &Path, count: usize) -> anyhow::Result<String> {
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    let dump = tempfile::tempdir()?;
    tests::realistic::dump(dump.path(), count, 1)?;
    let mut files: Vec<_> = std::fs::read_dir(dump.path())?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len() as usize))
        .sum::<Result<usize, _>>()?;
    w.google.add_account("g-large", LARGE);
    dovecot.fill_inbox(
        LARGE,
        files
            .iter()
            .map(|f| std::fs::read(f).expect("a dumped message")),
    );
    drop(dump);
    first_sync_against_mbsync(w, scratch, LARGE, "large", (count, bytes), 1).await
}

/// Batches of 100 new realistic messages (seed 2) synced into `mailbox`, `user`'s INBOX, which
/// holds `holding`.
async fn hundred_new(
    w: &OAuthWorld,
    (mailbox, user): (&str, &str),
    holding: usize,
) -> anyhow::Result<()> {
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    let batches = 5;
    let new = tests::realistic::messages(100 * batches, 2)?;
    let mut times = Vec::new();
    for batch in new.chunks(100) {
        let bytes: usize = batch.iter().map(Vec::len).sum();
        // Delivered as a server takes new mail: appended, so Dovecot's index grows by them
        // (files dropped into the Maildir would make it rescan all of them first).
        let mut seeder = dovecot.seeder(user).await;
        for message in batch {
            seeder.append("INBOX", message).await;
        }
        drop(seeder);
        let (took, created) = timed_sync(w, mailbox).await?;
        anyhow::ensure!(created == 100, "created {created} of 100 new");
        // What a sync costs at this size without new mail, ours and the server's alone.
        let (idle, created) = timed_sync(w, mailbox).await?;
        anyhow::ensure!(created == 0, "created {created} with nothing new");
        let server = Instant::now();
        let mut examine = dovecot.seeder(user).await;
        examine.run("EXAMINE INBOX").await;
        drop(examine);
        times.push((took, bytes, idle, server.elapsed()));
    }
    println!(
        "\n## 100 new realistic messages synced into a mailbox of {holding} ({batches} batches)\n"
    );
    println!(
        "| batch | MiB | 100 new | then nothing new | the server alone: plain login, EXAMINE |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    for (i, (took, bytes, idle, server)) in times.iter().enumerate() {
        println!(
            "| {} | {:.1} | {:.1} ms | {:.1} ms | {:.1} ms |",
            i + 1,
            *bytes as f64 / 1048576.0,
            ms(took),
            ms(idle),
            ms(server)
        );
    }
    let median_of = |pick: fn(&(Duration, usize, Duration, Duration)) -> Duration| {
        ms(&median(times.iter().map(pick).collect()))
    };
    println!(
        "\nmedian: 100 new {:.1} ms, nothing new {:.1} ms, the server alone {:.1} ms",
        median_of(|t| t.0),
        median_of(|t| t.2),
        median_of(|t| t.3)
    );
    hundred_new_pushed(w, (mailbox, user), &new[..]).await
}

/// The same batches again (as new copies), each synced by push: the mailbox's connection parked
/// in IDLE is resumed, so there is no new login, as the service takes new mail. Beside it, the
/// server alone: a bare client (no TLS, none of our code) idling in the same folder ends its
/// IDLE, sends NOOP, finds the new UIDs and fetches them. The two go in turns, first one then the other.
async fn hundred_new_pushed(
    w: &OAuthWorld,
    (mailbox, user): (&str, &str),
    new: &[Vec<u8>],
) -> anyhow::Result<()> {
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    let watch = |stop: bool| async move {
        w.mailbox(mailbox)
            .watch(stop)
            .await?
            .map_err(|e| anyhow::anyhow!("watch {mailbox}: {:?}", e.kind))
    };
    let parked = watch(false).await?;
    anyhow::ensure!(
        matches!(parked.outcome, WatchOutcome::Parked),
        "the watch did not park: {:?}",
        parked.outcome
    );
    let mut bare = dovecot.seeder(user).await;
    bare.run("EXAMINE INBOX").await;
    let mut bare_last = last_uid(&mut bare).await;
    let (mut times, mut server) = (Vec::new(), Vec::new());
    for (round, batch) in new.chunks(100).enumerate() {
        let idling = bare.start_idle().await;
        let mut seeder = dovecot.seeder(user).await;
        for message in batch {
            // One more header: a new size, so a new dedupe key (Message-ID and size).
            let copy = [format!("X-Pushed: {round}\r\n").as_bytes(), message].concat();
            seeder.append("INBOX", &copy).await;
        }
        drop(seeder);
        let ours = async {
            let start = Instant::now();
            let report = watch(false).await?;
            let created = report.inbox.as_ref().map_or(0, |r| r.created);
            anyhow::ensure!(created == 100, "push created {created} of 100 new");
            Ok(start.elapsed())
        };
        let theirs = async {
            let start = Instant::now();
            bare.end_idle(&idling).await;
            // As the plugin does: NOOP lets the server take in what arrived.
            bare.run("NOOP").await;
            let found = bare
                .answers(&format!("UID SEARCH UID {}:*", bare_last + 1))
                .await;
            let uids = search_uids(&found);
            let (first, last) = (uids.first().copied(), uids.last().copied());
            let mut fetched = 0;
            if let (Some(first), Some(last)) = (first, last) {
                fetched = bare.fetch_bodies(&format!("{first}:{last}")).await;
                bare_last = last;
            }
            (start.elapsed(), fetched)
        };
        let (took, (alone, fetched)) = if round % 2 == 0 {
            let took = ours.await?;
            (took, theirs.await)
        } else {
            let alone = theirs.await;
            (ours.await?, alone)
        };
        anyhow::ensure!(fetched == 100, "the bare client found {fetched} of 100 new");
        times.push(took);
        server.push(alone);
    }
    watch(true).await?;
    let ms = |v: &[Duration]| {
        let each: Vec<String> = v
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
            .collect();
        each.join(", ")
    };
    println!(
        "\n100 new, synced through the parked IDLE connection: {} ms (median {:.1} ms)",
        ms(&times),
        median(times.clone()).as_secs_f64() * 1000.0
    );
    println!(
        "the server alone, a bare client idling in the folder (DONE, NOOP, UID SEARCH, \
         UID FETCH BODY.PEEK[]): {} ms (median {:.1} ms)",
        ms(&server),
        median(server.clone()).as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The highest UID in the folder `session` has open.
async fn last_uid(session: &mut tests::dovecot::Seeder) -> u32 {
    let found = session.answers("UID SEARCH ALL").await;
    search_uids(&found).last().copied().unwrap_or(0)
}

/// The UIDs of `* SEARCH` answers, in order.
fn search_uids(answers: &[String]) -> Vec<u32> {
    answers
        .iter()
        .filter_map(|a| a.strip_prefix("* SEARCH"))
        .flat_map(|rest| rest.split_whitespace().filter_map(|u| u.parse().ok()))
        .collect()
}

/// Twenty syncs of `mailbox` with nothing new.
async fn nothing_new(w: &OAuthWorld, mailbox: &str) -> anyhow::Result<()> {
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(timed_sync(w, mailbox).await?.0);
    }
    idle.sort();
    println!("\n## A sync with nothing new on that mailbox (20 runs)\n");
    println!(
        "median {:.1} ms, p90 {:.1} ms, min {:.1} ms (instance, TLS connect, XOAUTH2 login, EXAMINE, LOGOUT)",
        idle[10].as_secs_f64() * 1000.0,
        idle[18].as_secs_f64() * 1000.0,
        idle[0].as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The largest linear memory of an instance syncing nothing new (`mailbox`), and one syncing a
/// message just under the default size limit of 50 MiB.
async fn peak_memory(w: &OAuthWorld, mailbox: &str) -> anyhow::Result<()> {
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    let big = "big@example.nl";
    w.google.add_account("g-big", big);
    let message = with_attachment("big", big, 48 * 1024 * 1024);
    let message_mib = message.len() as f64 / 1048576.0;
    dovecot.fill_inbox(big, [message]);
    link(w, "big", big).await?;
    let high_water = &w.host.shared().memory_high_water;
    high_water.store(0, std::sync::atomic::Ordering::SeqCst);
    timed_sync(w, mailbox).await?;
    let idle_peak = high_water.swap(0, std::sync::atomic::Ordering::SeqCst);
    let (took, created) = timed_sync(w, "big").await?;
    anyhow::ensure!(created == 1, "the large message was not delivered");
    let big_peak = high_water.load(std::sync::atomic::Ordering::SeqCst);
    println!("\n## Peak linear memory of one instance\n");
    println!("| sync | peak | peak ÷ message | cap |");
    println!("|---|---:|---:|---:|");
    println!(
        "| nothing new | {:.1} MiB | | {} MiB |",
        idle_peak as f64 / 1048576.0,
        w.host.shared().platform().policy.memory_limit_bytes / 1048576
    );
    println!(
        "| one {message_mib:.1} MiB message ({:.2} s) | {:.1} MiB | {:.2} | {} MiB |",
        took.as_secs_f64(),
        big_peak as f64 / 1048576.0,
        big_peak as f64 / 1048576.0 / message_mib,
        w.host.shared().platform().policy.memory_limit_bytes / 1048576
    );
    Ok(())
}

/// `mailboxes` mailboxes of `per_mailbox` messages, synced at once by this process.
async fn many_mailboxes(
    w: OAuthWorld,
    mailboxes: usize,
    per_mailbox: usize,
    corpus: &str,
) -> anyhow::Result<()> {
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    let realistic = match corpus {
        "small" => None,
        "realistic" => Some(tests::realistic::messages(per_mailbox * mailboxes, 4)?),
        other => anyhow::bail!("--many-corpus is small or realistic, not {other}"),
    };
    let total_bytes: usize = realistic
        .as_ref()
        .map(|all| all.iter().map(Vec::len).sum())
        .unwrap_or_else(|| (0..mailboxes * per_mailbox).map(|i| sample(i).len()).sum());
    let mut names = Vec::new();
    for i in 0..mailboxes {
        let email = format!("user{i}@example.nl");
        w.google.add_account(&format!("g-user-{i}"), &email);
        let range = i * per_mailbox..(i + 1) * per_mailbox;
        match &realistic {
            Some(all) => dovecot.fill_inbox(&email, all[range].iter().cloned()),
            None => dovecot.fill_inbox(&email, range.map(sample)),
        }
        link(&w, &format!("many-{i}"), &email).await?;
        names.push(format!("many-{i}"));
    }
    drop(realistic);
    // Peak RSS from here on: writing 5 to clear_refs resets the high-water mark (Linux).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (rss_before, _) = rss_mib();
    let start = Instant::now();
    let mut tasks = Vec::new();
    let w = std::sync::Arc::new(w);
    for name in names {
        let w = w.clone();
        tasks.push(tokio::spawn(async move { timed_sync(&w, &name).await }));
    }
    let mut created = 0u64;
    for task in tasks {
        created += u64::from(task.await??.1);
    }
    let took = start.elapsed();
    let (_, rss_peak) = rss_mib();
    anyhow::ensure!(
        created as usize == mailboxes * per_mailbox,
        "created {created} of {}",
        mailboxes * per_mailbox
    );
    println!(
        "\n## {mailboxes} mailboxes of {per_mailbox} {corpus} messages ({:.0} MiB), synced at once by one host process\n",
        total_bytes as f64 / 1048576.0
    );
    println!("| messages | wall time | messages/s | RSS before | peak RSS |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {created} | {:.2} s | {:.0} | {rss_before:.0} MiB | {rss_peak:.0} MiB |",
        took.as_secs_f64(),
        created as f64 / took.as_secs_f64()
    );
    Ok(())
}
