//! `make bench` (many mailboxes): one `mailsync-host serve` process watching `--mailboxes`
//! linked mailboxes (1,000 by default) on the local Dovecot through IMAP IDLE. Reports the
//! service's peak and idle memory (its own process: `VmHWM`, `VmRSS`), its CPU while every
//! mailbox idles, and a burst of one new message in every mailbox at once: messages per second
//! and the time until the last one reached the CRM.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use host_harness::Database;
use tests::dovecot::STANDARD_FOLDERS;
use tests::many_mailboxes::{append_everywhere, link_all, write_settings};
use tests::oauth_world::OAuthWorld;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(clap::Parser)]
struct Args {
    /// Mailboxes watched by the one service.
    #[arg(long, default_value_t = 1000)]
    mailboxes: usize,
    /// Seconds of idling over which the CPU is measured.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// The `mailsync-host` binary [default: the release build beside this one].
    #[arg(long)]
    host: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tests::run_main(run)
}

/// Dovecot idles with one inotify instance per IMAP process; the kernel's default of 128 per
/// user would make it poll instead. Raised for the run when this process may.
fn allow_inotify_instances(wanted: usize) -> String {
    let path = "/proc/sys/fs/inotify/max_user_instances";
    let now: usize = std::fs::read_to_string(path)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if now >= wanted {
        return format!("fs.inotify.max_user_instances = {now}");
    }
    match std::fs::write(path, wanted.to_string()) {
        Ok(()) => format!("fs.inotify.max_user_instances raised from {now} to {wanted}"),
        Err(e) => format!(
            "fs.inotify.max_user_instances = {now} (cannot raise: {e}); Dovecot polls past it"
        ),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let host_binary = tests::host_binary(args.host)?;
    let inotify = allow_inotify_instances(args.mailboxes * 2 + 64);
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("watch.db");
    let db = Database::open(&db_path)?;
    let w = OAuthWorld::with_dovecot_on(STANDARD_FOLDERS, db, |_| {}).await;
    let setup = Instant::now();
    link_all(&w, args.mailboxes).await?;
    eprintln!(
        "{} mailboxes linked and mapped in {:.0} s",
        args.mailboxes,
        setup.elapsed().as_secs_f64()
    );
    let token = format!("bench-token-{:016x}", rand::random::<u64>());
    let settings_path = dir.path().join("settings.toml");
    write_settings(&w.settings, &token, toml::Table::new(), &settings_path)?;

    let mut service = tokio::process::Command::new(&host_binary)
        .arg("--settings")
        .arg(&settings_path)
        .arg("--db")
        .arg(&db_path)
        .args(["--log", "error", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", host_binary.display()))?;
    let pid = service.id().context("the service's pid")?;
    let mut lines = BufReader::new(service.stdout.take().context("its output")?).lines();
    let base = loop {
        let line = lines.next_line().await?.context("the service exited")?;
        if let Some(address) = line.strip_prefix("listening on ") {
            break address.to_string();
        }
    };
    let client = tests::http_client();
    let metric = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let metrics = || async {
        let response = client.get(format!("{base}/metrics")).send().await;
        response.ok()?.text().await.ok()
    };
    let started = Instant::now();
    let all = args.mailboxes as f64;
    loop {
        let text = metrics().await.unwrap_or_default();
        if metric(&text, "mailsync_push_waiting") >= all {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("not every mailbox idles after 10 minutes: {text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_idle = started.elapsed();
    // Let the first scheduled passes (spread over a minute) end before measuring the idle.
    tokio::time::sleep(Duration::from_secs(75)).await;
    let cpu_before = cpu_ticks(pid)?;
    let idle_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let idle_cpu = (cpu_ticks(pid)? - cpu_before) as f64
        / ticks_per_second()
        / idle_started.elapsed().as_secs_f64();
    let idle_rss = status_kib(pid, "VmRSS:")?;

    // The burst: one new message in every mailbox, as fast as Dovecot takes them.
    let mut events = tests::follow_events(&client, &base, &token).await?;
    let burst = Instant::now();
    append_everywhere(
        w.dovecot.as_ref().context("dovecot")?.imap_port,
        args.mailboxes,
        "burst",
    )
    .await;
    let appended = burst.elapsed();
    let mut arrived = 0usize;
    let deadline = Instant::now() + Duration::from_secs(600);
    while arrived < args.mailboxes {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(event)) if event["kind"] == "message.created" => arrived += 1,
            Ok(Some(_)) => {}
            _ => bail!("{arrived} of {} messages arrived", args.mailboxes),
        }
    }
    let last = burst.elapsed();
    let peak_rss = status_kib(pid, "VmHWM:")?;
    let text = metrics().await.unwrap_or_default();
    let connections = metric(&text, "mailsync_imap_connections");
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let stopping = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(120), service.wait()).await??;
    let stopped = stopping.elapsed();

    println!(
        "command: cargo run --release -p tests --bin bench-watch -- --mailboxes {}",
        args.mailboxes
    );
    println!("{inotify}");
    println!(
        "mailboxes watched: {} (IMAP connections open: {connections})",
        args.mailboxes
    );
    println!(
        "every mailbox idling after start: {:.1} s",
        all_idle.as_secs_f64()
    );
    println!(
        "service memory: peak {:.0} MiB (VmHWM), idle {:.0} MiB (VmRSS), {:.2} MiB per mailbox idle",
        peak_rss as f64 / 1024.0,
        idle_rss as f64 / 1024.0,
        idle_rss as f64 / 1024.0 / all
    );
    println!(
        "CPU while idle: {:.2}% of one core over {} s",
        idle_cpu * 100.0,
        args.idle_secs
    );
    println!(
        "burst: {} messages appended in {:.2} s; the last reached the CRM {:.2} s after the first APPEND: {:.0} messages/s",
        args.mailboxes,
        appended.as_secs_f64(),
        last.as_secs_f64(),
        all / last.as_secs_f64()
    );
    println!(
        "shutdown (SIGTERM, every IDLE logged out): {:.1} s, {status}",
        stopped.as_secs_f64()
    );
    Ok(())
}

fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn ticks_per_second() -> f64 {
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .context("the field")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("its value")?
        .parse()?)
}
