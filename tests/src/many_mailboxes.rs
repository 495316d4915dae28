//! Many linked mailboxes on the test Dovecot, for the benchmarks and the cluster tests:
//! mailbox `mb0000` is user `user0000@example.nl`, linked through the fake Google and mapped
//! (its inbox only); a settings file for `mailsync-host serve`; one new message in each.

use std::path::Path;
use std::sync::Arc;

use host_harness::HostSettings;
use host_harness::bindings::folders::FolderMapping;
use host_harness::bindings::panel::LinkRequest;

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
    for i in 0..n {
        w.google.add_account(&format!("g-{i}"), &user(i));
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await?;
        let mailbox = w.mailbox(&mailbox_id(i));
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
            let mapping = FolderMapping {
                inbox: Some("INBOX".into()),
                archive: None,
                deleted: None,
                sent: None,
            };
            let mapped = mailbox.set_mapping(&mapping).await?;
            mapped.map_err(|e| anyhow::anyhow!("mapping: {e:?}"))?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Writes `settings` for `serve`: the platform's bearer `token`, and `service` (a TOML table
/// of the `[service]` section) on top.
pub fn write_settings(
    settings: &HostSettings,
    token: &str,
    service: toml::Table,
    path: &Path,
) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    settings.service.extend(service);
    settings.service.insert("api_token".into(), token.into());
    let mut schedule = toml::Table::new();
    schedule.insert("max_concurrent_syncs".into(), 8.into());
    settings.service.insert("schedule".into(), schedule.into());
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
