//! A world for sending: Postfix beside Dovecot, `m1` linked to Google with `Sent` mapped, and
//! what the tests read back (a message in a user's folder by its Message-ID, Postfix's log).

use std::time::{Duration, Instant};

use host_harness::bindings::folders::FolderMapping;
use host_harness::settings::SentCopy as CopySetting;

use crate::dovecot::STANDARD_FOLDERS;
use crate::oauth_world::{DovecotSetup, OAuthWorld};

/// A world whose Google keeps the copy in Sent itself, as Gmail does.
pub async fn world() -> OAuthWorld {
    world_keeping(CopySetting::Auto).await
}

/// A world whose Google keeps the copy in Sent as `sent_copy` says, with `Sent` mapped.
pub async fn world_keeping(sent_copy: CopySetting) -> OAuthWorld {
    world_with(|s| {
        for provider in &mut s.platform.providers {
            provider.sent_copy = sent_copy;
        }
    })
    .await
}

/// A world with Postfix, the host's settings changed by `configure`, `m1` linked to Google
/// and `Sent` mapped.
pub async fn world_with(configure: impl FnOnce(&mut host_harness::HostSettings)) -> OAuthWorld {
    let setup = DovecotSetup {
        submission: true,
        ..DovecotSetup::new(STANDARD_FOLDERS)
    };
    let w = OAuthWorld::with_dovecot_setup_and(setup, configure).await;
    w.link("m1", "google").await.expect("linked");
    map_inbox_and_sent(&w).await;
    w
}

/// Maps `m1`'s CRM inbox to `INBOX` and its sent items to `Sent`.
pub async fn map_inbox_and_sent(w: &OAuthWorld) {
    let mapping = FolderMapping {
        inbox: Some("INBOX".into()),
        archive: None,
        deleted: None,
        sent: Some("Sent".into()),
    };
    let mapped = w.mailbox("m1").set_mapping(&mapping).await.expect("runs");
    mapped.expect("mapped");
}

/// The header blocks of the messages in `user`'s INBOX whose Message-ID is `message_id`,
/// waiting up to 20 s for Postfix's queue to deliver.
pub async fn delivered(w: &OAuthWorld, user: &str, message_id: &str) -> Vec<String> {
    in_folder(w, user, "INBOX", message_id).await
}

pub async fn in_folder(w: &OAuthWorld, user: &str, folder: &str, message_id: &str) -> Vec<String> {
    let dovecot = w.dovecot.as_ref().expect("Dovecot");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut seeder = dovecot.seeder(user).await;
        seeder.run(&format!("SELECT {folder}")).await;
        let found = seeder
            .answers(&format!("UID SEARCH HEADER Message-ID \"{message_id}\""))
            .await;
        let uids: Vec<String> = found
            .iter()
            .flat_map(|line| line.trim().strip_prefix("* SEARCH"))
            .flat_map(|rest| rest.split_whitespace().map(str::to_string))
            .collect();
        if !uids.is_empty() || Instant::now() > deadline {
            let mut headers = Vec::new();
            for uid in &uids {
                headers.push(seeder.header_block(uid).await);
            }
            return headers;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What Postfix logged.
pub fn log(w: &OAuthWorld) -> String {
    w.postfix.as_ref().map(|p| p.log()).unwrap_or_default()
}
