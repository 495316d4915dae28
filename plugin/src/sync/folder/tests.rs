//! One folder's run over a scripted server: what a first sync searches and delivers, and where
//! the checkpoint stands after each batch, after a failed batch and after one finished early.

use super::super::SyncError;
use super::super::testing::*;
use crate::imap::ImapError;
use crate::ports::fakes::{Fakes, Script};

fn batches_of(n: u32) -> Fakes {
    let mut fakes = Fakes::default();
    fakes.config.limits.max_delivery_batch = n;
    fakes
}

#[test]
fn a_first_sync_searches_the_backfill_window_and_checkpoints_after_each_batch() {
    let fakes = batches_of(2);
    let script = Script::new(GREETING)
        .reply("EXAMINE \"INBOX\"", examine(7, 4, 3))
        .reply("UID SEARCH SINCE 2-May-2024", search(&[1, 2, 3]))
        .reply("UID SEARCH UID 1:3 LARGER", search(&[]))
        .reply("UID FETCH 1:2 ", fetch(&[(1, "one"), (2, "two")]))
        .reply("UID FETCH 3 ", fetch(&[(3, "three")]));
    let ran = run(&fakes, script, false);
    let pending = ran.pending();
    assert!(ran.report.first_sync);
    assert_eq!(ran.report.created, 3);
    let calls = fakes.inbox.calls.borrow().clone();
    assert_eq!(calls, [(vec![1, 2], true), (vec![3], true)]);
    // Fresh, after each batch, and the window's end.
    assert_eq!(checkpoints_written(&fakes), [0, 2, 3, 3]);
    let stored = stored(&fakes);
    assert_eq!(stored.backfill_since, None);
    assert_eq!(stored.synced_since.as_deref(), Some("2-May-2024"));
    assert_eq!(pending.checkpoint.exists, Some(3));
    assert!(pending.changes.is_empty(), "{:?}", pending.changes);
}

#[test]
fn a_first_sync_moves_the_checkpoint_past_what_the_window_left_out() {
    let fakes = Fakes::default();
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 10, 4))
        .reply("UID SEARCH SINCE", search(&[5, 6]))
        .reply("UID SEARCH UID 5:6 LARGER", search(&[]))
        .reply("UID FETCH 5:6 ", fetch(&[(5, "five"), (6, "six")]));
    let ran = run(&fakes, script, false);
    ran.pending();
    // UIDs 7 to 9 were gone before the run; none of them may be asked for again.
    assert_eq!(stored(&fakes).last_uid, 9);
}

#[test]
fn the_checkpoint_stops_before_the_batch_the_inbox_failed() {
    let mut fakes = batches_of(2);
    fakes.inbox = failing_on(13);
    save(&fakes, &synced(7, 10, Some(10)));
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 16, 15))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH UID 11:*", search(&[11, 12, 13, 14, 15]))
        .reply("UID SEARCH UID 11:15 LARGER", search(&[]))
        .reply("UID FETCH 11:12 ", fetch(&[(11, "a"), (12, "b")]))
        .reply("UID FETCH 13:14 ", fetch(&[(13, "c"), (14, "d")]))
        .reply("UID FETCH 15 ", fetch(&[(15, "e")]));
    let ran = run(&fakes, script, false);
    assert!(matches!(ran.outcome, Err(SyncError::Inbox(_))));
    assert_eq!(fakes.inbox.uids(), [11, 12]);
    assert_eq!(stored(&fakes).last_uid, 12);
}

#[test]
fn a_batch_finished_ahead_of_an_earlier_one_waits_for_it() {
    let fakes = batches_of(2);
    save(&fakes, &synced(7, 10, Some(10)));
    // The server answers the second fetch (tag A6) first, then fails the first (A5).
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 14, 13))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH UID 11:*", search(&[11, 12, 13]))
        .reply("UID SEARCH UID 11:13 LARGER", search(&[]))
        .reply("UID FETCH 11:12 ", "")
        .reply(
            "UID FETCH 13 ",
            fetch(&[(13, "c")]) + "A5 NO [UNAVAILABLE] later\r\n",
        );
    let ran = run(&fakes, script, false);
    assert!(
        matches!(&ran.outcome, Err(SyncError::Imap(ImapError::Protocol(why))) if why.contains("later")),
        "{:?}",
        ran.outcome.as_ref().err()
    );
    // Held for the batch before it, which never came: records reach the inbox in UID order.
    assert_eq!(fakes.inbox.uids(), Vec::<u32>::new());
    assert_eq!(checkpoints_written(&fakes), [10], "only the test's own");
}

#[test]
fn nothing_new_since_the_checkpoint_asks_for_no_search() {
    let fakes = Fakes::default();
    save(&fakes, &synced(7, 10, Some(10)));
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 11, 10))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]));
    let ran = run(&fakes, script, false);
    let pending = ran.pending();
    assert!(!ran.sent("UID SEARCH"), "{:?}", ran.transcript.commands());
    assert!(fakes.inbox.calls.borrow().is_empty());
    assert_eq!(pending.checkpoint.last_uid, 10);
    assert_eq!(pending.checkpoint.exists, Some(10));
}

#[test]
fn each_uid_asked_for_is_delivered_once_and_unasked_ones_are_dropped() {
    let fakes = Fakes::default();
    let answer = fetched_section(
        "BODY[]",
        &[(1, "one"), (1, "one again"), (9, "x"), (2, "two")],
    );
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 3, 2))
        .reply("UID SEARCH SINCE", search(&[1, 2]))
        .reply("UID SEARCH UID 1:2 LARGER", search(&[]))
        .reply("UID FETCH 1:2 ", answer + "{tag} OK done\r\n");
    let ran = run(&fakes, script, false);
    ran.pending();
    assert_eq!(*fakes.inbox.calls.borrow(), [(vec![1, 2], true)]);
    let first = fakes.inbox.get(1).expect("uid 1");
    assert_eq!(first.record.subject.as_deref(), Some("one"));
}
