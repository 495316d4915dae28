//! Secrets at rest in a running host: after linking and a sync over a database on disk, neither
//! the database file nor its WAL holds a token the provider issued, in clear or in base64.

use host_harness::Database;
use tests::dovecot::STANDARD_FOLDERS;
use tests::oauth_world::{OAuthWorld, captured};
use tests::secrets::{assert_no_secret_at_rest, file_mode};
use tests::sync_checks::{mapping, sync};

#[tokio::test]
async fn the_database_and_its_wal_hold_no_token_while_the_host_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data").join("crm.db");
    let db = Database::open(&path).expect("database on disk");
    let w = OAuthWorld::with_dovecot_on(STANDARD_FOLDERS, db, |_| {}).await;
    w.link("m1", "google").await.expect("linked");
    captured(
        w.mailbox("m1")
            .set_mapping(&mapping("INBOX", None))
            .await
            .expect("call runs"),
    )
    .expect("mapped");
    let report = sync(&w).await;
    assert!(report.complete, "{report:?}");
    // The host still holds the database open: its WAL is there too.
    assert_no_secret_at_rest(&path, 2);
    assert_eq!(file_mode(path.parent().unwrap()), 0o700);
    assert_eq!(
        file_mode(&dir.path().join("data").join("crm.db.key")),
        0o600
    );
}
