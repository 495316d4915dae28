//! The mailboxes' outboxes: one entry per idempotency key, drafts sealed at rest and through a
//! key rotation, entries in order, and each state change written with its event.

use host_harness::at_rest::{KeyRing, SecretKey};
use host_harness::outbox_store::{NewOutboxEntry, OutboxKind, OutboxState, OutboxUpdate};

use crate::Store;

fn entry(mailbox: &str, id: &str, key: &str, now_ms: i64) -> NewOutboxEntry {
    NewOutboxEntry {
        id: id.into(),
        mailbox: mailbox.into(),
        kind: OutboxKind::Send,
        idempotency_key: key.into(),
        message_id: format!("{id}@example.nl"),
        digest: format!("digest-of-{key}"),
        now_ms,
    }
}

fn update(state: OutboxState, attempts: u32, next_ms: i64) -> OutboxUpdate {
    OutboxUpdate {
        state,
        attempts,
        next_attempt_ms: next_ms,
        outcome: None,
        now_ms: next_ms,
        event: None,
    }
}

pub fn the_same_key_is_the_same_entry_on_every_node(s: Store) {
    let db = &s.db;
    let (first, added) = db
        .outbox_add(&entry("a", "ob_1", "k1", 1_000), b"draft one")
        .unwrap();
    assert!(added);
    assert_eq!(first.state, OutboxState::Queued);
    assert_eq!((first.attempts, first.created_ms), (0, 1_000));
    // Another node, the same key: the first entry, its draft untouched.
    let other = s.open_again(&s.keys);
    let (again, added) = other
        .outbox_add(&entry("a", "ob_2", "k1", 2_000), b"draft two")
        .unwrap();
    assert!(!added);
    assert_eq!(again.id, "ob_1");
    assert_eq!(again.message_id, "ob_1@example.nl");
    assert_eq!(
        other.outbox_draft("a", "ob_1").unwrap().unwrap(),
        b"draft one"
    );
    assert!(other.outbox_entry("a", "ob_2").unwrap().is_none());
    // The same key in another mailbox is another entry; an entry is read only in its own.
    let (b, added) = db
        .outbox_add(&entry("b", "ob_3", "k1", 3_000), b"b's")
        .unwrap();
    assert!(added && b.id == "ob_3");
    assert!(db.outbox_entry("b", "ob_1").unwrap().is_none());
    assert!(db.outbox_draft("b", "ob_1").unwrap().is_none());
    assert_eq!(
        s.scalar("SELECT COUNT(*) FROM outbox_entries"),
        2,
        "one row per mailbox and key"
    );
}

pub fn drafts_are_sealed_and_survive_a_key_rotation(s: Store) {
    let old = SecretKey::generate();
    let db = s.open_again(&KeyRing::new(&old));
    db.outbox_add(&entry("a", "ob_1", "k1", 1_000), b"Dear candidate")
        .unwrap();
    let in_clear = if s.place_name().starts_with("path=") {
        "SELECT COUNT(*) FROM outbox_entries WHERE instr(draft, CAST('Dear candidate' AS BLOB)) > 0"
    } else {
        "SELECT COUNT(*) FROM outbox_entries WHERE position('Dear candidate'::bytea IN draft) > 0"
    };
    assert_eq!(s.scalar(in_clear), 0, "the draft is not stored in clear");
    assert_eq!(s.scalar("SELECT COUNT(*) FROM outbox_entries"), 1);
    let new = SecretKey::generate();
    assert_eq!(db.rotate_key(KeyRing::new(&new)).unwrap(), 1);
    drop(db);
    let db = s.open_again(&KeyRing::new(&new));
    assert_eq!(
        db.outbox_draft("a", "ob_1").unwrap().unwrap(),
        b"Dear candidate"
    );
    let db = s.open_again(&KeyRing::new(&old));
    assert!(
        db.outbox_draft("a", "ob_1").is_err(),
        "the old key no longer opens it"
    );
}

pub fn entries_go_in_order_and_each_change_comes_with_its_event(s: Store) {
    let db = &s.db;
    db.outbox_add(&entry("a", "ob_1", "k1", 1_000), b"1")
        .unwrap();
    db.outbox_add(&entry("a", "ob_2", "k2", 1_001), b"2")
        .unwrap();
    db.outbox_add(&entry("b", "ob_3", "k3", 1_002), b"3")
        .unwrap();
    assert_eq!(db.outbox_head("a").unwrap().unwrap().id, "ob_1");
    let mut due = db.outbox_due_mailboxes(1_500).unwrap();
    due.sort();
    assert_eq!(due, ["a", "b"]);
    // The first waits a minute after a temporary failure: it holds the second back.
    db.outbox_update("a", "ob_1", &update(OutboxState::Sending, 1, 1_500))
        .unwrap();
    db.outbox_update("a", "ob_1", &update(OutboxState::Queued, 1, 61_500))
        .unwrap();
    assert_eq!(db.outbox_head("a").unwrap().unwrap().id, "ob_1");
    assert_eq!(db.outbox_due_mailboxes(2_000).unwrap(), ["b"]);
    assert_eq!(db.outbox_due_mailboxes(61_500).unwrap().len(), 2);
    // Sent, with its event in the same write: the second is next.
    let events_before = db.events().events_latest_id().unwrap();
    let mut sent = update(OutboxState::Sent, 2, 61_600);
    sent.outcome = Some(serde_json::json!({ "outcome": "sent" }));
    sent.event = Some(("message.sent", serde_json::json!({ "entry": "ob_1" })));
    db.outbox_update("a", "ob_1", &sent).unwrap();
    let stored = db.outbox_entry("a", "ob_1").unwrap().unwrap();
    assert_eq!(stored.state, OutboxState::Sent);
    assert_eq!((stored.attempts, stored.updated_ms), (2, 61_600));
    assert_eq!(
        stored.outcome,
        Some(serde_json::json!({ "outcome": "sent" }))
    );
    let events = db.events().events_of(Some("a"), events_before, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "message.sent");
    assert_eq!(events[0].data, serde_json::json!({ "entry": "ob_1" }));
    assert_eq!(db.outbox_head("a").unwrap().unwrap().id, "ob_2");
    // Failed is final too: nothing of `a` is left to do.
    db.outbox_update("a", "ob_2", &update(OutboxState::Failed, 1, 61_700))
        .unwrap();
    assert!(db.outbox_head("a").unwrap().is_none());
    assert_eq!(db.outbox_due_mailboxes(100_000).unwrap(), ["b"]);
}

pub fn a_finished_entry_keeps_no_draft_and_goes_after_its_time(s: Store) {
    let db = &s.db;
    db.outbox_add(&entry("a", "ob_1", "k1", 1_000), b"sent one")
        .unwrap();
    db.outbox_add(&entry("a", "ob_2", "k2", 1_000), b"failed one")
        .unwrap();
    db.outbox_add(&entry("a", "ob_3", "k3", 1_000), b"still queued")
        .unwrap();
    db.outbox_update("a", "ob_1", &update(OutboxState::Sent, 1, 5_000))
        .unwrap();
    db.outbox_update("a", "ob_2", &update(OutboxState::Failed, 1, 6_000))
        .unwrap();
    assert!(
        db.outbox_draft("a", "ob_1").unwrap().is_none(),
        "no draft once sent"
    );
    assert!(
        db.outbox_draft("a", "ob_2").unwrap().is_none(),
        "nor once failed"
    );
    assert_eq!(
        db.outbox_draft("a", "ob_3").unwrap().unwrap(),
        b"still queued"
    );
    // A reopened database (which seals what it finds in clear) leaves the drafts that went.
    let reopened = s.open_again(&s.keys);
    assert_eq!(
        reopened.outbox_draft("a", "ob_3").unwrap().unwrap(),
        b"still queued"
    );
    let empty = if s.place_name().starts_with("path=") {
        "SELECT COUNT(*) FROM outbox_entries WHERE length(draft) = 0"
    } else {
        "SELECT COUNT(*) FROM outbox_entries WHERE octet_length(draft) = 0"
    };
    assert_eq!(s.scalar(empty), 2);
    assert_eq!(
        db.outbox_forget(5_000).unwrap(),
        0,
        "changed at 5,000: kept"
    );
    assert_eq!(db.outbox_forget(5_001).unwrap(), 1);
    assert!(db.outbox_entry("a", "ob_1").unwrap().is_none());
    assert_eq!(
        db.outbox_forget(1_000_000).unwrap(),
        1,
        "the open entry stays"
    );
    assert!(db.outbox_entry("a", "ob_3").unwrap().is_some());
    // Its key forgotten, it is a new send.
    let (again, added) = db
        .outbox_add(&entry("a", "ob_4", "k1", 9_000), b"anew")
        .unwrap();
    assert!(added && again.id == "ob_4");
}

pub fn an_action_is_an_entry_of_its_own_kind_in_the_same_order(s: Store) {
    let db = &s.db;
    db.outbox_add(&entry("a", "ob_1", "send", 1_000), b"draft")
        .unwrap();
    let action = NewOutboxEntry {
        kind: OutboxKind::Action,
        ..entry("a", "ob_2", "read", 1_001)
    };
    let (added, _) = db.outbox_add(&action, b"{\"seen\": true}").unwrap();
    assert_eq!(added.kind, OutboxKind::Action);
    assert_eq!(db.outbox_head("a").unwrap().unwrap().kind, OutboxKind::Send);
    db.outbox_update("a", "ob_1", &update(OutboxState::Sent, 1, 2_000))
        .unwrap();
    let head = db.outbox_head("a").unwrap().unwrap();
    assert_eq!((head.id.as_str(), head.kind), ("ob_2", OutboxKind::Action));
    db.outbox_update("a", "ob_2", &update(OutboxState::Applied, 1, 2_000))
        .unwrap();
    let applied = db.outbox_entry("a", "ob_2").unwrap().unwrap();
    assert_eq!(applied.state, OutboxState::Applied);
    assert!(
        db.outbox_head("a").unwrap().is_none(),
        "applied is finished"
    );
    assert!(
        db.outbox_draft("a", "ob_2").unwrap().is_none(),
        "its draft went"
    );
    // Forgotten with the sent ones once their time is past.
    assert_eq!(db.outbox_forget(3_000).unwrap(), 2);
}
