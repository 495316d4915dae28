//! Many linked mailboxes on the test Dovecot, for the benchmarks and the cluster tests:
//! mailbox `mb0000` is user `user0000@example.nl`, linked through the fake Google and mapped
//! (its inbox only); a settings file for `mailsync-host serve`; one new message in each; flags
//! changed on the server, and compared with the CRM's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use host_harness::bindings::folders::FolderMapping;
use host_harness::bindings::mailbox::LinkRequest;
use host_harness::{Database, HostSettings, PluginHost};

use crate::dovecot::Seeder;
use crate::mail_fixtures::plain;
use crate::oauth_world::OAuthWorld;

pub fn user(i: usize) -> String {
    format!("user{i:04}@example.nl")
}

pub fn mailbox_id(i: usize) -> String {
    format!("mb{i:04}")
}

/// Links and maps mailboxes `mb0000…` to `user0000@…`, eight at a time.
pub async fn link_all(w: &OAuthWorld, n: usize) -> anyhow::Result<()> {
    add_accounts(w, n);
    link_each(w, &w.host, n, true).await
}

/// Gives the fake Google the accounts `user0000@…` (once per world).
pub fn add_accounts(w: &OAuthWorld, n: usize) {
    for i in 0..n {
        w.google.add_account(&format!("g-{i}"), &user(i));
    }
}

/// Links mailboxes `mb0000…` to `user0000@…` through `host` (the world's, or another on its
/// own database), eight at a time; each mapped to its inbox when `map`.
pub async fn link_each(
    w: &OAuthWorld,
    host: &PluginHost,
    n: usize,
    map: bool,
) -> anyhow::Result<()> {
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await?;
        let mailbox = host.mailbox(&mailbox_id(i));
        let request = LinkRequest {
            user: "anna".into(),
            provider: "google".into(),
            login_hint: Some(user(i)),
            redirect_port: None,
        };
        let link = mailbox
            .link_start(&request)
            .await?
            .map_err(|e| anyhow::anyhow!("link start: {e:?}"))?;
        let query = w.consent(&link.authorization_url).await;
        tasks.spawn(async move {
            let _permit = permit;
            let linked = mailbox.link_complete("anna", &query).await?;
            linked.map_err(|e| anyhow::anyhow!("link: {e:?}"))?;
            if map {
                let mapped = mailbox.set_mapping(&inbox_only()).await?;
                mapped.map_err(|e| anyhow::anyhow!("mapping: {e:?}"))?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// The inbox mapped, nothing else.
pub fn inbox_only() -> FolderMapping {
    FolderMapping {
        inbox: Some("INBOX".into()),
        archive: None,
        deleted: None,
        sent: None,
    }
}

/// Writes `settings` for `serve`: the platform's bearer `token`, and `service` (a TOML table
/// of the `[service]` section) on top; eight syncs at once unless `service` says otherwise.
pub fn write_settings(
    settings: &HostSettings,
    token: &str,
    service: toml::Table,
    path: &Path,
) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    settings.service.extend(service);
    settings.service.insert("api_token".into(), token.into());
    let schedule = settings
        .service
        .entry("schedule")
        .or_insert_with(|| toml::Table::new().into());
    if let Some(schedule) = schedule.as_table_mut() {
        schedule
            .entry("max_concurrent_syncs")
            .or_insert_with(|| 8.into());
    }
    std::fs::write(path, toml::to_string(&settings)?)?;
    Ok(())
}

/// One new message in every user's inbox, from 16 connections at once; `tag` makes each
/// round's messages new (their Message-IDs).
pub async fn append_everywhere(port: u16, n: usize, tag: &str) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (next, tag) = (next.clone(), tag.to_string());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let to = user(i);
                let mut seeder = Seeder::connect(port, &to).await;
                let message = plain(
                    &format!("{tag}-{i}"),
                    "Klant <klant@example.com>",
                    &to,
                    "Burst",
                    "body",
                );
                seeder.append("INBOX", &message).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// The flags the CRM keeps of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub seen: bool,
    pub answered: bool,
    pub flagged: bool,
}

impl Flags {
    fn of_imap(flags: &[String]) -> Flags {
        let has = |f: &str| flags.iter().any(|g| g.eq_ignore_ascii_case(f));
        Flags {
            seen: has("\\Seen"),
            answered: has("\\Answered"),
            flagged: has("\\Flagged"),
        }
    }
}

/// In every user's inbox, the first message becomes seen and flagged, the second answered.
pub async fn flag_everywhere(port: u16, n: usize) {
    for i in 0..n {
        let mut seeder = Seeder::connect(port, &user(i)).await;
        seeder.run("SELECT INBOX").await;
        seeder.run("STORE 1 +FLAGS (\\Seen \\Flagged)").await;
        seeder.run("STORE 2 +FLAGS (\\Answered)").await;
    }
}

/// Each user's inbox on the server: UID → flags.
pub async fn server_flags(port: u16, n: usize) -> Vec<BTreeMap<u32, Flags>> {
    let mut all = Vec::new();
    for i in 0..n {
        let mut seeder = Seeder::connect(port, &user(i)).await;
        let flags = seeder.flags("INBOX").await;
        all.push(
            flags
                .iter()
                .map(|(uid, f)| (*uid, Flags::of_imap(f)))
                .collect(),
        );
    }
    all
}

/// Each mailbox's inbox in the CRM, as the server's: UID → flags, of messages not removed.
pub fn crm_flags(db: &Database, n: usize) -> anyhow::Result<Vec<BTreeMap<u32, Flags>>> {
    let mut all = Vec::new();
    for i in 0..n {
        let mut flags = BTreeMap::new();
        for m in db.inbox().inbox_messages(&mailbox_id(i))? {
            let uids = m.locations.iter().filter(|(f, _)| f == "INBOX");
            for (_, uid) in uids.filter(|_| !m.removed) {
                let kept = Flags {
                    seen: m.seen,
                    answered: m.answered,
                    flagged: m.flagged,
                };
                flags.insert(*uid, kept);
            }
        }
        all.push(flags);
    }
    Ok(all)
}
