//! The CRM's inbox: redelivery, priority between folders, flags, vanished UIDs, resets, pages
//! and sync reports.

use host_harness::inbox_store::{Change, DeliveryCounts, FLAGGED, Location, NewMessage, SEEN};

use crate::Store;

pub(crate) fn at(folder: &str, uid: u32) -> Location {
    Location {
        remote_folder: folder.into(),
        uid_validity: 1,
        uid,
    }
}

pub(crate) fn message(key: &str, folder: u8, location: Location) -> NewMessage {
    NewMessage {
        dedupe_key: key.into(),
        message_id: format!("{key}@x"),
        thread_key: format!("{key}@x"),
        subject: None,
        date_utc: "2026-01-01T00:00:00Z".into(),
        direction: "inbound",
        size: 10,
        truncated: false,
        folder,
        flags: 0,
        location,
        record_json: "{}".into(),
    }
}

/// Removes the mailbox's messages with no place left, as a whole pass that found them nowhere
/// does; the ids removed.
fn settle(db: &host_harness::Database, mailbox: &str) -> Vec<i64> {
    let unplaced = db.inbox().inbox_unplaced(mailbox).unwrap();
    let removed = db
        .inbox()
        .inbox_settle_unplaced(mailbox, &unplaced)
        .unwrap();
    removed.into_iter().map(|(id, _)| id).collect()
}

fn counts(created: u32, updated: u32, unchanged: u32) -> DeliveryCounts {
    DeliveryCounts {
        created,
        updated,
        unchanged,
    }
}

pub fn redelivery_stores_nothing_twice(s: Store) {
    let db = &s.db;
    let batch = [
        message("1", 0, at("INBOX", 1)),
        message("2", 0, at("INBOX", 2)),
    ];
    assert_eq!(
        db.inbox().inbox_deliver("a", &batch).unwrap(),
        counts(2, 0, 0)
    );
    assert_eq!(
        db.inbox().inbox_deliver("a", &batch).unwrap(),
        counts(0, 0, 2)
    );
    assert_eq!(db.inbox().inbox_messages("a").unwrap().len(), 2);
    assert_eq!(
        db.inbox().inbox_deliver("b", &batch[..1]).unwrap(),
        counts(1, 0, 0)
    );
}

pub fn a_message_in_two_folders_shows_in_the_first_by_priority(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver("a", &[message("k", 2, at("Archive", 7))])
        .unwrap();
    // Found in the inbox too: the same record, now shown there.
    assert_eq!(
        db.inbox()
            .inbox_deliver("a", &[message("k", 0, at("INBOX", 3))])
            .unwrap(),
        counts(0, 1, 0)
    );
    let m = &db.inbox().inbox_messages("a").unwrap()[0];
    assert_eq!(m.folder, "inbox");
    assert_eq!(m.locations.len(), 2);
    // Leaving the inbox moves it back to the archive; leaving both leaves it without a place,
    // shown where it was until a whole pass finds it nowhere.
    let gone = db
        .inbox()
        .inbox_apply("a", &[Change::Vanished(at("INBOX", 3))])
        .unwrap();
    assert_eq!((gone.updated, gone.removed), (1, 0));
    assert_eq!(db.inbox().inbox_messages("a").unwrap()[0].folder, "archive");
    let gone = db
        .inbox()
        .inbox_apply("a", &[Change::Vanished(at("Archive", 7))])
        .unwrap();
    assert_eq!((gone.updated, gone.removed), (0, 0));
    let m = &db.inbox().inbox_messages("a").unwrap()[0];
    assert!(!m.removed && m.locations.is_empty());
    assert_eq!(m.folder, "archive");
    assert_eq!(db.inbox().inbox_unplaced("a").unwrap(), [m.id]);
    let removed = db.inbox().inbox_settle_unplaced("a", &[m.id]).unwrap();
    assert_eq!(removed, [(m.id, 2)], "removed from the archive");
    let m = &db.inbox().inbox_messages("a").unwrap()[0];
    assert!(m.removed);
    assert_eq!(m.updates, ["moved to inbox", "moved to archive", "removed"]);
    assert!(db.inbox().inbox_unplaced("a").unwrap().is_empty());
    assert!(
        db.inbox()
            .inbox_settle_unplaced("a", &[m.id])
            .unwrap()
            .is_empty(),
        "once"
    );
}

/// A message that leaves the inbox for the archive: the inbox's change is seen first, then the
/// archive's delivery. Its events say it moved; none says it was removed.
pub fn a_message_moved_between_folders_is_never_removed(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver("a", &[message("k", 0, at("INBOX", 3))])
        .unwrap();
    let before = db.events().events_latest_id().unwrap();
    db.inbox()
        .inbox_apply("a", &[Change::Vanished(at("INBOX", 3))])
        .unwrap();
    let unplaced = db.inbox().inbox_unplaced("a").unwrap();
    assert_eq!(unplaced.len(), 1);
    assert_eq!(
        db.inbox()
            .inbox_deliver("a", &[message("k", 2, at("Archive", 9))])
            .unwrap(),
        counts(0, 1, 0)
    );
    // The pass ends: what was without a place before it has one again.
    assert!(
        db.inbox()
            .inbox_settle_unplaced("a", &unplaced)
            .unwrap()
            .is_empty()
    );
    assert!(db.inbox().inbox_unplaced("a").unwrap().is_empty());
    let m = &db.inbox().inbox_messages("a").unwrap()[0];
    assert!(!m.removed);
    assert_eq!(m.folder, "archive");
    let events = db.events().events_after(before, 100).unwrap();
    let told: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.data["change"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(told, [("message.updated", "moved")]);
}

pub fn flags_change_once_and_unknown_locations_are_counted(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver("a", &[message("k", 0, at("INBOX", 1))])
        .unwrap();
    let flags = Change::Flags(at("INBOX", 1), SEEN | FLAGGED);
    let first = db
        .inbox()
        .inbox_apply("a", std::slice::from_ref(&flags))
        .unwrap();
    let again = db
        .inbox()
        .inbox_apply("a", &[flags, Change::Vanished(at("INBOX", 9))])
        .unwrap();
    assert_eq!(first.updated, 1);
    assert_eq!((again.updated, again.unknown), (0, 1));
    let m = &db.inbox().inbox_messages("a").unwrap()[0];
    assert!(m.seen && m.flagged && !m.answered);
}

pub fn vanished_uids_of_a_folder_go_together_and_in_order(s: Store) {
    let db = &s.db;
    let batch: Vec<NewMessage> = (1..=4)
        .map(|uid| message(&format!("k{uid}"), 0, at("INBOX", uid)))
        .chain([message("a1", 2, at("Archive", 1))])
        .collect();
    db.inbox().inbox_deliver("a", &batch).unwrap();
    let flags_of_3 = Change::Flags(at("INBOX", 3), SEEN);
    let changes = [
        // One run: UID 1 twice (the second is no longer known) and UID 9, never known.
        Change::Vanished(at("INBOX", 1)),
        Change::Vanished(at("INBOX", 1)),
        Change::Vanished(at("INBOX", 9)),
        Change::Vanished(at("INBOX", 2)),
        // Another folder's run, then flags of a UID that vanishes after them.
        Change::Vanished(at("Archive", 1)),
        flags_of_3.clone(),
        Change::Vanished(at("INBOX", 3)),
        // A UID that vanished already in this batch.
        Change::Flags(at("INBOX", 2), SEEN),
    ];
    let counts = db.inbox().inbox_apply("a", &changes).unwrap();
    assert_eq!((counts.unknown, counts.updated, counts.removed), (3, 0, 0));
    let mut placed: Vec<String> = db
        .inbox()
        .inbox_messages("a")
        .unwrap()
        .into_iter()
        .filter(|m| !m.locations.is_empty())
        .map(|m| m.dedupe_key)
        .collect();
    placed.sort();
    assert_eq!(placed, ["k4"]);
    assert_eq!(settle(db, "a").len(), 4);
}

pub fn uids_missing_from_a_present_list_have_vanished(s: Store) {
    let db = &s.db;
    let batch: Vec<NewMessage> = (1..=4)
        .map(|uid| message(&format!("k{uid}"), 0, at("INBOX", uid)))
        .collect();
    db.inbox().inbox_deliver("a", &batch).unwrap();
    // UID 2 is gone; UID 4 is above `up_to`, so the list says nothing about it.
    let present = Change::Present("INBOX".into(), 1, 3, vec![1, 3]);
    let counts = db.inbox().inbox_apply("a", &[present]).unwrap();
    assert_eq!((counts.updated, counts.removed), (0, 0));
    assert_eq!(settle(db, "a").len(), 1);
    let removed: Vec<String> = db
        .inbox()
        .inbox_messages("a")
        .unwrap()
        .into_iter()
        .filter(|m| m.removed)
        .map(|m| m.dedupe_key)
        .collect();
    assert_eq!(removed, ["k2"]);
}

pub fn a_folder_reset_forgets_the_old_uids_only(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver(
            "a",
            &[
                message("k", 0, at("INBOX", 1)),
                message("gone", 0, at("INBOX", 2)),
            ],
        )
        .unwrap();
    let mut rescanned = message("k", 0, at("INBOX", 1));
    rescanned.location.uid_validity = 2;
    assert_eq!(
        db.inbox().inbox_deliver("a", &[rescanned]).unwrap(),
        counts(0, 0, 1)
    );
    let reset = db
        .inbox()
        .inbox_apply("a", &[Change::FolderReset("INBOX".into(), 2)])
        .unwrap();
    assert_eq!((reset.updated, reset.removed), (0, 0));
    assert_eq!(settle(db, "a").len(), 1);
    let messages = db.inbox().inbox_messages("a").unwrap();
    assert_eq!(messages.iter().filter(|m| m.removed).count(), 1);
}

pub fn a_location_that_changes_record_leaves_the_old_one(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver("a", &[message("first-key", 0, at("INBOX", 1))])
        .unwrap();
    // The same UID delivered again under another key: the first record has no place left.
    db.inbox()
        .inbox_deliver("a", &[message("second-key", 0, at("INBOX", 1))])
        .unwrap();
    let messages = db.inbox().inbox_messages("a").unwrap();
    let first = messages
        .iter()
        .find(|m| m.dedupe_key == "first-key")
        .unwrap();
    assert!(!first.removed && first.locations.is_empty());
    assert_eq!(settle(db, "a"), [first.id]);
}

pub fn one_mailboxs_changes_never_touch_another_mailboxs_locations(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver("a", &[message("k", 0, at("INBOX", 3))])
        .unwrap();
    // Mailbox b names a's exact location: vanished, flagged, reset, and absent from `present`.
    let changes = [
        Change::Flags(at("INBOX", 3), SEEN),
        Change::Vanished(at("INBOX", 3)),
        Change::FolderReset("INBOX".into(), 2),
        Change::Present("INBOX".into(), 1, 10, vec![]),
    ];
    let counts = db.inbox().inbox_apply("b", &changes).unwrap();
    assert_eq!((counts.updated, counts.removed), (0, 0), "{counts:?}");
    let a = db.inbox().inbox_messages("a").unwrap();
    assert_eq!(a.len(), 1);
    assert!(!a[0].removed && !a[0].seen, "{:?}", a[0]);
    assert_eq!(a[0].locations, [("INBOX".to_string(), 3)]);
}

pub fn pages_go_from_the_newest_delivery_back(s: Store) {
    let db = &s.db;
    let batch: Vec<NewMessage> = (1..=5)
        .map(|uid| message(&format!("k{uid}"), 0, at("INBOX", uid)))
        .collect();
    db.inbox().inbox_deliver("a", &batch).unwrap();
    db.inbox().inbox_deliver("b", &batch[..1]).unwrap();
    let first = db.inbox().inbox_page("a", None, 2).unwrap();
    let keys = |page: &[host_harness::inbox_store::MessageSummary]| {
        page.iter()
            .map(|m| m.message.dedupe_key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&first), ["k5", "k4"]);
    let next = db
        .inbox()
        .inbox_page("a", Some(first[1].message.id), 10)
        .unwrap();
    assert_eq!(keys(&next), ["k3", "k2", "k1"]);
    assert!(
        db.inbox()
            .inbox_page("a", Some(next[2].message.id), 10)
            .unwrap()
            .is_empty()
    );
}

pub fn a_page_lists_the_first_senders_never_the_record(s: Store) {
    let db = &s.db;
    let senders: Vec<serde_json::Value> = (0..1000)
        .map(|i| serde_json::json!({ "name": format!("Sender {i}"), "address": format!("s{i}@example.org") }))
        .collect();
    let record = serde_json::json!({
        "record": { "from": senders, "text": "x".repeat(1 << 20), "html": "<p>y</p>".repeat(1 << 17) }
    });
    let mut big = message("big", 0, at("INBOX", 1));
    big.record_json = record.to_string();
    let mut bare = message("bare", 0, at("INBOX", 2));
    bare.record_json = "{}".into();
    db.inbox().inbox_deliver("a", &[big, bare]).unwrap();
    let page = db.inbox().inbox_page("a", None, 10).unwrap();
    assert_eq!(page.len(), 2);
    let (bare, big) = (&page[0], &page[1]);
    assert_eq!(bare.from, serde_json::json!([]), "a record without senders");
    let listed = big.from.as_array().expect("a list");
    assert_eq!(listed.len(), host_harness::inbox_store::LISTED_SENDERS);
    assert_eq!(listed[0]["address"], "s0@example.org");
    assert_eq!(listed[4]["address"], "s4@example.org");
    assert!(
        big.message.record_json.is_empty(),
        "the record stays in the store"
    );
    let shown = serde_json::to_string(&page).unwrap();
    assert!(
        shown.len() < 4096,
        "a page of two is small: {} bytes",
        shown.len()
    );
}

pub fn sync_reports_come_back_newest_first(s: Store) {
    let db = &s.db;
    assert_eq!(db.inbox().last_sync_run("a").unwrap(), None);
    for i in 0..3 {
        db.inbox()
            .record_sync_run("a", &format!("{{\"run\":{i}}}"))
            .unwrap();
    }
    db.inbox().record_sync_run("b", "{}").unwrap();
    let runs = db.inbox().sync_runs("a", 2).unwrap();
    let reports: Vec<&str> = runs.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(reports, [r#"{"run":2}"#, r#"{"run":1}"#]);
    assert!(runs[0].0.ends_with('Z'), "a UTC time: {}", runs[0].0);
    assert_eq!(
        db.inbox().last_sync_run("a").unwrap().as_deref(),
        Some(r#"{"run":2}"#)
    );
}

/// One batch mixing every case, so a backend that writes the usual message in bulk ends as if
/// each had been delivered in turn.
pub fn a_mixed_batch_ends_as_if_delivered_in_order(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver(
            "a",
            &[
                message("old", 0, at("INBOX", 1)),
                message("kept", 2, at("Archive", 1)),
            ],
        )
        .unwrap();
    let after_first = db.events().events_latest_id().unwrap();
    let batch = [
        message("new-1", 0, at("INBOX", 2)),
        // The same message found in the archive too: one record, two places, still shown in
        // the inbox.
        message("new-1", 2, at("Archive", 2)),
        // A place an older record held, under a new key: the older record has no place left.
        message("new-2", 0, at("INBOX", 1)),
        message("new-3", 0, at("INBOX", 3)),
        // Found again where it was: unchanged; then in the inbox as well: shown there.
        message("kept", 2, at("Archive", 1)),
        message("kept", 0, at("INBOX", 4)),
        message("new-4", 0, at("INBOX", 5)),
    ];
    assert_eq!(
        db.inbox().inbox_deliver("a", &batch).unwrap(),
        counts(4, 1, 2)
    );
    let messages = db.inbox().inbox_messages("a").unwrap();
    let find = |key: &str| messages.iter().find(|m| m.dedupe_key == key).unwrap();
    assert_eq!(messages.len(), 6);
    assert!(!find("old").removed && find("old").locations.is_empty());
    assert_eq!(db.inbox().inbox_unplaced("a").unwrap(), [find("old").id]);
    assert_eq!(find("new-1").locations.len(), 2);
    assert_eq!(find("new-1").folder, "inbox");
    assert_eq!(find("kept").folder, "inbox");
    assert_eq!(find("new-2").locations, [("INBOX".to_string(), 1)]);
    // Ids in the batch's order, and its events in order too.
    let ids: Vec<i64> = ["new-1", "new-2", "new-3", "new-4"]
        .iter()
        .map(|k| find(k).id)
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let events = db.events().events_after(after_first, 100).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message.created",
            "message.created",
            "message.created",
            "message.updated",
            "message.created"
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id + 1 == w[1].id));
}

pub fn a_move_the_crm_made_replaces_the_place_and_its_sync_finds_nothing_new(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver(
            "a",
            &[
                message("k", 0, at("INBOX", 3)),
                message("k", 2, at("All Mail", 8)),
            ],
        )
        .unwrap();
    let id = db.inbox().inbox_messages("a").unwrap()[0].id;
    let places = db.inbox().inbox_places("a", id).unwrap().expect("known");
    assert_eq!(places.message_id, "k@x");
    assert_eq!(places.folder, 0);
    assert_eq!(
        places.places,
        vec![(at("INBOX", 3), 0, 0), (at("All Mail", 8), 2, 0)],
        "by CRM folder order"
    );
    assert!(
        db.inbox().inbox_places("b", id).unwrap().is_none(),
        "another mailbox's"
    );
    let before = db.events().events_latest_id().unwrap();
    // Archived as Gmail does it: the INBOX place goes, onto the All Mail place it already had.
    let moved = Change::Moved {
        from: at("INBOX", 3),
        to: at("All Mail", 8),
        folder: 2,
        flags: SEEN,
    };
    let applied = db
        .inbox()
        .inbox_apply("a", std::slice::from_ref(&moved))
        .unwrap();
    assert_eq!(applied.updated, 1);
    let m = &db.inbox().inbox_messages("a").unwrap()[0];
    assert_eq!(m.folder, "archive");
    assert_eq!(m.locations, vec![("All Mail".to_string(), 8)]);
    assert!(m.seen && !m.removed);
    // Applied again (a retry after a crash), it finds nothing at the old place.
    assert_eq!(db.inbox().inbox_apply("a", &[moved]).unwrap().unknown, 1);
    // The sync then sees the INBOX UID gone and the message where it is: nothing new.
    db.inbox()
        .inbox_apply("a", &[Change::Vanished(at("INBOX", 3))])
        .unwrap();
    let mut again = message("k", 2, at("All Mail", 8));
    again.flags = SEEN;
    assert_eq!(
        db.inbox().inbox_deliver("a", &[again]).unwrap(),
        counts(0, 0, 1)
    );
    let events = db.events().events_after(before, 100).unwrap();
    let told: Vec<&str> = events
        .iter()
        .map(|e| e.data["change"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(told, ["moved"], "one event, for the CRM's own move");
}
