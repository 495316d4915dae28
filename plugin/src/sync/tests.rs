//! A run over every mapped folder on one scripted connection: folders that fail are reported
//! while the others go on, and each folder's changes go last, its checkpoint only after them.

use super::checkpoint::{self, Checkpoint};
use super::testing::*;
use super::{Change, CrmFolder, Run};
use crate::account::{Account, AuthMethod, MailSettings};
use crate::errors::ErrorKind;
use crate::ports::fakes::{Fakes, Script};
use crate::providers::{self, Provider};

const LOGIN: &str = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n";

fn provider() -> Provider {
    let mut config = crate::ports::PlatformConfig {
        redirect_uri: Some("http://127.0.0.1:8765/cb".into()),
        ..Default::default()
    };
    let endpoints = [
        ("authorize", "https://accounts.example/auth"),
        ("token", "https://accounts.example/token"),
        ("imap", "imaps://imap.example.com:993"),
    ];
    config.providers.push(crate::ports::ProviderConfig {
        id: "google".into(),
        display_name: "Google".into(),
        enabled: true,
        client_id: Some("client".into()),
        endpoints: endpoints
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    });
    providers::resolve(&config, "google").expect("a usable provider")
}

fn account() -> Account {
    Account {
        provider: "google".into(),
        address: "anna@example.nl".into(),
        subject: None,
        user: "crm-user".into(),
        settings: MailSettings {
            imap_host: "imap.example.com".into(),
            imap_port: 993,
            security: crate::model::ImapSecurity::Tls,
            username: "anna@example.nl".into(),
            auth: AuthMethod::XOAuth2,
        },
        linked_at: 0,
        reauthorization: None,
        settings_fingerprint: None,
    }
}

/// A connection that logs in, then answers `folders`' commands, then LOGOUT.
fn connection(folders: Script) -> Script {
    folders
        .reply(
            "AUTHENTICATE XOAUTH2",
            "{tag} OK [CAPABILITY IMAP4rev1] welcome\r\n",
        )
        .reply("LOGOUT", "* BYE bye\r\n{tag} OK done\r\n")
}

/// Runs the inbox mapped to `INBOX` and the archive to `Archive` over one connection, both
/// phases; returns the run.
fn run_both(fakes: &Fakes, folders: Script) -> Run {
    fakes.imap.push(connection(folders));
    let mut run = Run {
        folders: vec![
            (CrmFolder::Inbox, FOLDER.to_string()),
            (CrmFolder::Archive, "Archive".to_string()),
        ],
        reports: Vec::new(),
        finished: Default::default(),
        pending: Vec::new(),
        commands: 0,
        connections: 0,
    };
    let env = fakes.env();
    let outcome = run.connect_and_sync(&env, &provider(), &account(), "token");
    assert_eq!(outcome, Ok(Some(())), "one connection was enough");
    run.apply_changes(&env);
    run
}

/// The archive's first sync: one message, UID 1.
fn archive_first_sync(script: Script) -> Script {
    script
        .reply("EXAMINE \"Archive\"", examine(3, 2, 1))
        .reply("UID SEARCH SINCE", search(&[1]))
        .reply("UID SEARCH UID 1:1 LARGER", search(&[]))
        .reply("UID FETCH 1 ", fetch(&[(1, "archived")]))
}

fn kind(run: &Run, folder: usize) -> Option<ErrorKind> {
    run.reports[folder].error.as_ref().map(|e| e.kind.clone())
}

#[test]
fn a_folder_that_cannot_be_opened_is_reported_and_the_next_one_still_syncs() {
    let fakes = Fakes::default();
    let script = Script::new(LOGIN).reply("EXAMINE \"INBOX\"", "{tag} NO no such folder\r\n");
    let run = run_both(&fakes, archive_first_sync(script));
    assert_eq!(kind(&run, 0), Some(ErrorKind::FolderMissing(FOLDER.into())));
    assert_eq!(kind(&run, 1), None);
    assert_eq!(fakes.inbox.uids(), [1]);
    assert!(!run.complete());
}

#[test]
fn each_folders_changes_go_after_every_folders_new_messages_then_its_checkpoint() {
    let fakes = Fakes::default();
    save(&fakes, &synced(7, 10, Some(10)));
    let script = Script::new(LOGIN)
        .reply("EXAMINE \"INBOX\"", examine(7, 11, 10))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[(4, "\\Seen")]));
    let run = run_both(&fakes, archive_first_sync(script));
    assert!(run.complete(), "{:?}", run.reports);
    let events = fakes.inbox.events.borrow().clone();
    assert_eq!(events, ["deliver Archive", "apply INBOX"]);
    assert!(matches!(
        fakes.inbox.changes.borrow()[..],
        [Change::FlagsChanged(ref l, f)] if l.uid == 4 && f.seen
    ));
    assert_eq!(run.reports[0].remote_folder, FOLDER);
}

#[test]
fn a_failed_apply_leaves_the_folders_checkpoint_owing_its_reset() {
    let fakes = Fakes::default();
    fakes.inbox.fail_apply.set(true);
    save(&fakes, &synced(7, 10, Some(10)));
    let script = Script::new(LOGIN)
        .reply("EXAMINE \"INBOX\"", examine(9, 2, 1))
        .reply("UID SEARCH SINCE 1-Jan-2024", search(&[1]))
        .reply("UID SEARCH UID 1:1 LARGER", search(&[]))
        .reply("UID FETCH 1 ", fetch(&[(1, "again")]));
    let run = run_both(&fakes, archive_first_sync(script));
    assert!(matches!(kind(&run, 0), Some(ErrorKind::InboxFailed(_))));
    let stored = stored(&fakes);
    assert!(stored.reset_pending, "the next run still resets the folder");
    assert_eq!((stored.uid_validity, stored.last_uid), (9, 1));
    assert!(!run.complete());
}

#[test]
fn an_inbox_failure_in_one_folder_leaves_the_others_going() {
    let fakes = Fakes {
        inbox: failing_on(11),
        ..Fakes::default()
    };
    save(&fakes, &synced(7, 10, Some(10)));
    let script = Script::new(LOGIN)
        .reply("EXAMINE \"INBOX\"", examine(7, 12, 11))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH UID 11:*", search(&[11]))
        .reply("UID SEARCH UID 11:11 LARGER", search(&[]))
        .reply("UID FETCH 11 ", fetch(&[(11, "new")]));
    let run = run_both(&fakes, archive_first_sync(script));
    assert!(matches!(kind(&run, 0), Some(ErrorKind::InboxFailed(_))));
    assert!(!run.finished.contains(FOLDER), "it starts again next run");
    assert_eq!(fakes.inbox.uids(), [1]);
    let archive: Option<Checkpoint> = checkpoint::load(&fakes.kv, "Archive").expect("readable");
    assert_eq!(archive.map(|c| c.last_uid), Some(1));
}

#[test]
fn a_dropped_connection_ends_the_run_at_the_folder_it_was_in() {
    let fakes = Fakes::default();
    // The server closes the connection instead of answering EXAMINE.
    // The archive's replies (and LOGOUT) go unasked: the run never reaches them.
    let script = Script::new(LOGIN)
        .reply("EXAMINE \"INBOX\"", "")
        .rest_may_go_unasked();
    let script = archive_first_sync(script);
    let run = run_both(&fakes, script);
    let closed = ErrorKind::ImapUnreachable("the server closed the connection".into());
    assert_eq!(kind(&run, 0), Some(closed));
    assert_eq!(run.reports.len(), 1, "the archive was never reached");
    assert!(fakes.inbox.calls.borrow().is_empty());
    assert!(!run.complete());
}
