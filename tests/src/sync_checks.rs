//! What the sync proofs share: a mapping, one sync call, a folder's report, the inbox's messages.

use host_harness::bindings::folders::FolderMapping;
use host_harness::bindings::sync::{FolderReport, SyncReport};
use host_harness::inbox_store::StoredMessage;

use crate::oauth_world::{OAuthWorld, captured};

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
    w.db.inbox_messages("m1").expect("inbox")
}
