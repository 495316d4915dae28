//! The plugin's storage: scoped per mailbox, sealed, within its quota, exact under two nodes.

use host_harness::admin_store::{AdminChoices, AdminChoicesStore};
use host_harness::at_rest::{KeyRing, SealError, SecretKey};
use host_harness::db::{KvWrite, KvWriteError, Quota, StoreError};
use host_harness::settings::PlatformSettings;

use crate::Store;

fn set(key: &str, value: &[u8]) -> KvWrite {
    KvWrite::Set(key.into(), value.to_vec())
}

fn quota() -> Quota {
    Quota {
        bytes: 10_000,
        keys: 5,
    }
}

pub fn storage_is_scoped_per_mailbox(s: Store) {
    s.db.kv_write("a", &[set("k", b"1")]).unwrap();
    assert_eq!(s.db.kv_get("a", "k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.db.kv_get("b", "k").unwrap(), None);
    assert!(s.db.kv_list("b", "").unwrap().is_empty());
    s.db.kv_write("a", &[KvWrite::Delete("k".into())]).unwrap();
    assert_eq!(s.db.kv_get("a", "k").unwrap(), None);
}

pub fn list_by_prefix_is_sorted_and_treats_wildcards_literally(s: Store) {
    let keys = ["fx/1", "f%/2", "g", "f%/1", "f%/Ä", "f%/Z", "F%/0"];
    let writes: Vec<KvWrite> = keys.iter().map(|k| set(k, b"")).collect();
    s.db.kv_write("a", &writes).unwrap();
    // Byte order, as SQLite compares: "Z" < "Ä", and nothing folds case.
    assert_eq!(
        s.db.kv_list("a", "f%/").unwrap(),
        ["f%/1", "f%/2", "f%/Z", "f%/Ä"]
    );
    assert_eq!(s.db.kv_list("a", "").unwrap().len(), keys.len());
}

pub fn values_open_only_with_the_key_they_were_sealed_with(s: Store) {
    s.db.kv_write("a", &[set("tokens", b"refresh-xyz")])
        .unwrap();
    let same = s.open_again(&s.keys);
    assert_eq!(same.kv_get("a", "tokens").unwrap().unwrap(), b"refresh-xyz");
    let other = s.open_again(&KeyRing::ephemeral());
    assert!(
        other.kv_get("a", "tokens").is_err(),
        "another key does not open it"
    );
}

pub fn a_value_in_clear_is_refused_until_the_next_open_seals_it(s: Store) {
    s.write_in_clear("a", "tokens", b"refresh-in-clear");
    // The database was sealed when it was opened: a value in clear now is not trusted.
    let refused = s.db.kv_get("a", "tokens");
    assert!(
        matches!(refused, Err(StoreError::Unreadable(SealError::NotSealed))),
        "{refused:?}"
    );
    // The next open (a node starting) seals it, and it opens from then on, on every node.
    let reopened = s.open_again(&s.keys);
    assert_eq!(
        reopened.kv_get("a", "tokens").unwrap().as_deref(),
        Some(&b"refresh-in-clear"[..])
    );
    assert_eq!(
        s.db.kv_get("a", "tokens").unwrap().as_deref(),
        Some(&b"refresh-in-clear"[..])
    );
}

pub fn a_handle_has_the_database_alone_only_while_no_other_has_it_open(s: Store) {
    tests::secrets::capture_logs();
    let other = s.open_again(&s.keys);
    let refused = s.db.sole_use();
    assert!(
        matches!(refused, Err(StoreError::InUse(_))),
        "{:?}",
        refused.err()
    );
    assert!(matches!(other.sole_use(), Err(StoreError::InUse(_))));
    drop(other);
    // Alone once the other has closed: on PostgreSQL, as soon as the server has seen its
    // connection go (asynchronously, so asked again for a while).
    let started = std::time::Instant::now();
    let alone = loop {
        match s.db.sole_use() {
            Ok(alone) => break alone,
            Err(e) => assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "not alone after the other closed: {e}"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // Meanwhile nobody else gets in: an open waits, and is let in when the guard drops.
    let opening = std::thread::scope(|scope| {
        let (started, starting) = std::sync::mpsc::channel();
        let s = &s;
        let opening = scope.spawn(move || {
            started.send(()).unwrap();
            s.open_again(&s.keys)
        });
        starting.recv().unwrap();
        // The open says when it found the database held alone and began to wait.
        let waiting = s.place_name();
        let asked = std::time::Instant::now();
        while !tests::secrets::captured_text().lines().any(|l| {
            l.contains("has the database alone") && l.split_whitespace().any(|w| w == waiting)
        }) {
            assert!(
                !opening.is_finished(),
                "an open went ahead while a handle was alone"
            );
            assert!(
                asked.elapsed() < std::time::Duration::from_secs(20),
                "the open neither waited nor went ahead"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            !opening.is_finished(),
            "an open waits while a handle is alone"
        );
        drop(alone);
        opening.join().expect("opened")
    });
    assert!(opening.kv_get("a", "k").unwrap().is_none());
}

pub fn rotating_the_key_keeps_every_value(s: Store) {
    let old = SecretKey::generate();
    let db = s.open_again(&KeyRing::new(&old));
    db.kv_write("a", &[set("k", b"v1")]).unwrap();
    db.kv_write("b", &[set("k", b"v2")]).unwrap();
    let new = SecretKey::generate();
    assert_eq!(db.rotate_key(KeyRing::new(&new)).unwrap(), 2);
    assert_eq!(db.kv_get("a", "k").unwrap().unwrap(), b"v1");
    drop(db);
    // Only the new key is needed from now on.
    let db = s.open_again(&KeyRing::new(&new));
    assert_eq!(db.kv_get("a", "k").unwrap().unwrap(), b"v1");
    assert_eq!(db.kv_get("b", "k").unwrap().unwrap(), b"v2");
    let db = s.open_again(&KeyRing::new(&old));
    assert!(
        db.kv_get("a", "k").is_err(),
        "the old key no longer opens it"
    );
}

pub fn a_storage_fill_past_the_quota_is_refused_whole_and_deleting_still_works(s: Store) {
    let db = &s.db;
    let big = |k: &str| KvWrite::Set(k.into(), vec![b'x'; 4_000]);
    db.kv_write_within("a", &[big("k1"), big("k2")], Some(quota()))
        .unwrap();
    let before = db.kv_usage("a").unwrap();
    assert_eq!(before.keys, 2);
    match db.kv_write_within("a", &[big("k3")], Some(quota())) {
        Err(KvWriteError::OverQuota(over)) => {
            assert_eq!(over.quota, quota());
            assert!(over.would_use.bytes > 10_000, "{over:?}");
        }
        other => panic!("expected the quota, got {other:?}"),
    }
    assert_eq!(db.kv_get("a", "k3").unwrap(), None, "nothing of it written");
    assert_eq!(db.kv_usage("a").unwrap(), before);
    // Replacing a value with a smaller one, and deleting, always pass.
    db.kv_write_within("a", &[set("k1", &[1])], Some(quota()))
        .unwrap();
    db.kv_write_within("a", &[KvWrite::Delete("k2".into())], Some(quota()))
        .unwrap();
    assert_eq!(db.kv_usage("a").unwrap().keys, 1);
    // Another mailbox has a quota of its own.
    db.kv_write_within("b", &[big("k1"), big("k2")], Some(quota()))
        .unwrap();
}

pub fn a_key_flood_stops_at_the_quota_of_keys(s: Store) {
    let db = &s.db;
    let flood: Vec<KvWrite> = (0..6).map(|i| set(&format!("k{i}"), b"")).collect();
    assert!(matches!(
        db.kv_write_within("a", &flood, Some(quota())),
        Err(KvWriteError::OverQuota(o)) if o.would_use.keys == 6
    ));
    db.kv_write_within("a", &flood[..5], Some(quota())).unwrap();
    assert!(matches!(
        db.kv_write_within("a", &flood[5..], Some(quota())),
        Err(KvWriteError::OverQuota(_))
    ));
    // Writing an existing key again adds no key.
    db.kv_write_within("a", &flood[..1], Some(quota())).unwrap();
}

pub fn two_nodes_writing_one_mailbox_at_once_keep_its_usage_exact(s: Store) {
    let nodes = [s.open_again(&s.keys), s.open_again(&s.keys)];
    std::thread::scope(|scope| {
        for (n, db) in nodes.iter().enumerate() {
            scope.spawn(move || {
                for i in 0..40 {
                    let key = format!("n{n}/k{}", i % 10);
                    db.kv_write("a", &[set(&key, &vec![b'v'; i])]).unwrap();
                }
            });
        }
    });
    let usage = s.db.kv_usage("a").unwrap();
    // Counted by hand: each key's last value (write 30 + j of key j) sealed, and its name.
    let overhead = s.keys.seal(b"any", b"").len() as u64;
    let expected_bytes: u64 = (0..2)
        .flat_map(|n| (0..10).map(move |j| (n, j)))
        .map(|(n, j)| format!("n{n}/k{j}").len() as u64 + 30 + j as u64 + overhead)
        .sum();
    assert_eq!(
        usage,
        host_harness::db::Usage {
            keys: 20,
            bytes: expected_bytes
        }
    );
    // And a count from the rows (after a rotation clears the kept counts) agrees.
    s.db.rotate_key(s.keys.clone()).unwrap();
    assert_eq!(s.db.kv_usage("a").unwrap(), usage);
}

pub fn the_provider_record_is_kept_per_mailbox_and_forgotten(s: Store) {
    let db = &s.db;
    assert_eq!(db.mailbox_provider("m2").unwrap(), None);
    db.set_mailbox_provider("m2", Some("google")).unwrap();
    db.set_mailbox_provider("m1", Some("microsoft")).unwrap();
    db.set_mailbox_provider("m2", Some("microsoft")).unwrap();
    assert_eq!(
        db.mailbox_provider("m2").unwrap().as_deref(),
        Some("microsoft")
    );
    assert_eq!(db.mailboxes_with_provider().unwrap(), ["m1", "m2"]);
    db.set_mailbox_provider("m1", None).unwrap();
    assert_eq!(db.mailboxes_with_provider().unwrap(), ["m2"]);
}

pub fn the_administrators_choices_are_kept(s: Store) {
    assert_eq!(s.db.admin_choices().unwrap(), None);
    let mut choices = AdminChoices::of(&PlatformSettings::default());
    choices.link_mailbox = true;
    s.db.set_admin_choices(&choices).unwrap();
    let other_node = s.open_again(&s.keys);
    assert_eq!(other_node.admin_choices().unwrap(), Some(choices));
}

pub fn the_schema_is_migrated_once_and_data_survives_a_reopen(s: Store) {
    s.db.kv_write("a", &[set("k", b"v")]).unwrap();
    // Three nodes starting at once migrate one after another, and find the work done.
    let reopened: Vec<_> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| s.open_again(&s.keys)))
            .collect();
        opening.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for db in &reopened {
        assert_eq!(db.kv_get("a", "k").unwrap().unwrap(), b"v");
    }
    // Each migration was applied once: one row per version, versions 1 to the newest.
    let rows = s.scalar("SELECT count(*) FROM schema_migrations");
    let (first, last) = (
        s.scalar("SELECT min(version) FROM schema_migrations"),
        s.scalar("SELECT max(version) FROM schema_migrations"),
    );
    assert_eq!((first, rows), (1, last), "one row per version");
}

pub fn a_schema_newer_than_this_host_knows_is_refused(s: Store) {
    let newest = s.scalar("SELECT max(version) FROM schema_migrations");
    s.run_sql(&format!(
        "INSERT INTO schema_migrations (version) VALUES ({})",
        newest + 1
    ));
    let refused = s.try_open_again().err().expect("a newer schema is refused");
    assert!(
        refused.contains(&format!("version {}", newest + 1)) && refused.contains("newer"),
        "{refused}"
    );
}

pub fn panel_tickets_are_taken_once_and_sessions_seen_by_every_node(s: Store) {
    let hour = std::time::Duration::from_secs(3600);
    s.db.panel()
        .panel_put("ticket", "t1", "{\"who\":1}", hour)
        .unwrap();
    s.db.panel()
        .panel_put("session", "s1", "{\"who\":2}", hour)
        .unwrap();
    s.db.panel()
        .panel_put("ticket", "old", "{}", std::time::Duration::ZERO)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let other_node = s.open_again(&s.keys);
    assert_eq!(
        other_node
            .panel()
            .panel_take("ticket", "t1")
            .unwrap()
            .as_deref(),
        Some("{\"who\":1}")
    );
    assert_eq!(
        s.db.panel().panel_take("ticket", "t1").unwrap(),
        None,
        "once"
    );
    assert_eq!(
        s.db.panel().panel_take("ticket", "old").unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        s.db.panel().panel_get("ticket", "s1").unwrap(),
        None,
        "kinds apart"
    );
    for _ in 0..2 {
        assert!(
            other_node
                .panel()
                .panel_get("session", "s1")
                .unwrap()
                .is_some()
        );
    }
}

/// The store's calls block their caller; from a tokio task that makes many of them without
/// yielding, they must not spend (and spin on) the task's cooperative budget.
pub fn many_calls_from_one_tokio_task_finish(s: Store) {
    let (done_tx, done) = std::sync::mpsc::channel();
    let db = s.db.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for i in 0..400 {
                db.kv_write("a", &[set(&format!("k{i}"), b"v")]).unwrap();
            }
        });
        done_tx.send(()).unwrap();
    });
    assert!(
        done.recv_timeout(std::time::Duration::from_secs(60))
            .is_ok(),
        "400 calls from one task did not finish"
    );
    assert_eq!(s.db.kv_list("a", "").unwrap().len(), 400);
}

pub fn sends_are_counted_per_mailbox_and_forgotten_after_a_day(s: Store) {
    let db = &s.db;
    db.record_send("a", 1_000, 0).unwrap();
    db.record_send("a", 2_000, 0).unwrap();
    db.record_send("b", 1_500, 0).unwrap();
    assert_eq!(db.sends_since("a", 0).unwrap(), [1_000, 2_000]);
    assert_eq!(db.sends_since("a", 1_500).unwrap(), [2_000]);
    assert_eq!(db.sends_since("b", 0).unwrap(), [1_500]);
    // Another node counts the same sends; recording forgets what no rate counts any more.
    let other = s.open_again(&s.keys);
    other.record_send("a", 3_000, 2_000).unwrap();
    assert_eq!(db.sends_since("a", 0).unwrap(), [2_000, 3_000]);
    assert_eq!(db.sends_since("b", 0).unwrap(), [1_500]);
}
