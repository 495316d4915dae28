//! One folder's run over a scripted server, for what it hands on as changes: flags read with or
//! without CONDSTORE, the UIDs still present without QRESYNC, and the reset after a rescan.

use super::super::checkpoint::Checkpoint;
use super::super::testing::*;
use super::super::{Change, Flags, Location};
use crate::ports::fakes::{Fakes, Script};

fn at(uid_validity: u32, uid: u32) -> Location {
    Location {
        remote_folder: FOLDER.into(),
        uid_validity,
        uid,
    }
}

#[test]
fn without_condstore_the_latest_flags_up_to_the_checkpoint_become_changes() {
    let fakes = Fakes::default();
    save(&fakes, &synced(7, 10, Some(10)));
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 11, 10))
        .reply(
            "UID FETCH 1:10 (UID FLAGS)",
            flags(&[(4, "\\Seen \\Flagged"), (11, "\\Seen")]),
        );
    let ran = run(&fakes, script, false);
    let seen_flagged = Flags {
        seen: true,
        flagged: true,
        ..Flags::default()
    };
    // UID 11 is above the checkpoint: not the CRM's yet.
    assert_eq!(
        ran.pending().changes,
        [Change::FlagsChanged(at(7, 4), seen_flagged)]
    );
}

#[test]
fn with_condstore_flags_are_asked_for_only_when_the_modseq_moved() {
    let with_modseq = |now: u64| {
        let fakes = Fakes::default();
        let mut saved = synced(7, 10, Some(10));
        saved.modseq = Some(100);
        save(&fakes, &saved);
        let script = Script::new(GREETING)
            .reply("EXAMINE", examine_with(7, 11, 10, Some(now)))
            .reply_if_asked("UID FETCH 1:10 (UID FLAGS) (CHANGEDSINCE 100)", flags(&[]));
        run(&fakes, script, false)
    };
    let unmoved = with_modseq(100);
    assert!(
        !unmoved.sent("UID FETCH"),
        "{:?}",
        unmoved.transcript.commands()
    );
    let moved = with_modseq(120);
    assert!(moved.sent("UID FETCH 1:10 (UID FLAGS) (CHANGEDSINCE 100)"));
    assert_eq!(moved.pending().checkpoint.modseq, Some(120));
}

#[test]
fn fewer_messages_than_expected_hands_on_the_uids_still_present() {
    let fakes = Fakes::default();
    save(&fakes, &synced(7, 10, Some(5)));
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 11, 4))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH UID 1:10", search(&[2, 3, 5, 7, 12]));
    let ran = run(&fakes, script, false);
    let present = Change::Present {
        remote_folder: FOLDER.into(),
        uid_validity: 7,
        up_to: 10,
        uids: vec![2, 3, 5, 7],
    };
    assert_eq!(ran.pending().changes, [present]);
}

/// A run of a folder that held 5 messages up to UID 10, and now has UIDs 11 and 12 besides.
fn with_two_new(before: Option<u32>, exists: u32) -> bool {
    let fakes = Fakes::default();
    save(&fakes, &synced(7, 10, before));
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 13, exists))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH UID 11:*", search(&[11, 12]))
        .reply("UID SEARCH UID 11:12 LARGER", search(&[]))
        .reply_if_asked("UID SEARCH UID 1:10", search(&[1, 2, 3, 4, 5]))
        .reply("UID FETCH 11:12 ", fetch(&[(11, "a"), (12, "b")]));
    let ran = run(&fakes, script, false);
    let asked = ran.sent("UID SEARCH UID 1:10");
    let handed_on = ran
        .pending()
        .changes
        .iter()
        .any(|c| matches!(c, Change::Present { .. }));
    assert_eq!(asked, handed_on);
    asked
}

#[test]
fn new_messages_count_toward_the_expected_total_and_an_unknown_count_means_asking() {
    assert!(!with_two_new(Some(5), 7), "5 before plus 2 new: none gone");
    assert!(with_two_new(Some(5), 6), "one of them is gone");
    assert!(with_two_new(None, 7), "the count before is not known");
}

#[test]
fn with_qresync_expunges_and_flag_changes_come_from_examine_alone() {
    let fakes = Fakes::default();
    let mut saved = synced(7, 10, Some(10));
    saved.modseq = Some(50);
    save(&fakes, &saved);
    let answer = "* VANISHED (EARLIER) 3:4\r\n* 5 FETCH (UID 5 FLAGS (\\Answered))\r\n".to_string()
        + &examine_with(7, 11, 8, Some(60));
    let script = Script::new(GREETING).reply("EXAMINE \"INBOX\" (QRESYNC (7 50 1:10))", answer);
    let ran = run(&fakes, script, true);
    let answered = Flags {
        answered: true,
        ..Flags::default()
    };
    let expected = [
        Change::Vanished(at(7, 3)),
        Change::Vanished(at(7, 4)),
        Change::FlagsChanged(at(7, 5), answered),
    ];
    assert_eq!(ran.pending().changes, expected);
    assert_eq!(ran.transcript.commands().len(), 1, "EXAMINE only");
}

#[test]
fn a_new_uidvalidity_rescans_the_first_syncs_window_and_resets_the_folder_last() {
    let fakes = Fakes::default();
    save(&fakes, &synced(7, 10, Some(10)));
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(9, 4, 3))
        .reply("UID SEARCH SINCE 1-Jan-2024", search(&[1, 2, 3]))
        .reply("UID SEARCH UID 1:3 LARGER", search(&[]))
        .reply("UID FETCH 1:3 ", fetch(&[(1, "a"), (2, "b"), (3, "c")]));
    let ran = run(&fakes, script, false);
    let pending = ran.pending();
    assert!(ran.report.uid_validity_reset);
    assert_eq!(pending.changes, [Change::FolderReset(FOLDER.into(), 9)]);
    let delivered = fakes.inbox.held.borrow();
    assert!(delivered.values().all(|d| d.location.uid_validity == 9));
    assert_eq!(delivered.len(), 3);
    // Until the reset is applied, a later run still owes it.
    assert!(stored(&fakes).reset_pending);
    assert!(!pending.checkpoint.reset_pending);
    assert_eq!(
        (pending.checkpoint.uid_validity, pending.checkpoint.last_uid),
        (9, 3)
    );
}

#[test]
fn a_rescan_cut_short_goes_on_from_its_checkpoint_and_still_resets_the_folder() {
    let fakes = Fakes::default();
    save(
        &fakes,
        &Checkpoint {
            uid_validity: 9,
            last_uid: 2,
            backfill_since: Some("1-Jan-2024".into()),
            synced_since: Some("1-Jan-2024".into()),
            reset_pending: true,
            ..Checkpoint::default()
        },
    );
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(9, 4, 3))
        .reply("UID FETCH 1:2 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH SINCE 1-Jan-2024", search(&[1, 2, 3]))
        .reply("UID SEARCH UID 3:3 LARGER", search(&[]))
        // What the cut run delivered may have been deleted since: the UIDs still there.
        .reply("UID SEARCH UID 1:2", search(&[2]))
        .reply("UID FETCH 3 ", fetch(&[(3, "c")]));
    let ran = run(&fakes, script, false);
    assert!(ran.report.uid_validity_reset && ran.report.first_sync);
    assert_eq!(fakes.inbox.uids(), [3]);
    assert_eq!(
        ran.pending().changes,
        [
            Change::Present {
                remote_folder: FOLDER.into(),
                uid_validity: 9,
                up_to: 2,
                uids: vec![2],
            },
            Change::FolderReset(FOLDER.into(), 9)
        ]
    );
}
