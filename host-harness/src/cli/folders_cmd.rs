//! `folders`, `suggest` and `map`: "Edit folders" from a terminal. `map inbox=INBOX
//! archive=Archive` changes the named CRM folders and keeps the others; `map --clear deleted`
//! stops syncing one.

use host_harness::PluginHost;
use host_harness::bindings::folders::{FolderMapping, MappingStatus, SpecialUse};

use super::panel_view::{self, Lang};

#[derive(clap::Args)]
pub struct MapArgs {
    /// `crm-folder=remote folder`, for inbox, archive, deleted and sent.
    assignments: Vec<String>,
    /// CRM folders to map to nothing (not synced).
    #[arg(long, value_name = "CRM_FOLDER")]
    clear: Vec<String>,
}

pub async fn folders(host: &PluginHost, mailbox: &str, lang: Lang) -> anyhow::Result<()> {
    let folders = panel_view::answer(host.mailbox(mailbox).list_folders().await, lang)?;
    for f in folders {
        let uses: Vec<&str> = f.special_use.iter().map(special_use_name).collect();
        sayln!(
            "{:<32} {:<24}{}",
            f.name,
            uses.join(" "),
            if f.selectable {
                ""
            } else {
                " (holds no messages)"
            }
        );
    }
    Ok(())
}

pub async fn suggest(host: &PluginHost, mailbox: &str, lang: Lang) -> anyhow::Result<()> {
    let suggested = panel_view::answer(host.mailbox(mailbox).suggest_mapping().await, lang)?;
    say!("{}", mapping_lines(&suggested));
    Ok(())
}

pub async fn map(
    host: &PluginHost,
    mailbox: &str,
    args: MapArgs,
    lang: Lang,
) -> anyhow::Result<()> {
    let handle = host.mailbox(mailbox);
    let mut mapping = panel_view::answer(handle.mapping().await, lang)?.mapping;
    for assignment in &args.assignments {
        let (crm, remote) = assignment
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("`{assignment}` is not crm-folder=remote-folder"))?;
        *slot(&mut mapping, crm)? = Some(remote.to_string());
    }
    for crm in &args.clear {
        *slot(&mut mapping, crm)? = None;
    }
    let status = panel_view::answer(handle.set_mapping(&mapping).await, lang)?;
    sayln!("Saved.");
    say!("{}", status_lines(&status, lang));
    Ok(())
}

fn slot<'m>(mapping: &'m mut FolderMapping, crm: &str) -> anyhow::Result<&'m mut Option<String>> {
    Ok(match crm {
        "inbox" => &mut mapping.inbox,
        "archive" => &mut mapping.archive,
        "deleted" => &mut mapping.deleted,
        "sent" => &mut mapping.sent,
        other => anyhow::bail!("`{other}` is not a CRM folder: inbox, archive, deleted or sent"),
    })
}

pub fn mapping_lines(m: &FolderMapping) -> String {
    [
        ("inbox", &m.inbox),
        ("archive", &m.archive),
        ("deleted", &m.deleted),
        ("sent", &m.sent),
    ]
    .iter()
    .map(|(crm, remote)| {
        format!(
            "  {crm:<8} -> {}\n",
            remote.as_deref().unwrap_or("(not synced)")
        )
    })
    .collect()
}

pub fn status_lines(s: &MappingStatus, lang: Lang) -> String {
    let mut out = format!("Folders\n{}", mapping_lines(&s.mapping));
    for p in &s.problems {
        out.push_str(&format!(
            "  problem: {}\n",
            panel_view::text(&p.message, lang)
        ));
    }
    out
}

fn special_use_name(u: &SpecialUse) -> &'static str {
    match u {
        SpecialUse::Inbox => "\\Inbox",
        SpecialUse::All => "\\All",
        SpecialUse::Archive => "\\Archive",
        SpecialUse::Drafts => "\\Drafts",
        SpecialUse::Flagged => "\\Flagged",
        SpecialUse::Important => "\\Important",
        SpecialUse::Junk => "\\Junk",
        SpecialUse::Sent => "\\Sent",
        SpecialUse::Trash => "\\Trash",
    }
}
