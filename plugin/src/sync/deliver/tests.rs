//! Isolating a message the inbox will not take: a refused batch goes again one record at a time,
//! a record refused alone goes as its headers only, and a suspect from a run that died as well.

use super::super::suspect::{self, Suspect};
use super::super::testing::*;
use super::super::{Delivery, InboxFailure, SyncError};
use super::headers_only;
use crate::ports::Level;
use crate::ports::fakes::{FakeInbox, Fakes, Script};
use crate::record::{MailboxAddress, ParseWarning};

/// An inbox that refuses, for its content, any record with subject "poison" that still has its
/// body; with `even_headers`, its headers-only record as well.
fn refusing_poison(even_headers: bool) -> FakeInbox {
    FakeInbox::judged(move |d: &Delivery| {
        let poison = d.record.subject.as_deref() == Some("poison");
        (poison && (even_headers || !d.record.text_body.is_empty())).then(|| InboxFailure {
            refused_content: true,
            message: "record rejected: invalid content".into(),
        })
    })
}

/// A folder synced to UID 10 with UIDs 11 to 13 new, 12 being the poison.
fn three_new(fakes: &Fakes) -> Ran {
    save(fakes, &synced(7, 10, Some(10)));
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 14, 13))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH UID 11:*", search(&[11, 12, 13]))
        .reply("UID SEARCH UID 11:13 LARGER", search(&[]))
        .reply(
            "UID FETCH 11:13 ",
            fetch(&[(11, "a"), (12, "poison"), (13, "c")]),
        );
    run(fakes, script, false)
}

#[test]
fn a_record_refused_for_its_content_goes_alone_then_as_its_headers_only() {
    let fakes = Fakes {
        inbox: refusing_poison(false),
        ..Fakes::default()
    };
    let ran = three_new(&fakes);
    ran.pending();
    let calls = fakes.inbox.calls.borrow().clone();
    let expected = [
        (vec![11, 12, 13], false),
        (vec![11], true),
        (vec![12], false),
        (vec![12], true),
        (vec![13], true),
    ];
    assert_eq!(calls, expected);
    let kept = fakes.inbox.get(12).expect("kept").record;
    assert!(kept.truncated && kept.text_body.is_empty());
    assert_eq!(kept.subject.as_deref(), Some("poison"));
    let reason = ParseWarning::HeadersOnly("record rejected: invalid content".into());
    assert_eq!(kept.warnings.last(), Some(&reason));
    assert!(!fakes.inbox.get(11).expect("kept").record.truncated);
    assert_eq!((ran.report.created, ran.report.truncated), (3, 1));
    assert_eq!(stored(&fakes).last_uid, 13, "the checkpoint moved past it");
    let warned = fakes.log.at(Level::Warn);
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0].field("uid"), Some("12"));
}

#[test]
fn a_headers_only_record_refused_too_goes_bare_and_the_folder_goes_on() {
    let fakes = Fakes {
        inbox: refusing_poison(true),
        ..Fakes::default()
    };
    let ran = three_new(&fakes);
    ran.pending();
    let kept = fakes.inbox.get(12).expect("kept").record;
    assert!(kept.truncated && kept.text_body.is_empty());
    assert_eq!((kept.subject.as_deref(), kept.from.len()), (None, 0));
    assert_eq!(kept.message_id, "12@example.com");
    let reason = ParseWarning::HeadersOnly("record rejected: invalid content".into());
    assert_eq!(kept.warnings, [reason]);
    assert_eq!(fakes.inbox.uids(), [11, 12, 13]);
    assert_eq!(stored(&fakes).last_uid, 13, "the checkpoint moved past it");
}

#[test]
fn an_inbox_failure_not_about_content_is_not_retried_in_parts() {
    let fakes = Fakes {
        inbox: failing_on(12),
        ..Fakes::default()
    };
    let ran = three_new(&fakes);
    assert!(matches!(&ran.outcome, Err(SyncError::Inbox(f)) if !f.refused_content));
    assert_eq!(*fakes.inbox.calls.borrow(), [(vec![11, 12, 13], false)]);
    assert_eq!(stored(&fakes).last_uid, 10);
}

#[test]
fn a_large_message_normalised_whole_is_no_suspect_when_the_run_fails_after() {
    let fakes = Fakes {
        inbox: failing_on(11),
        ..Fakes::default()
    };
    save(&fakes, &synced(7, 10, Some(10)));
    let large = "x".repeat(suspect::SUSPECT_BYTES + 1024);
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 12, 11))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH UID 11:*", search(&[11]))
        .reply("UID SEARCH UID 11:11 LARGER", search(&[]))
        .reply("UID FETCH 11 ", fetch(&[(11, &large)]));
    let ran = run(&fakes, script, false);
    assert!(
        matches!(&ran.outcome, Err(SyncError::Inbox(_))),
        "{:?}",
        ran.outcome.as_ref().err()
    );
    let suspects: Vec<bool> = fakes
        .kv
        .history
        .borrow()
        .iter()
        .filter(|(key, _)| key.starts_with("sync/suspect/"))
        .map(|(_, value)| value.is_some())
        .collect();
    assert_eq!(
        suspects,
        [true, false],
        "written down before it was normalised, taken back after"
    );
    assert_eq!(
        suspect::load(&fakes.kv, FOLDER).expect("readable"),
        None,
        "normalising it ended, so the failure after is not its fault"
    );
}

#[test]
fn a_suspect_from_a_run_that_died_is_fetched_as_headers_and_then_forgotten() {
    let fakes = Fakes::default();
    save(&fakes, &synced(7, 10, Some(10)));
    let location = Suspect {
        uid_validity: 7,
        uid: 12,
    };
    suspect::save(&fakes.kv, FOLDER, location).expect("saved");
    let header_items = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])";
    let script = Script::new(GREETING)
        .reply("EXAMINE", examine(7, 13, 12))
        .reply("UID FETCH 1:10 (UID FLAGS)", flags(&[]))
        .reply("UID SEARCH UID 11:*", search(&[11, 12]))
        .reply("UID SEARCH UID 11:12 LARGER", search(&[]))
        .reply("UID FETCH 11 ", fetch(&[(11, "a")]))
        .reply(
            &format!("UID FETCH 12 {header_items}"),
            fetched_section("BODY[HEADER]", &[(12, "big")]) + "{tag} OK done\r\n",
        );
    let ran = run(&fakes, script, false);
    ran.pending();
    let kept = fakes.inbox.get(12).expect("kept").record;
    assert!(kept.truncated);
    let reason = ParseWarning::HeadersOnly(suspect::REASON.into());
    assert!(kept.warnings.contains(&reason), "{:?}", kept.warnings);
    assert!(!fakes.inbox.get(11).expect("kept").record.truncated);
    assert_eq!(suspect::load(&fakes.kv, FOLDER).expect("readable"), None);
    assert_eq!(stored(&fakes).last_uid, 12);
}

#[test]
fn headers_only_drops_bodies_and_cuts_lists_and_texts_but_keeps_the_key() {
    let fakes = Fakes::default();
    let ran = three_new(&fakes);
    ran.pending();
    let mut delivery = fakes.inbox.get(11).expect("delivered");
    assert!(!delivery.record.text_body.is_empty());
    let someone = MailboxAddress {
        name: None,
        address: "x@example.com".into(),
    };
    delivery.record.to = vec![someone; 150];
    delivery.record.subject = Some("é".repeat(3000));
    let kept = headers_only(&delivery, &"why ".repeat(2000));
    let r = &kept.record;
    assert!(r.truncated && r.text_body.is_empty() && r.html_body.is_none());
    assert_eq!(r.to.len(), 100);
    assert_eq!(r.dedupe_key, delivery.record.dedupe_key);
    let subject = r.subject.as_deref().expect("kept");
    assert!(subject.len() <= 4096 && subject.starts_with('é'));
    match r.warnings.last() {
        Some(ParseWarning::HeadersOnly(why)) => {
            assert!(why.len() <= 4096 && why.starts_with("why"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kept.location, delivery.location);
}
