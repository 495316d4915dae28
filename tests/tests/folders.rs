//! "Edit folders" end to end: the real plugin lists a real Dovecot's folders over TLS with the
//! linked account's XOAUTH2 token, suggests a mapping from special-use attributes, and validates
//! and saves the mapping; each failure is a typed error with an English and a Dutch message.

use host_harness::bindings::folders::{FolderMapping, RemoteFolder, SpecialUse};
use host_harness::bindings::mailbox::{ErrorKind, LinkState, MailboxError, MappingProblemKind};
use tests::dovecot::{DUTCH_GMAIL_FOLDERS, Dovecot, STANDARD_FOLDERS};
use tests::oauth_world::{DovecotSetup, OAuthWorld, captured, point_imap_at};
use tests::secrets::assert_no_secret_captured;
use tests::tls_server::TestPki;

const ANNA: &str = "anna@example.nl";

async fn linked(folders: &[tests::dovecot::ConfiguredFolder]) -> OAuthWorld {
    let w = OAuthWorld::with_dovecot(folders).await;
    w.link("m1", "google").await.expect("linked");
    w
}

async fn list(w: &OAuthWorld) -> Result<Vec<RemoteFolder>, MailboxError> {
    captured(w.mailbox("m1").list_folders().await.expect("the call runs"))
}

async fn set(w: &OAuthWorld, mapping: &FolderMapping) -> Result<FolderMapping, MailboxError> {
    captured(
        w.mailbox("m1")
            .set_mapping(mapping)
            .await
            .expect("the call runs"),
    )
    .map(|s| s.mapping)
}

/// Every CRM folder unmapped (not synced).
fn unmapped() -> FolderMapping {
    FolderMapping {
        inbox: None,
        archive: None,
        deleted: None,
        sent: None,
    }
}

fn find<'a>(folders: &'a [RemoteFolder], name: &str) -> &'a RemoteFolder {
    folders
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no folder {name} in {folders:?}"))
}

#[tokio::test]
async fn the_folders_come_from_the_server_with_their_special_use_and_a_suggested_mapping() {
    let w = linked(STANDARD_FOLDERS).await;
    let folders = list(&w).await.expect("listed");
    assert_eq!(find(&folders, "INBOX").special_use, [SpecialUse::Inbox]);
    assert_eq!(find(&folders, "Sent").special_use, [SpecialUse::Sent]);
    assert_eq!(find(&folders, "Trash").special_use, [SpecialUse::Trash]);
    assert_eq!(find(&folders, "Archive").delimiter.as_deref(), Some("/"));
    assert!(folders.iter().all(|f| f.selectable));

    let suggested = captured(w.mailbox("m1").suggest_mapping().await.unwrap()).expect("suggested");
    assert_eq!(
        suggested,
        FolderMapping {
            inbox: Some("INBOX".into()),
            archive: Some("Archive".into()),
            deleted: Some("Trash".into()),
            sent: Some("Sent".into()),
        }
    );
    assert_eq!(set(&w, &suggested).await.expect("saved"), suggested);
    let status = captured(w.mailbox("m1").mapping().await.unwrap()).unwrap();
    assert_eq!(status.mapping, suggested);
    assert!(status.problems.is_empty() && status.listed_at.is_some());
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_localised_gmail_account_gets_the_same_suggestion_by_attribute() {
    let w = linked(DUTCH_GMAIL_FOLDERS).await;
    let dovecot = w.dovecot.as_ref().unwrap();
    let mut seeder = dovecot.seeder(ANNA).await;
    seeder.create("Privé").await;
    seeder.create("Offertes/日本語").await;
    let folders = list(&w).await.expect("listed");
    assert_eq!(
        find(&folders, "[Gmail]/Prullenbak").special_use,
        [SpecialUse::Trash]
    );
    find(&folders, "Privé");
    find(&folders, "Offertes/日本語");
    let suggested = captured(w.mailbox("m1").suggest_mapping().await.unwrap()).unwrap();
    assert_eq!(suggested.inbox.as_deref(), Some("INBOX"));
    assert_eq!(suggested.archive.as_deref(), Some("[Gmail]/Alle berichten"));
    assert_eq!(suggested.deleted.as_deref(), Some("[Gmail]/Prullenbak"));
    assert_eq!(
        suggested.sent.as_deref(),
        Some("[Gmail]/Verzonden berichten")
    );
    // A folder with a non-ASCII name can be mapped.
    let mapping = FolderMapping {
        archive: Some("Privé".into()),
        ..suggested
    };
    assert_eq!(set(&w, &mapping).await.expect("saved"), mapping);
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_mapping_is_validated_against_the_servers_folders_and_nothing_wrong_is_saved() {
    let w = linked(STANDARD_FOLDERS).await;
    let missing = FolderMapping {
        inbox: Some("INBOX".into()),
        archive: Some("Archief 2019".into()),
        ..unmapped()
    };
    let err = set(&w, &missing).await.expect_err("missing folder");
    match &err.kind {
        ErrorKind::MappingInvalid(p) => {
            assert_eq!(
                (p.crm_folder.as_str(), p.remote.as_str()),
                ("archive", "Archief 2019")
            );
            assert_eq!(p.problem, MappingProblemKind::Missing);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.message.en.contains("Archief 2019") && err.message.nl.contains("bestaat niet"));
    let twice = FolderMapping {
        inbox: Some("INBOX".into()),
        sent: Some("Sent".into()),
        deleted: Some("Sent".into()),
        ..unmapped()
    };
    let err = set(&w, &twice).await.expect_err("used twice");
    assert!(
        matches!(err.kind, ErrorKind::MappingInvalid(ref p) if p.problem == MappingProblemKind::UsedTwice)
    );
    let saved = captured(w.mailbox("m1").mapping().await.unwrap()).unwrap();
    assert_eq!(saved.mapping, unmapped(), "nothing was saved");
    // Not synced at all is a valid choice.
    assert_eq!(set(&w, &unmapped()).await.expect("saved"), unmapped());
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_folder_deleted_after_mapping_is_reported_in_the_mappings_status() {
    let w = linked(STANDARD_FOLDERS).await;
    let mut seeder = w.dovecot.as_ref().unwrap().seeder(ANNA).await;
    seeder.create("Klanten").await;
    let mapping = FolderMapping {
        inbox: Some("INBOX".into()),
        archive: Some("Klanten".into()),
        ..unmapped()
    };
    set(&w, &mapping).await.expect("saved");
    seeder.delete("Klanten").await;
    list(&w).await.expect("listed again");
    let status = captured(w.mailbox("m1").mapping().await.unwrap()).unwrap();
    assert_eq!(status.mapping, mapping, "the mapping is kept");
    assert_eq!(status.problems.len(), 1);
    assert_eq!(
        status.problems[0].problem.problem,
        MappingProblemKind::Missing
    );
    assert_eq!(status.problems[0].problem.remote, "Klanten");
    assert!(status.problems[0].message.nl.contains("Mappen bewerken"));
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_server_without_xoauth2_is_reached_with_oauthbearer_and_its_rejection_handled() {
    let w = OAuthWorld::with_dovecot_setup(DovecotSetup {
        mechanisms: "oauthbearer",
        ..DovecotSetup::new(STANDARD_FOLDERS)
    })
    .await;
    w.link("m1", "google").await.expect("linked");
    let folders = list(&w).await.expect("listed over OAUTHBEARER");
    find(&folders, "INBOX");
    // A rejected OAUTHBEARER token: the failure continuation is answered, then one refresh.
    w.google.world().expire_access_tokens();
    list(&w).await.expect("listed after a refresh");
    assert_eq!(w.google.world().refresh_scope_shapes.len(), 1);
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_server_reached_with_starttls_lists_the_same_folders() {
    let w = OAuthWorld::with_dovecot_setup(DovecotSetup {
        starttls: true,
        ..DovecotSetup::new(STANDARD_FOLDERS)
    })
    .await;
    let linked = w.link("m1", "google").await.expect("linked");
    let settings = linked.settings.expect("settings");
    assert_eq!(
        settings.security,
        host_harness::bindings::mailbox::ImapSecurity::Starttls
    );
    let folders = list(&w).await.expect("listed after STARTTLS");
    assert_eq!(find(&folders, "Trash").special_use, [SpecialUse::Trash]);
    // Dovecot saw the token only inside TLS.
    let log = w.dovecot.as_ref().unwrap().log();
    let login = log
        .lines()
        .find(|l| l.contains("Login: user=<anna@example.nl>") && l.contains("method=XOAUTH2"))
        .unwrap_or_else(|| panic!("no XOAUTH2 login in Dovecot's log:\n{log}"));
    assert!(login.contains(", TLS"), "{login}");
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_and_the_listing_retried() {
    let w = linked(STANDARD_FOLDERS).await;
    w.google.world().expire_access_tokens();
    list(&w).await.expect("listed after a refresh");
    assert_eq!(
        w.google.world().refresh_scope_shapes.len(),
        1,
        "one refresh"
    );
    list(&w)
        .await
        .expect("the refreshed token was saved and works");
    assert_eq!(
        w.google.world().refresh_scope_shapes.len(),
        1,
        "no second refresh"
    );
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_revoked_authorisation_ends_in_reauthorisation_needed() {
    let w = linked(STANDARD_FOLDERS).await;
    w.google.world().revoke_account(ANNA);
    let err = list(&w).await.expect_err("revoked");
    assert!(
        matches!(err.kind, ErrorKind::ReauthorizationNeeded(_)),
        "{:?}",
        err.kind
    );
    assert!(err.message.en.contains("Link mailbox"));
    assert_eq!(w.status("m1").await.state, LinkState::ReauthorizationNeeded);
    assert_no_secret_captured();
}

#[tokio::test]
async fn edit_folders_says_what_is_wrong_when_it_cannot_list() {
    // Not linked.
    let w = OAuthWorld::with_dovecot(STANDARD_FOLDERS).await;
    let err = list(&w).await.expect_err("not linked");
    assert_eq!(err.kind, ErrorKind::NotLinked);

    // The settings changed since authentication: the provider's IMAP server moved.
    w.link("m1", "google").await.expect("linked");
    let mut moved = w.settings.clone();
    moved.platform.providers[0]
        .endpoints
        .insert("imap".into(), "imaps://127.0.0.1:1".into());
    let host = host_harness::PluginHost::load(
        host_harness::BUNDLED_PLUGIN.as_ref(),
        &moved,
        w.db.clone(),
        Some(&tests::component_cache()),
    )
    .unwrap();
    let err = captured(host.mailbox("m1").list_folders().await.unwrap()).expect_err("changed");
    assert_eq!(err.kind, ErrorKind::SettingsChanged);
    assert!(
        err.message
            .en
            .contains("changed after your mailbox was linked"),
        "{}",
        err.message.en
    );
    assert!(err.message.nl.contains("gewijzigd"), "{}", err.message.nl);
    assert_no_secret_captured();
}

/// A world linked to Google whose IMAP endpoint is `imap`.
async fn linked_with_imap(imap: String) -> OAuthWorld {
    let w = OAuthWorld::with(|s| point_imap_at(s, &imap)).await;
    w.link("m1", "google").await.expect("linked");
    w
}

#[tokio::test]
async fn an_unreachable_server_a_wrong_certificate_and_a_refused_destination_are_told_apart() {
    // Bound but never listening: the port stays ours, and a connection to it is refused.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = held.local_addr().unwrap().port();
    let w = linked_with_imap(format!("imaps://127.0.0.1:{closed}")).await;
    let err = list(&w).await.expect_err("nothing listens");
    assert!(
        matches!(err.kind, ErrorKind::ImapUnreachable(_)),
        "{:?}",
        err.kind
    );
    assert!(err.message.nl.contains("niet bereikt"));

    let untrusted = TestPki::new();
    let rogue = Dovecot::start(
        &untrusted,
        "http://127.0.0.1:9/introspect",
        STANDARD_FOLDERS,
    );
    let w = linked_with_imap(rogue.imaps_endpoint()).await;
    let err = list(&w).await.expect_err("untrusted certificate");
    assert!(
        matches!(err.kind, ErrorKind::ImapTlsFailed(_)),
        "{:?}",
        err.kind
    );
    assert!(err.message.en.contains("certificate"));

    let w = linked_with_imap("imaps://127.0.0.2:993".into()).await;
    let err = list(&w).await.expect_err("refused");
    assert!(
        matches!(err.kind, ErrorKind::DestinationRefused(_)),
        "{:?}",
        err.kind
    );
    assert_no_secret_captured();
}
