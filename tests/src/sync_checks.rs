//! What the sync proofs share: a linked world, a seeder, a mapping, one sync call, a folder's
//! report, the inbox's messages.

use host_harness::HostSettings;
use host_harness::bindings::folders::FolderMapping;
use host_harness::bindings::sync::{FolderReport, SyncReport};
use host_harness::inbox_store::StoredMessage;

use crate::dovecot::{STANDARD_FOLDERS, Seeder};
use crate::mail_fixtures::plain;
use crate::oauth_world::{DovecotSetup, OAuthWorld, captured};

pub const ANNA: &str = "anna@example.nl";

/// A world with Anna's Google mailbox linked and `map` saved, with `configure` applied first.
pub async fn world_with(
    map: FolderMapping,
    configure: impl FnOnce(&mut HostSettings),
) -> OAuthWorld {
    linked_and_mapped(
        OAuthWorld::with_dovecot_and(STANDARD_FOLDERS, configure).await,
        map,
    )
    .await
}

/// As `world`, with a Dovecot that logs each mailbox it opens.
pub async fn world_logging_opens(map: FolderMapping) -> OAuthWorld {
    let setup = DovecotSetup {
        settings: "mail_debug = yes\n",
        ..DovecotSetup::new(STANDARD_FOLDERS)
    };
    linked_and_mapped(OAuthWorld::with_dovecot_setup(setup).await, map).await
}

async fn linked_and_mapped(w: OAuthWorld, map: FolderMapping) -> OAuthWorld {
    w.link("m1", "google").await.expect("linked");
    captured(w.mailbox("m1").set_mapping(&map).await.expect("call runs")).expect("mapped");
    w
}

pub async fn world(map: FolderMapping) -> OAuthWorld {
    world_with(map, |_| {}).await
}

pub async fn seeder(w: &OAuthWorld) -> Seeder {
    w.dovecot.as_ref().expect("dovecot").seeder(ANNA).await
}

pub fn live(w: &OAuthWorld) -> Vec<StoredMessage> {
    messages(w).into_iter().filter(|m| !m.removed).collect()
}

pub async fn append_many(s: &mut Seeder, folder: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let m = plain(
            &format!("{prefix}-{i}"),
            "Klant <klant@example.com>",
            ANNA,
            &format!("{prefix} {i}"),
            &"Beste Anna, hierbij de offerte. ".repeat(20),
        );
        s.append(folder, &m).await;
    }
}

/// `inbox` mapped, and `archive` when given; the other CRM folders unmapped.
pub fn mapping(inbox: &str, archive: Option<&str>) -> FolderMapping {
    FolderMapping {
        inbox: Some(inbox.into()),
        archive: archive.map(String::from),
        deleted: None,
        sent: None,
    }
}

/// One sync of mailbox `m1`; panics unless it answers a report.
pub async fn sync(w: &OAuthWorld) -> SyncReport {
    captured(w.mailbox("m1").sync().await.expect("the call runs")).expect("synced")
}

/// The report of remote folder `name`.
pub fn folder<'a>(r: &'a SyncReport, name: &str) -> &'a FolderReport {
    r.folders
        .iter()
        .find(|f| f.remote_folder == name)
        .unwrap_or_else(|| panic!("no report for {name}: {r:?}"))
}

/// Every message in mailbox `m1`'s inbox, removed ones too.
pub fn messages(w: &OAuthWorld) -> Vec<StoredMessage> {
    w.db.inbox().inbox_messages("m1").expect("inbox")
}
