use super::write::{FlagChange, PlaceOutcome, move_to, set_flag};
use super::*;
use crate::imap::Session;
use crate::ports::fakes::{Script, ScriptedConnection, Transcript};

fn session(capabilities: &str, replies: &[(&str, &str)]) -> (Session, Transcript) {
    let greeting = format!("* OK [CAPABILITY IMAP4rev1 {capabilities}] ready\r\n");
    let script = replies
        .iter()
        .fold(Script::new(&greeting), |s, (command, reply)| {
            s.reply(command, *reply)
        });
    let (conn, written) = ScriptedConnection::new(script);
    (
        Session::start(Box::new(conn), 1 << 20).expect("greeting"),
        written,
    )
}

fn place(folder: &str, uid: u32, seen: bool) -> SeenAt {
    SeenAt {
        location: Location {
            remote_folder: folder.into(),
            uid_validity: 9,
            uid,
        },
        flags: Flags {
            seen,
            ..Flags::default()
        },
    }
}

fn mapping() -> FolderMapping {
    FolderMapping {
        inbox: Some("INBOX".into()),
        archive: Some("Archive".into()),
        deleted: Some("Trash".into()),
        sent: Some("Sent".into()),
    }
}

fn target(places: Vec<SeenAt>) -> Target {
    Target {
        message_id: "m1@x".into(),
        places,
        gmail_message_id: None,
    }
}

const SELECTED: &str = "* OK [UIDVALIDITY 9] ok\r\n* OK [HIGHESTMODSEQ 40] ok\r\n{tag} OK [READ-WRITE] SELECT done\r\n";

#[test]
fn a_move_leaves_sent_and_the_destination_alone_and_ignores_unmapped_folders() {
    let m = mapping();
    let t = target(vec![
        place("Sent", 3, true),
        place("INBOX", 7, false),
        place("Old", 2, false),
    ]);
    assert_eq!(
        plan(&m, &t, Action::MoveTo(CrmFolder::Archive)).expect("plans"),
        Plan::Move {
            from: vec![place("INBOX", 7, false)],
            to: "Archive".into()
        }
    );
    let archived = target(vec![place("Archive", 5, false)]);
    assert_eq!(
        plan(&m, &archived, Action::MoveTo(CrmFolder::Archive)).expect("plans"),
        Plan::Nothing
    );
    assert_eq!(
        plan(
            &m,
            &target(vec![place("Old", 2, false)]),
            Action::Seen(true)
        ),
        Err(ActFailure::Gone)
    );
    let unmapped = FolderMapping {
        archive: None,
        ..mapping()
    };
    assert_eq!(
        plan(&unmapped, &t, Action::MoveTo(CrmFolder::Archive)),
        Err(ActFailure::NotMapped(CrmFolder::Archive))
    );
}

#[test]
fn a_flag_is_stored_unchanged_since_the_modseq_read_and_read_back() {
    let (mut s, written) = session(
        "CONDSTORE",
        &[
            ("SELECT", SELECTED),
            (
                "UID FETCH 7",
                "* 1 FETCH (UID 7 FLAGS () MODSEQ (35))\r\n{tag} OK done\r\n",
            ),
            ("UID STORE", "{tag} OK done\r\n"),
            (
                "UID FETCH 7",
                "* 1 FETCH (UID 7 FLAGS (\\Seen))\r\n{tag} OK done\r\n",
            ),
        ],
    );
    let outcomes =
        set_flag(&mut s, &[place("INBOX", 7, false)], FlagChange::Seen(true)).expect("writes");
    assert!(matches!(&outcomes[..], [PlaceOutcome::Applied(Some(at))] if at.flags.seen));
    let text = written.text();
    assert!(text.contains("SELECT \"INBOX\" (CONDSTORE)"), "{text}");
    assert!(
        text.contains("UID STORE 7 (UNCHANGEDSINCE 35) +FLAGS.SILENT (\\Seen)"),
        "{text}"
    );
}

#[test]
fn a_change_made_in_the_mailbox_meanwhile_wins() {
    // The server refuses the conditional store: someone changed the message after the read.
    let (mut s, _) = session(
        "CONDSTORE",
        &[
            ("SELECT", SELECTED),
            (
                "UID FETCH 7",
                "* 1 FETCH (UID 7 FLAGS () MODSEQ (35))\r\n{tag} OK done\r\n",
            ),
            (
                "UID STORE",
                "{tag} OK [MODIFIED 7] conditional store failed\r\n",
            ),
            (
                "UID FETCH 7",
                "* 1 FETCH (UID 7 FLAGS (\\Flagged))\r\n{tag} OK done\r\n",
            ),
        ],
    );
    let outcomes =
        set_flag(&mut s, &[place("INBOX", 7, false)], FlagChange::Seen(true)).expect("asks");
    assert!(matches!(&outcomes[..], [PlaceOutcome::Superseded(Some(at))] if !at.flags.seen));

    // The CRM saw it read, the mailbox has it unread again, and the CRM asks for read: the
    // mailbox's change since wins, and nothing is written.
    let (mut s, written) = session(
        "",
        &[
            ("SELECT", "* OK [UIDVALIDITY 9] ok\r\n{tag} OK done\r\n"),
            (
                "UID FETCH 7",
                "* 1 FETCH (UID 7 FLAGS ())\r\n{tag} OK done\r\n",
            ),
        ],
    );
    let outcomes =
        set_flag(&mut s, &[place("INBOX", 7, true)], FlagChange::Seen(true)).expect("asks");
    assert!(matches!(&outcomes[..], [PlaceOutcome::Superseded(_)]));
    assert!(!written.text().contains("STORE"));
}

#[test]
fn a_message_gone_from_its_place_or_under_another_uidvalidity_is_gone() {
    let (mut s, _) = session(
        "",
        &[
            ("SELECT", "* OK [UIDVALIDITY 9] ok\r\n{tag} OK done\r\n"),
            ("UID FETCH 7", "{tag} OK nothing\r\n"),
            ("SELECT", "* OK [UIDVALIDITY 10] ok\r\n{tag} OK done\r\n"),
        ],
    );
    let places = [place("INBOX", 7, false), place("Archive", 4, false)];
    let outcomes = set_flag(&mut s, &places, FlagChange::Flagged(true)).expect("asks");
    assert_eq!(outcomes, vec![PlaceOutcome::Gone, PlaceOutcome::Gone]);
    assert_eq!(receipt(outcomes), Err(ActFailure::Gone));
}

#[test]
fn without_move_a_message_is_copied_then_only_its_uid_expunged() {
    let (mut s, written) = session(
        "UIDPLUS",
        &[
            ("SELECT", "* OK [UIDVALIDITY 9] ok\r\n{tag} OK done\r\n"),
            (
                "UID FETCH 7",
                "* 1 FETCH (UID 7 FLAGS (\\Seen))\r\n{tag} OK done\r\n",
            ),
            ("UID COPY", "{tag} OK [COPYUID 77 7 120] copied\r\n"),
            ("UID STORE", "{tag} OK done\r\n"),
            ("UID EXPUNGE", "* 1 EXPUNGE\r\n{tag} OK done\r\n"),
        ],
    );
    let outcomes = move_to(&mut s, &[place("INBOX", 7, true)], "Trash", "m1@x").expect("moves");
    let [PlaceOutcome::Applied(Some(at))] = &outcomes[..] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(
        (
            at.location.remote_folder.as_str(),
            at.location.uid_validity,
            at.location.uid
        ),
        ("Trash", 77, 120)
    );
    let commands = written.commands();
    let text = written.text();
    assert!(text.contains("UID COPY 7 \"Trash\""), "{text}");
    assert!(
        text.contains("UID STORE 7 +FLAGS.SILENT (\\Deleted)"),
        "{text}"
    );
    assert!(text.contains("UID EXPUNGE 7"), "{text}");
    assert!(
        !commands.iter().any(|c| c.ends_with(" EXPUNGE")),
        "never a bare EXPUNGE: {commands:?}"
    );
}

#[test]
fn with_move_the_new_place_comes_from_copyuid() {
    let (mut s, written) = session(
        "MOVE UIDPLUS",
        &[
            ("SELECT", "* OK [UIDVALIDITY 9] ok\r\n{tag} OK done\r\n"),
            (
                "UID FETCH 7",
                "* 1 FETCH (UID 7 FLAGS ())\r\n{tag} OK done\r\n",
            ),
            (
                "UID MOVE",
                "* OK [COPYUID 5 7 31] moved\r\n* 1 EXPUNGE\r\n{tag} OK done\r\n",
            ),
        ],
    );
    let outcomes = move_to(&mut s, &[place("INBOX", 7, false)], "Archief", "m1@x").expect("moves");
    assert!(
        matches!(&outcomes[..], [PlaceOutcome::Applied(Some(at))] if at.location.uid == 31 && at.location.uid_validity == 5)
    );
    assert!(written.text().contains("UID MOVE 7 \"Archief\""));
    let receipt = receipt(outcomes).expect("moved");
    assert_eq!(receipt.outcome, Outcome::Applied);
    assert_eq!(receipt.now_at[0].location.remote_folder, "Archief");
}

#[test]
fn a_move_whose_answer_was_lost_is_found_in_the_destination() {
    // An earlier attempt moved it, and its node died before the CRM heard: not moved twice.
    let (mut s, written) = session(
        "MOVE UIDPLUS",
        &[
            (
                "SELECT \"INBOX\"",
                "* OK [UIDVALIDITY 9] ok\r\n{tag} OK done\r\n",
            ),
            ("UID FETCH 7", "{tag} OK nothing\r\n"),
            (
                "SELECT \"Archive\"",
                "* OK [UIDVALIDITY 5] ok\r\n{tag} OK done\r\n",
            ),
            ("UID SEARCH", "* SEARCH 31\r\n{tag} OK done\r\n"),
            (
                "UID FETCH 31",
                "* 4 FETCH (UID 31 FLAGS (\\Seen))\r\n{tag} OK done\r\n",
            ),
        ],
    );
    let outcomes = move_to(&mut s, &[place("INBOX", 7, true)], "Archive", "m1@x").expect("asks");
    assert!(
        matches!(&outcomes[..], [PlaceOutcome::Already(Some(at))] if at.location.uid == 31 && at.location.uid_validity == 5)
    );
    let text = written.text();
    assert!(
        text.contains("UID SEARCH HEADER Message-ID \"<m1@x>\""),
        "{text}"
    );
    assert!(!text.contains("MOVE"), "{text}");
}
