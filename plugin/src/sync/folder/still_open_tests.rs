//! Runs over a session that still has the folder open (one resumed after IDLE): what changed is
//! asked of it in place, without EXAMINE, and the checkpoint's mod-sequence stays exact.

use super::super::checkpoint::{self, Checkpoint};
use super::super::testing::*;
use super::super::{Change, CrmFolder, Flags, FolderReport, Location, SyncError};
use super::Pending;
use crate::imap::Session;
use crate::ports::fakes::{Fakes, Script, ScriptedConnection, Transcript};

const QRESYNC: &str = "* OK [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC IDLE] ready\r\n";

/// Runs `folders` one after the other in one session, each checkpoint saved as the end of a
/// sync saves it, as a watch does round after round.
fn runs(
    fakes: &Fakes,
    script: Script,
    folders: &[&str],
) -> (Vec<Result<Pending, SyncError>>, Transcript) {
    let (conn, transcript) = ScriptedConnection::new(script);
    let mut session =
        Session::start(Box::new(conn), crate::imap::MAX_RESPONSE_BYTES).expect("greeting");
    let env = fakes.env();
    let outcomes = folders
        .iter()
        .map(|folder| {
            let sync = inbox_sync(&env, folder, true);
            let mut report = FolderReport::new(CrmFolder::Inbox, folder);
            let outcome = sync.run(&mut session, &mut report);
            if let Ok(pending) = &outcome {
                checkpoint::save(&fakes.kv, folder, &pending.checkpoint).expect("saved");
            }
            outcome
        })
        .collect();
    (outcomes, transcript)
}

fn synced_at(modseq: u64) -> Fakes {
    let fakes = Fakes::default();
    save(
        &fakes,
        &Checkpoint {
            modseq: Some(modseq),
            ..synced(7, 10, Some(10))
        },
    );
    fakes
}

fn at(uid: u32) -> Location {
    Location {
        remote_folder: FOLDER.into(),
        uid_validity: 7,
        uid,
    }
}

/// The first run's EXAMINE: nothing changed since mod-sequence 50, and the folder is at 60.
fn opened() -> Script {
    Script::new(QRESYNC).reply(
        "EXAMINE \"INBOX\" (QRESYNC (7 50 1:10))",
        examine_with(7, 11, 10, Some(60)),
    )
}

#[test]
fn a_folder_still_open_is_asked_what_changed_and_not_examined_again() {
    let fakes = synced_at(50);
    let script = opened()
        .reply(
            "STATUS \"INBOX\" (HIGHESTMODSEQ)",
            "* 11 EXISTS\r\n* STATUS \"INBOX\" (HIGHESTMODSEQ 70)\r\n{tag} OK done\r\n",
        )
        .reply(
            "UID FETCH 1:10 (FLAGS) (CHANGEDSINCE 60 VANISHED)",
            "* VANISHED (EARLIER) 3,12\r\n* 5 FETCH (UID 5 MODSEQ (65) FLAGS (\\Answered))\r\n\
             {tag} OK done\r\n",
        )
        .reply("UID SEARCH UID 11:*", search(&[11]))
        .reply("UID SEARCH UID 11:11 LARGER", search(&[]))
        .reply("UID FETCH 11 ", fetch(&[(11, "new")]));
    let (outcomes, transcript) = runs(&fakes, script, &[FOLDER, FOLDER]);
    let second = outcomes[1].as_ref().expect("the second run");
    let answered = Flags {
        answered: true,
        ..Flags::default()
    };
    // UID 12 is above the checkpoint: it never was the CRM's.
    assert_eq!(
        second.changes,
        [
            Change::Vanished(at(3)),
            Change::FlagsChanged(at(5), answered)
        ]
    );
    assert_eq!(fakes.inbox.uids(), [11]);
    assert_eq!(
        (second.checkpoint.last_uid, second.checkpoint.modseq),
        (11, Some(70))
    );
    let examines = transcript
        .commands()
        .iter()
        .filter(|c| c.starts_with("EXAMINE"))
        .count();
    assert_eq!(examines, 1, "{:?}", transcript.commands());
}

#[test]
fn without_highestmodseq_the_checkpoint_moves_only_as_far_as_a_change_reported() {
    let second_modseq = |changes: &str| {
        let fakes = synced_at(50);
        let script = opened()
            .reply("STATUS \"INBOX\" (HIGHESTMODSEQ)", "{tag} OK done\r\n")
            .reply(
                "UID FETCH 1:10 (FLAGS) (CHANGEDSINCE 60 VANISHED)",
                format!("{changes}{{tag}} OK done\r\n"),
            )
            // Nothing new: `11:*` still names the last message (RFC 3501, 6.4.8).
            .reply("UID SEARCH UID 11:*", search(&[10]));
        let (outcomes, _) = runs(&fakes, script, &[FOLDER, FOLDER]);
        let second = outcomes[1].as_ref().expect("the second run");
        second.checkpoint.modseq
    };
    assert_eq!(
        second_modseq("* 5 FETCH (UID 5 MODSEQ (65) FLAGS (\\Seen))\r\n"),
        Some(65)
    );
    // An expunge alone names no mod-sequence: it is asked about again next time, not skipped.
    assert_eq!(second_modseq("* VANISHED (EARLIER) 4\r\n"), Some(60));
}

#[test]
fn a_new_uidvalidity_in_the_open_folder_means_examining_it_again() {
    let fakes = synced_at(50);
    let script = opened()
        .reply(
            "STATUS \"INBOX\" (HIGHESTMODSEQ)",
            "* OK [UIDVALIDITY 9] new uids\r\n{tag} OK done\r\n",
        )
        .reply("EXAMINE \"INBOX\" (QRESYNC (7 60 1:10))", examine(9, 3, 2))
        .reply("UID SEARCH SINCE 1-Jan-2024", search(&[1, 2]))
        .reply("UID SEARCH UID 1:2 LARGER", search(&[]))
        .reply("UID FETCH 1:2 ", fetch(&[(1, "a"), (2, "b")]));
    let (outcomes, transcript) = runs(&fakes, script, &[FOLDER, FOLDER]);
    let second = outcomes[1].as_ref().expect("the second run");
    assert!(
        !transcript
            .commands()
            .iter()
            .any(|c| c.starts_with("UID FETCH 1:10 (FLAGS)")),
        "{:?}",
        transcript.commands()
    );
    assert_eq!(second.changes, [Change::FolderReset(FOLDER.into(), 9)]);
    assert_eq!(second.checkpoint.uid_validity, 9);
}

#[test]
fn after_another_folder_was_opened_or_failed_to_open_the_folder_is_examined_again() {
    let fakes = synced_at(50);
    let script = opened()
        .reply("EXAMINE \"Gone\"", "{tag} NO no such folder\r\n")
        .reply(
            "EXAMINE \"INBOX\" (QRESYNC (7 60 1:10))",
            examine_with(7, 11, 10, Some(60)),
        );
    let (outcomes, transcript) = runs(&fakes, script, &[FOLDER, "Gone", FOLDER]);
    assert!(matches!(outcomes[1], Err(SyncError::FolderMissing(_))));
    assert!(outcomes[2].is_ok());
    assert!(
        !transcript
            .commands()
            .iter()
            .any(|c| c.starts_with("STATUS")),
        "{:?}",
        transcript.commands()
    );
}
