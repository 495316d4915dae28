//! The events outbox: ids in order, events written with what they tell of, and a reader that
//! follows several writing nodes misses none.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use host_harness::inbox_store::{Location, NewMessage};
use serde_json::json;

use crate::Store;

fn delivery(key: &str, uid: u32) -> NewMessage {
    NewMessage {
        dedupe_key: key.into(),
        message_id: format!("{key}@x"),
        thread_key: format!("{key}@x"),
        subject: Some("s".into()),
        date_utc: "2026-01-01T00:00:00Z".into(),
        direction: "inbound",
        size: 10,
        truncated: false,
        folder: 0,
        flags: 0,
        location: Location {
            remote_folder: "INBOX".into(),
            uid_validity: 1,
            uid,
        },
        record_json: "{}".into(),
    }
}

pub fn events_come_back_in_order_after_the_last_id_seen(s: Store) {
    let db = &s.db;
    assert_eq!(db.events().events_latest_id().unwrap(), 0);
    let a = db
        .events()
        .event_append("mailbox.linked", "m1", &json!({ "x": 1 }))
        .unwrap();
    let b = db
        .events()
        .event_append("sync.failed", "m2", &json!({}))
        .unwrap();
    assert_eq!(db.events().events_latest_id().unwrap(), b);
    assert!(b > a);
    let all = db.events().events_after(0, 10).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].kind, "mailbox.linked");
    assert_eq!(all[0].mailbox, "m1");
    assert_eq!(all[0].data["x"], 1);
    assert!(all[0].at.ends_with('Z'), "a UTC time: {}", all[0].at);
    let later = db.events().events_after(a, 10).unwrap();
    assert_eq!(later.iter().map(|e| e.id).collect::<Vec<_>>(), [b]);
    assert_eq!(
        db.events().events_after(0, 1).unwrap().len(),
        1,
        "at most the limit"
    );
}

pub fn each_message_change_is_an_event_written_with_it(s: Store) {
    let db = &s.db;
    db.inbox()
        .inbox_deliver("a", &[delivery("k1", 1), delivery("k2", 2)])
        .unwrap();
    db.inbox().inbox_deliver("a", &[delivery("k1", 1)]).unwrap();
    let gone = host_harness::inbox_store::Change::Vanished(Location {
        remote_folder: "INBOX".into(),
        uid_validity: 1,
        uid: 2,
    });
    db.inbox().inbox_apply("a", &[gone]).unwrap();
    assert_eq!(
        db.events().events_after(0, 100).unwrap().len(),
        2,
        "no place left is no removal yet"
    );
    let unplaced = db.inbox().inbox_unplaced("a").unwrap();
    db.inbox().inbox_settle_unplaced("a", &unplaced).unwrap();
    let events = db.events().events_after(0, 100).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["message.created", "message.created", "message.removed"],
        "a redelivery raises nothing"
    );
    let messages = db.inbox().inbox_messages("a").unwrap();
    assert_eq!(events[0].data["message"], messages[0].id);
    assert_eq!(events[0].data["folder"], "inbox");
    assert!(events.iter().all(|e| e.mailbox == "a"));
}

pub fn a_reader_following_several_writing_nodes_misses_no_event(s: Store) {
    let writers: Vec<_> = (0..3).map(|_| s.open_again(&s.keys)).collect();
    let reader = s.open_again(&s.keys);
    let writing = AtomicBool::new(true);
    let seen = std::thread::scope(|scope| {
        let follower = scope.spawn(|| {
            let mut seen = Vec::new();
            let mut last = 0;
            loop {
                let done = !writing.load(Ordering::SeqCst);
                let batch = reader.events().events_after(last, 1000).unwrap();
                for event in &batch {
                    assert!(event.id > last, "ids only increase");
                    last = event.id;
                    seen.push(event.id);
                }
                if done && batch.is_empty() {
                    return seen;
                }
            }
        });
        let writing_nodes: Vec<_> = writers
            .iter()
            .enumerate()
            .map(|(n, db)| {
                scope.spawn(move || {
                    let mailbox = format!("n{n}");
                    for i in 0..25u32 {
                        let batch = [
                            delivery(&format!("k{i}a"), 2 * i + 1),
                            delivery(&format!("k{i}b"), 2 * i + 2),
                        ];
                        db.inbox().inbox_deliver(&mailbox, &batch).unwrap();
                        db.events()
                            .event_append("sync.failed", &mailbox, &json!({ "i": i }))
                            .unwrap();
                    }
                })
            })
            .collect();
        let written: Vec<_> = writing_nodes.into_iter().map(|n| n.join()).collect();
        // Stops the follower even when a writer failed.
        writing.store(false, Ordering::SeqCst);
        for node in written {
            node.unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
        follower.join().unwrap()
    });
    let stored: BTreeSet<i64> =
        s.db.events()
            .events_after(0, 10_000)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
    assert_eq!(stored.len(), 3 * 25 * 3);
    let followed: BTreeSet<i64> = seen.into_iter().collect();
    assert_eq!(
        stored.difference(&followed).collect::<Vec<_>>(),
        Vec::<&i64>::new(),
        "events the follower skipped"
    );
}

pub fn webhook_cursors_are_kept(s: Store) {
    assert_eq!(s.db.events().webhook_cursor("crm").unwrap(), None);
    s.db.events().set_webhook_cursor("crm", 7).unwrap();
    s.db.events().set_webhook_cursor("crm", 9).unwrap();
    s.db.events().set_webhook_cursor("audit", 1).unwrap();
    let other_node = s.open_again(&s.keys);
    assert_eq!(other_node.events().webhook_cursor("crm").unwrap(), Some(9));
}

pub fn a_dead_letter_is_kept_with_the_cursor_past_it_and_only_the_newest_stay(s: Store) {
    use host_harness::event_store::{DeadLetter, MAX_DEAD_LETTERS};
    let db = &s.db;
    let first = db
        .events()
        .event_append("message.created", "a", &json!({ "n": 1 }))
        .unwrap();
    db.events().set_webhook_cursor("crm", first - 1).unwrap();
    let event = db.events().events_after(first - 1, 1).unwrap().remove(0);
    let letter = DeadLetter {
        event: event.clone(),
        attempts: 20,
        error: "the receiver answered 500".into(),
        set_aside_at: String::new(),
    };
    db.events().webhook_dead_letter("crm", &letter).unwrap();
    assert_eq!(
        db.events().webhook_cursor("crm").unwrap(),
        Some(first),
        "the cursor moved past it"
    );
    let other_node = s.open_again(&s.keys);
    let kept = other_node.events().webhook_dead_letters("crm", 10).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].event, event, "the event as it was");
    assert_eq!(
        (kept[0].attempts, kept[0].error.as_str()),
        (20, "the receiver answered 500")
    );
    assert!(
        kept[0].set_aside_at.starts_with("20"),
        "{:?}",
        kept[0].set_aside_at
    );
    assert!(
        db.events()
            .webhook_dead_letters("audit", 10)
            .unwrap()
            .is_empty(),
        "per webhook"
    );
    // A cursor already past a letter's event stays where it is.
    db.events().set_webhook_cursor("crm", first + 5).unwrap();
    db.events().webhook_dead_letter("crm", &letter).unwrap();
    assert_eq!(db.events().webhook_cursor("crm").unwrap(), Some(first + 5));
    // Past the bound, the oldest go.
    let rows: Vec<String> = (0..MAX_DEAD_LETTERS + 2)
        .map(|i| format!("('crm', {}, '{{}}', 1, 'x')", first + 1000 + i))
        .collect();
    s.run_sql(&format!(
        "INSERT INTO webhook_dead_letters (webhook, event_id, event, attempts, error) VALUES {}",
        rows.join(",")
    ));
    let mut newest = letter.clone();
    newest.event.id = first + 1_000_000;
    db.events().webhook_dead_letter("crm", &newest).unwrap();
    assert_eq!(
        s.scalar("SELECT count(*) FROM webhook_dead_letters WHERE webhook = 'crm'"),
        MAX_DEAD_LETTERS
    );
    let page = db.events().webhook_dead_letters("crm", 2).unwrap();
    assert_eq!(
        page.len(),
        1,
        "a letter whose stored event does not read is left out"
    );
    assert_eq!(page[0].event.id, first + 1_000_000, "newest first");
}

pub fn no_event_a_webhook_has_not_taken_is_pruned_but_past_the_bound_the_gap_is_told(s: Store) {
    use host_harness::event_store::{DROPPED_KIND, KEPT_EVENTS, MAX_KEPT_EVENTS};
    let db = &s.db;
    for i in 0..10 {
        db.events()
            .event_append("x", "a", &json!({ "i": i }))
            .unwrap();
    }
    // A webhook that took the first five only.
    db.events().set_webhook_cursor("slow", 5).unwrap();
    let ids = |after: i64| -> Vec<i64> {
        let page = db.events().events_after(after, 100).unwrap();
        page.iter().map(|e| e.id).collect()
    };
    // The outbox jumps ahead (as after many events), and the next append prunes it.
    let jump = |to: i64| {
        s.run_sql(&format!(
            "INSERT INTO event_outbox (id, kind, mailbox, body) VALUES ({to}, 'x', 'a', '{{}}')"
        ));
        if db.backend_kind() == "postgres" {
            s.run_sql(&format!("SELECT setval('event_outbox_id_seq', {to})"));
        }
    };
    jump(2 * KEPT_EVENTS - 1);
    let last = db.events().event_append("x", "a", &json!({})).unwrap();
    assert_eq!(last % 1000, 0, "a pruning append");
    assert_eq!(
        &ids(5)[..5],
        [6, 7, 8, 9, 10],
        "what the webhook has not taken stays"
    );
    assert_eq!(ids(0).first(), Some(&6), "what it took goes");

    // Past the bound, the oldest go unread, and an event says which.
    jump(last + MAX_KEPT_EVENTS + 999);
    let last = db.events().event_append("x", "a", &json!({})).unwrap();
    let left = db.events().events_after(5, 100).unwrap();
    let cut = last - MAX_KEPT_EVENTS;
    assert!(left.iter().all(|e| e.id > cut), "{:?}", left.first());
    let told = left
        .iter()
        .find(|e| e.kind == DROPPED_KIND)
        .expect("the gap is told");
    assert_eq!(told.data, json!({ "after": 5, "through": cut }));
}

/// A webhook taken out of every node's settings leaves its cursor behind: once no node has
/// moved or marked it for a week, it holds no event back and goes; a cursor in use stays.
pub fn a_cursor_no_node_has_seen_for_a_week_holds_nothing_back_and_goes(s: Store) {
    use host_harness::event_store::{FORGOTTEN_CURSOR_MS, KEPT_EVENTS};
    let db = &s.db;
    for i in 0..10 {
        db.events()
            .event_append("x", "a", &json!({ "i": i }))
            .unwrap();
    }
    db.events().set_webhook_cursor("removed", 2).unwrap();
    db.events().set_webhook_cursor("failing", 5).unwrap();
    // Eight days pass; the failing webhook's node tries again, and marks its cursor.
    s.run_sql(&format!(
        "UPDATE webhook_cursors SET seen_ms = seen_ms - {}",
        FORGOTTEN_CURSOR_MS + 24 * 60 * 60 * 1000
    ));
    db.events().touch_webhook_cursor("failing").unwrap();
    s.run_sql(&format!(
        "INSERT INTO event_outbox (id, kind, mailbox, body) VALUES ({}, 'x', 'a', '{{}}')",
        2 * KEPT_EVENTS - 1
    ));
    if db.backend_kind() == "postgres" {
        s.run_sql(&format!(
            "SELECT setval('event_outbox_id_seq', {})",
            2 * KEPT_EVENTS - 1
        ));
    }
    let last = db.events().event_append("x", "a", &json!({})).unwrap();
    assert_eq!(last % 1000, 0, "a pruning append");
    assert_eq!(
        db.events().webhook_cursor("removed").unwrap(),
        None,
        "the forgotten cursor went"
    );
    assert_eq!(
        db.events().webhook_cursor("failing").unwrap(),
        Some(5),
        "the one in use stays"
    );
    let first = db.events().events_after(0, 1).unwrap()[0].id;
    assert_eq!(first, 6, "held back by the cursor in use only");
}

pub fn one_mailboxs_events_are_read_without_the_others(s: Store) {
    let db = &s.db;
    for i in 0..6 {
        let mailbox = if i % 2 == 0 { "a" } else { "b" };
        db.events()
            .event_append("x", mailbox, &json!({ "i": i }))
            .unwrap();
    }
    let of_a = db.events().events_of(Some("a"), 0, 100).unwrap();
    assert_eq!(of_a.len(), 3);
    assert!(of_a.iter().all(|e| e.mailbox == "a"), "{of_a:?}");
    // After one of its own, with a limit: the next of its own.
    let next = db.events().events_of(Some("a"), of_a[0].id, 1).unwrap();
    assert_eq!(next[0].id, of_a[1].id);
    assert_eq!(
        db.events().events_of(None, 0, 100).unwrap().len(),
        6,
        "all, for the platform"
    );
}
