//! `act`: one action on a CRM message, made in the linked mailbox through its outbox (in order
//! with its sends): mark it read or unread, flag or unflag it, or move it to a mapped folder.

use host_harness::PluginHost;
use host_harness::actions::{ActionRequest, MoveTarget};
use host_harness::outbox_store::OutboxState;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("action").required(true).multiple(false))]
pub struct ActArgs {
    /// The CRM message (its number in `messages`).
    message: i64,
    #[arg(long, group = "action")]
    seen: bool,
    #[arg(long, group = "action")]
    unseen: bool,
    #[arg(long, group = "action")]
    flag: bool,
    #[arg(long, group = "action")]
    unflag: bool,
    /// Move it to this CRM folder's remote folder (`deleted` moves it there; it is never
    /// expunged).
    #[arg(long, group = "action", value_name = "FOLDER")]
    move_to: Option<Folder>,
    /// The action's key: the same key again makes nothing new (by default, a new one each run).
    #[arg(long, value_name = "K")]
    idempotency_key: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Folder {
    Inbox,
    Archive,
    Deleted,
}

fn action(args: &ActArgs) -> ActionRequest {
    match args.move_to {
        Some(Folder::Inbox) => ActionRequest::MoveTo(MoveTarget::Inbox),
        Some(Folder::Archive) => ActionRequest::MoveTo(MoveTarget::Archive),
        Some(Folder::Deleted) => ActionRequest::MoveTo(MoveTarget::Deleted),
        None if args.seen || args.unseen => ActionRequest::Seen(args.seen),
        None => ActionRequest::Flagged(args.flag),
    }
}

pub async fn act(host: &PluginHost, mailbox: &str, args: ActArgs) -> anyhow::Result<()> {
    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(|| format!("cli-action-{}", host_harness::outbox::random_hex(12)));
    let handle = host.mailbox(mailbox);
    let queued = handle
        .queue_action(&key, args.message, action(&args))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !queued.added {
        sayln!("key {key} was used before: this is its entry");
    }
    let entry = super::send_cmd::worked(&handle, &queued.entry).await?;
    if entry.state == OutboxState::Failed {
        anyhow::bail!("the action was not made");
    }
    Ok(())
}
