//! `sync` and `messages`: one sync run with a progress bar per folder (messages and MiB/s), its
//! report, and the CRM's messages as a list, one record in full, or JSON.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use host_harness::PluginHost;
use host_harness::bindings::sync::{FolderReport, SyncReport};
use host_harness::inbox_store::StoredMessage;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::panel_view::{self, Lang};

#[derive(clap::Args)]
pub struct MessagesArgs {
    /// Print the messages (or the one shown) as JSON.
    #[arg(long)]
    json: bool,
    /// Show one message's full record, by its number in the list.
    #[arg(long, value_name = "ID")]
    show: Option<i64>,
}

/// The bars of one run, one per folder, made when the folder's first batch arrives.
struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, (ProgressBar, Instant)>,
}

pub async fn sync(host: &PluginHost, mailbox: &str, lang: Lang) -> anyhow::Result<()> {
    let bars = Arc::new(Mutex::new(Bars {
        multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        bars: HashMap::new(),
    }));
    let watched = bars.clone();
    host.shared().progress.set(Some(Arc::new(move |p| {
        let mut b = watched.lock().unwrap_or_else(|e| e.into_inner());
        let Bars { multi, bars } = &mut *b;
        let (bar, started) = bars.entry(p.remote_folder.clone()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(u64::from(p.total)));
            bar.set_style(
                ProgressStyle::with_template("{prefix:<24} {bar:30} {pos}/{len} msgs {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(
                super::terminal::safe(&format!("{} ({})", p.remote_folder, p.crm_folder))
                    .into_owned(),
            );
            (bar, Instant::now())
        });
        bar.set_length(u64::from(p.total));
        bar.set_position(u64::from(p.done));
        let seconds = started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{:.1} MiB, {:.1} MiB/s",
            p.bytes as f64 / 1048576.0,
            p.bytes as f64 / 1048576.0 / seconds
        ));
    })));
    let outcome = host.mailbox(mailbox).sync().await;
    host.shared().progress.set(None);
    for (bar, _) in bars.lock().unwrap_or_else(|e| e.into_inner()).bars.values() {
        bar.finish();
    }
    let report = panel_view::answer(outcome, lang)?;
    say!("{}", report_lines(&report, lang));
    if !report.complete {
        anyhow::bail!("the sync did not finish; the next one picks up where it stopped");
    }
    Ok(())
}

/// The report as the CLI prints it, also under `status`.
pub fn report_lines(r: &SyncReport, lang: Lang) -> String {
    let mut out = format!(
        "sync at {}: {} ms, {} IMAP commands{}\n",
        r.started_at,
        r.millis,
        r.imap_commands,
        if r.complete { "" } else { ", not finished" }
    );
    for f in &r.folders {
        out.push_str(&folder_line(f, lang));
    }
    out
}

/// The last sync as `status` shows it, from its stored JSON: a report, or the error that stopped
/// it before any folder.
pub fn last_sync_lines(stored: Option<&str>, lang: Lang) -> String {
    #[derive(serde::Deserialize)]
    struct Failed {
        error: host_harness::bindings::mailbox::MailboxError,
    }
    #[derive(serde::Deserialize)]
    struct Oversized {
        oversized: u64,
    }
    let Some(json) = stored else {
        return "last sync: never\n".into();
    };
    if let Ok(report) = serde_json::from_str::<SyncReport>(json) {
        return format!("last {}", report_lines(&report, lang));
    }
    if let Ok(o) = serde_json::from_str::<Oversized>(json) {
        return format!(
            "last sync: its report ({} bytes) was over the cap and not kept\n",
            o.oversized
        );
    }
    match serde_json::from_str::<Failed>(json) {
        Ok(failed) => format!(
            "last sync: failed: {}\n",
            panel_view::text(&failed.error.message, lang)
        ),
        Err(_) => "last sync: its record cannot be read\n".into(),
    }
}

fn folder_line(f: &FolderReport, lang: Lang) -> String {
    let mut line = format!(
        "  {:<10} {:<24} new {:>5}  updated {:>4}  removed {:>4}  skipped {:>4}  {:.1} MiB{}{}{}\n",
        host_harness::capabilities::inbox::folder_name(f.crm_folder),
        f.remote_folder,
        f.created,
        f.updated,
        f.removed,
        f.skipped,
        f.bytes as f64 / 1048576.0,
        if f.first_sync { ", first sync" } else { "" },
        if f.uid_validity_reset {
            ", UIDVALIDITY changed: rescanned"
        } else {
            ""
        },
        if f.truncated > 0 {
            format!(", {} kept truncated (over a size limit)", f.truncated)
        } else {
            String::new()
        }
    );
    if let Some(e) = &f.error {
        line.push_str(&format!(
            "             ! {}\n",
            panel_view::text(&e.message, lang)
        ));
    }
    line
}

pub async fn messages(host: &PluginHost, mailbox: &str, args: MessagesArgs) -> anyhow::Result<()> {
    let id = mailbox.to_string();
    let messages = host
        .shared()
        .db
        .run_blocking(move |db| db.inbox().inbox_messages(&id))
        .await
        .map_err(|e| anyhow::anyhow!("the inbox cannot be read: {e}"))?;
    if let Some(wanted) = args.show {
        let m = messages
            .iter()
            .find(|m| m.id == wanted)
            .ok_or_else(|| anyhow::anyhow!("no message {wanted} in mailbox `{mailbox}`"))?;
        let record: serde_json::Value = serde_json::from_str(&m.record_json)?;
        let mut shown = serde_json::to_value(m)?;
        shown["record"] = record["record"].clone();
        shown["gmail"] = record["gmail"].clone();
        super::terminal::out_json(&serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    if args.json {
        super::terminal::out_json(&serde_json::to_string_pretty(&messages)?);
        return Ok(());
    }
    for m in &messages {
        sayln!("{}", message_line(m));
    }
    sayln!("{} messages", messages.len());
    Ok(())
}

fn message_line(m: &StoredMessage) -> String {
    let flags: String = [(m.seen, 'S'), (m.answered, 'A'), (m.flagged, 'F')]
        .iter()
        .map(|(set, c)| if *set { *c } else { '-' })
        .collect();
    format!(
        "{:>5} {} {:<8} {} {:<8} {}{}{}",
        m.id,
        &m.date_utc[..m.date_utc.len().min(16)],
        m.folder,
        flags,
        m.direction,
        m.subject.as_deref().unwrap_or("(no subject)"),
        if m.truncated { " [truncated]" } else { "" },
        if m.removed { " [removed]" } else { "" },
    )
}
