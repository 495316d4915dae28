//! `send`: a message from the linked mailbox, through its outbox: queued under an idempotency
//! key (by default the message's own fingerprint, so running the same command again sends
//! nothing new), worked at once, and its entry, Message-ID and state printed.

use std::path::PathBuf;

use anyhow::Context;
use host_harness::PluginHost;
use host_harness::outbox::{Recipient, RequestAttachment, SendRequest};
use host_harness::outbox_store::OutboxState;

#[derive(clap::Args)]
pub struct SendArgs {
    /// A recipient (repeat for more).
    #[arg(long, value_name = "ADDR", required = true)]
    to: Vec<String>,
    #[arg(long, value_name = "ADDR")]
    cc: Vec<String>,
    #[arg(long, value_name = "ADDR")]
    bcc: Vec<String>,
    #[arg(long, default_value = "")]
    subject: String,
    /// The text body.
    #[arg(
        long,
        conflicts_with = "text_file",
        required_unless_present = "text_file"
    )]
    text: Option<String>,
    /// The text body, from a file.
    #[arg(long, value_name = "FILE")]
    text_file: Option<PathBuf>,
    /// An HTML body beside the text, from a file.
    #[arg(long, value_name = "FILE")]
    html_file: Option<PathBuf>,
    /// A file to attach (repeat for more).
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// The CRM message this answers (its number in `messages`): threading and `Re:` from it.
    #[arg(long, value_name = "MESSAGE")]
    reply_to: Option<i64>,
    /// The send's key: the same key is the same message [default: the message's fingerprint].
    #[arg(long, value_name = "K")]
    idempotency_key: Option<String>,
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn request(args: SendArgs) -> anyhow::Result<(SendRequest, Option<String>)> {
    let recipients = |list: Vec<String>| list.into_iter().map(Recipient::Address).collect();
    let text = match (args.text, &args.text_file) {
        (Some(text), _) => text,
        (None, Some(file)) => String::from_utf8(read(file)?)
            .with_context(|| format!("{} is not UTF-8 text", file.display()))?,
        (None, None) => String::new(),
    };
    let html = match &args.html_file {
        Some(file) => Some(
            String::from_utf8(read(file)?)
                .with_context(|| format!("{} is not UTF-8 text", file.display()))?,
        ),
        None => None,
    };
    let attachments = args
        .attach
        .iter()
        .map(|path| {
            Ok(RequestAttachment {
                filename: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "attachment".into()),
                mime_type: "application/octet-stream".into(),
                content: read(path)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let request = SendRequest {
        to: recipients(args.to),
        cc: recipients(args.cc),
        bcc: recipients(args.bcc),
        subject: args.subject,
        text,
        html,
        attachments,
        reply_to: args.reply_to,
    };
    Ok((request, args.idempotency_key))
}

pub async fn send(host: &PluginHost, mailbox: &str, args: SendArgs) -> anyhow::Result<()> {
    let (request, key) = request(args)?;
    let key =
        key.unwrap_or_else(|| format!("cli-{}", &host_harness::outbox::digest(&request)[..32]));
    let handle = host.mailbox(mailbox);
    let queued = handle
        .queue_send(&key, request)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !queued.added {
        sayln!("key {key} was used before: this is its entry");
    }
    let entry = worked(&handle, &queued.entry).await?;
    match entry.state {
        OutboxState::Failed => anyhow::bail!("the message was not sent"),
        _ => Ok(()),
    }
}

/// Works the mailbox's outbox when `entry` is still open, then prints where `entry` ended.
pub async fn worked(
    handle: &host_harness::Mailbox,
    entry: &host_harness::outbox_store::OutboxEntry,
) -> anyhow::Result<host_harness::outbox_store::OutboxEntry> {
    if entry.state.is_open() {
        handle.work_outbox().await?;
    }
    let entry = handle
        .outbox_entry(&entry.id)
        .await?
        .context("the entry went missing")?;
    sayln!("entry:      {}", entry.id);
    sayln!("message-id: <{}>", entry.message_id);
    sayln!(
        "state:      {} (attempts: {})",
        entry.state.as_str(),
        entry.attempts
    );
    if let Some(outcome) = &entry.outcome {
        sayln!("outcome:    {outcome}");
    }
    if entry.state.is_open() {
        sayln!("it waits in the outbox; `serve` tries it again");
    }
    Ok(entry)
}
