//! `normalize FILE|DIR…`: each message through the plugin's `normalize` export, printed as JSON
//! lines or as a readable summary, with a progress bar over directories.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use host_harness::bindings::message::{
    DateSource, DigestAlgorithm, Direction, MailboxAddress, ParseWarning,
};
use host_harness::{MessageRecord, PluginHost};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args)]
pub struct Args {
    /// Message files, or directories whose files are messages.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The mailbox's own address, which decides each message's direction.
    #[arg(long, default_value = "me@example.invalid")]
    address: String,
    /// Print one JSON record per line instead of a summary.
    #[arg(long)]
    json: bool,
}

pub async fn run(host: &PluginHost, args: Args) -> anyhow::Result<()> {
    let (files, from_dirs) = collect_files(&args.inputs)?;
    let progress = if from_dirs {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} messages, {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mailbox = host.mailbox("cli");
    for file in &files {
        let bytes = std::fs::read(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        let record = mailbox
            .normalize(&bytes, modified_time(file), &args.address)
            .await?;
        progress.suspend(|| {
            if args.json {
                super::terminal::out_json(&serde_json::to_string(&record).unwrap_or_default());
            } else {
                say!("{}", summary(file, &record));
            }
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(())
}

/// The files named, and the files directly inside the directories named, in name order.
fn collect_files(inputs: &[PathBuf]) -> anyhow::Result<(Vec<PathBuf>, bool)> {
    let mut files = Vec::new();
    let mut from_dirs = false;
    for input in inputs {
        if input.is_dir() {
            from_dirs = true;
            let mut entries: Vec<PathBuf> = std::fs::read_dir(input)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            files.extend(entries);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            anyhow::bail!("{} is neither a file nor a directory", input.display());
        }
    }
    Ok((files, from_dirs))
}

/// The file's modification time stands in for the server's internal date.
fn modified_time(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    modified
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

fn summary(file: &Path, r: &MessageRecord) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = format!("── {name}\n");
    let mut line = |label: &str, value: String| {
        if !value.is_empty() {
            out.push_str(&format!("   {label:<12}{value}\n"));
        }
    };
    line(
        "subject",
        r.subject.clone().unwrap_or_else(|| "(none)".into()),
    );
    line("from", people(&r.from));
    line("to", people(&r.to));
    line("cc", people(&r.cc));
    let offset = r
        .date
        .offset_minutes
        .map(|m| format!(" ({:+03}:{:02})", m / 60, (m % 60).abs()))
        .unwrap_or_default();
    let source = match r.date.source {
        DateSource::Header => "",
        DateSource::InternalDate => " [internal date]",
        DateSource::None => " [no date]",
    };
    line("date", format!("{}{offset}{source}", r.date.utc));
    line(
        "direction",
        match r.direction {
            Direction::Inbound => "inbound".into(),
            Direction::Outbound => "outbound".into(),
        },
    );
    line("thread", r.thread_key.clone());
    line("text", r.snippet.clone());
    if r.html_body.is_some() {
        line("html", "yes".into());
    }
    for a in &r.attachments {
        line(
            "attachment",
            format!(
                "{} ({}, {} B{}{}, {} {}…)",
                a.filename.as_deref().unwrap_or("(unnamed)"),
                a.mime_type,
                a.size,
                if a.inline { ", inline" } else { "" },
                if a.decoded { "" } else { ", kept raw" },
                match a.digest_algorithm {
                    DigestAlgorithm::Sha256 => "sha256",
                    DigestAlgorithm::Blake3 => "blake3",
                },
                &a.digest[..12.min(a.digest.len())]
            ),
        );
    }
    let c = &r.classification;
    let flags: Vec<&str> = [
        (c.auto_reply, "auto-reply"),
        (c.mailing_list, "list"),
        (c.bulk, "bulk"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .collect();
    line("kind", flags.join(", "));
    for w in &r.warnings {
        line("warning", warning(w));
    }
    out
}

fn people(list: &[MailboxAddress]) -> String {
    list.iter()
        .map(|a| match &a.name {
            Some(name) => format!("{name} <{}>", a.address),
            None => a.address.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn warning(w: &ParseWarning) -> String {
    match w {
        ParseWarning::EmptyInput => "empty input".into(),
        ParseWarning::NoHeaders => "no header block".into(),
        ParseWarning::MissingMessageId => "no Message-ID: derived from a content hash".into(),
        ParseWarning::MissingDate => "no Date: internal date used".into(),
        ParseWarning::UnparseableDate(d) => format!("unreadable Date {d:?}: internal date used"),
        ParseWarning::MissingFrom => "no From".into(),
        ParseWarning::RawEightBitHeader(h) => format!("raw 8-bit bytes in header {h}"),
        ParseWarning::UnknownCharset(c) => format!("unknown charset {c:?}: read as UTF-8"),
        ParseWarning::UnterminatedMultipart(b) => {
            format!("multipart {b:?} never closed: truncated or malformed")
        }
        ParseWarning::UndecodablePart(i) => {
            format!("part {i} could not be decoded: kept raw as an attachment")
        }
        ParseWarning::MalformedAddress(h) => format!("unreadable address in {h}"),
        ParseWarning::TextBodyTruncated(n) => format!("text body of {n} bytes cut at the cap"),
        ParseWarning::HtmlBodyTruncated(n) => format!("HTML body of {n} bytes cut at the cap"),
        ParseWarning::HeadersOnly(why) => format!("kept as its headers only: {why}"),
    }
}
