//! The SQLite backend's own proofs: sealed on disk, private files, values from before sealing,
//! usage counted in bytes, readers that a long write does not hold up, pruning. The promises
//! both backends keep are proved once for both, in the tests crate's store suite.

use std::path::Path;

use rusqlite::params;

use crate::at_rest::KeyRing;
use crate::db::{Database, KvWrite};

#[test]
fn values_are_sealed_on_disk_and_read_back_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db").join("m.db");
    let db = Database::open_with_keys(&path, KeyRing::ephemeral()).unwrap();
    db.kv_write(
        "a",
        &[KvWrite::Set("tokens".into(), b"refresh-xyz".to_vec())],
    )
    .unwrap();
    assert_eq!(db.kv_get("a", "tokens").unwrap().unwrap(), b"refresh-xyz");
    let raw: Vec<u8> = db
        .sqlite()
        .with(|c| c.query_row("SELECT value FROM plugin_kv", [], |r| r.get(0)))
        .unwrap();
    assert!(KeyRing::is_sealed(&raw));
    // A value moved to another mailbox's row does not open there.
    db.sqlite()
        .with(|c| {
            c.execute(
                "INSERT INTO plugin_kv (mailbox, key, value) VALUES ('b', 'tokens', ?1)",
                params![raw],
            )
        })
        .unwrap();
    assert!(db.kv_get("b", "tokens").is_err());
}

#[test]
fn files_are_private_and_values_in_clear_are_refused_until_sealed_at_the_next_open() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("m.db");
    let keys = KeyRing::ephemeral();
    {
        let db = Database::open_with_keys(&path, keys.clone()).unwrap();
        // As an older host wrote it: in clear.
        db.sqlite().with(|c| {
            c.execute(
                "INSERT INTO plugin_kv (mailbox, key, value) VALUES ('a', 'k', X'7365637265742d76616c7565')",
                [],
            )
        })
        .unwrap();
        // Found in clear after the database was opened (sealed): put there by someone else
        // than a host, and refused rather than used.
        assert!(matches!(
            db.kv_get("a", "k"),
            Err(crate::db::StoreError::Unreadable(
                crate::at_rest::SealError::NotSealed
            ))
        ));
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let db = Database::open_with_keys(&path, keys).unwrap();
    assert_eq!(db.kv_get("a", "k").unwrap().unwrap(), b"secret-value");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let wal = dir.path().join("data").join("m.db-wal");
    assert!(wal.exists(), "WAL mode");
    assert_eq!(mode(&wal), 0o600);
    for file in [path.clone(), wal] {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(12).any(|w| w == b"secret-value"),
            "{} holds the value in clear",
            file.display()
        );
    }
}

#[test]
fn usage_is_counted_from_rows_written_before_it_was_kept() {
    let db = Database::open_in_memory().unwrap();
    db.kv_write("a", &[KvWrite::Set("k".into(), b"v".to_vec())])
        .unwrap();
    db.sqlite()
        .with(|c| c.execute("DELETE FROM plugin_kv_usage", []))
        .unwrap();
    let usage = db.kv_usage("a").unwrap();
    assert_eq!(usage.keys, 1);
    assert!(usage.bytes > 1, "the key and the sealed value");
}

#[test]
fn usage_counts_a_non_ascii_key_in_bytes_through_overwrites_and_deletes() {
    let db = Database::open_in_memory().unwrap();
    let key = "sync/folder/Отправленные";
    for value in [&b"one"[..], b"two, longer", b"3"] {
        db.kv_write("a", &[KvWrite::Set(key.into(), value.to_vec())])
            .unwrap();
    }
    let stored = db
        .sqlite()
        .with(|c| {
            c.query_row(
                "SELECT length(CAST(key AS BLOB)) + length(value) FROM plugin_kv WHERE mailbox = 'a'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .unwrap() as u64;
    let usage = db.kv_usage("a").unwrap();
    assert_eq!((usage.keys, usage.bytes), (1, stored));
    assert!(
        stored > key.chars().count() as u64 + 3,
        "bytes, not characters"
    );
    db.kv_write("a", &[KvWrite::Delete(key.into())]).unwrap();
    let usage = db.kv_usage("a").unwrap();
    assert_eq!((usage.keys, usage.bytes), (0, 0), "nothing left over");
}

#[test]
fn usage_stays_exact_when_values_are_sealed_on_open_and_the_key_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let stored = |db: &Database| {
        db.sqlite().with(|c| {
            c.query_row(
                "SELECT count(*), sum(length(CAST(key AS BLOB)) + length(value)) FROM plugin_kv WHERE mailbox = 'a'",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
        })
        .unwrap()
    };
    let keys = KeyRing::ephemeral();
    {
        let db = Database::open_with_keys(&path, keys.clone()).unwrap();
        db.kv_write("a", &[KvWrite::Set("sealed".into(), b"v".to_vec())])
            .unwrap();
        // A value an older host wrote in clear, after the usage was counted.
        db.sqlite()
            .with(|c| {
                c.execute(
                    "INSERT INTO plugin_kv (mailbox, key, value) VALUES ('a', 'plain', x'00')",
                    [],
                )
            })
            .unwrap();
    }
    let db = Database::open_with_keys(&path, keys).unwrap();
    let usage = db.kv_usage("a").unwrap();
    assert_eq!(
        (usage.keys, usage.bytes),
        stored(&db),
        "after sealing on open"
    );
    db.rotate_key(KeyRing::ephemeral()).unwrap();
    let usage = db.kv_usage("a").unwrap();
    assert_eq!(
        (usage.keys, usage.bytes),
        stored(&db),
        "after rotating the key"
    );
}

/// One mailbox's long write does not hold up another mailbox's reads: the write transaction is
/// held open until the read has answered (or 20 s have passed; the read waits 10 s at most).
#[test]
fn a_read_is_answered_while_another_mailbox_holds_a_write_open() {
    use std::sync::mpsc;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with_keys(&dir.path().join("m.db"), KeyRing::ephemeral()).unwrap();
    db.kv_write("b", &[KvWrite::Set("tokens".into(), b"t".to_vec())])
        .unwrap();
    let (began, wait_began) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            db.sqlite().with(|c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO plugin_kv (mailbox, key, value) VALUES ('a', 'k', x'00')",
                    [],
                )?;
                began.send(()).unwrap();
                let _ = released.recv_timeout(Duration::from_secs(20));
                tx.commit()
            })
        })
    };
    wait_began.recv().unwrap();
    let (answered, wait_answer) = mpsc::channel();
    let reader = {
        let db = db.clone();
        std::thread::spawn(move || answered.send(db.kv_get("b", "tokens")).unwrap())
    };
    let read = wait_answer.recv_timeout(Duration::from_secs(10));
    release.send(()).unwrap();
    writer.join().unwrap().unwrap();
    reader.join().unwrap();
    assert_eq!(
        read.expect("answered while the write was open").unwrap(),
        Some(b"t".to_vec())
    );
}

#[test]
fn sync_reports_and_updates_are_pruned_to_the_latest() {
    use crate::inbox_store::{KEPT_SYNC_RUNS, KEPT_UPDATES};
    let db = Database::open_in_memory().unwrap();
    db.sqlite()
        .with(|c| {
            c.execute_batch(
            "INSERT INTO inbox_messages (id, mailbox, dedupe_key, message_id, thread_key, date_utc,
                 direction, size, truncated, folder, flags, record_json)
             VALUES (1, 'a', 'k', 'm', 't', 'd', 'inbound', 1, 0, 0, 0, '{}'),
                    (2, 'b', 'k', 'm', 't', 'd', 'inbound', 1, 0, 0, 0, '{}');",
        )?;
            for message in std::iter::repeat_n(1, KEPT_UPDATES as usize + 50).chain([2; 10]) {
                c.execute(
                    "INSERT INTO inbox_updates (message, what) VALUES (?1, 'flags')",
                    params![message],
                )?;
            }
            Ok(())
        })
        .unwrap();
    for i in 0..(KEPT_SYNC_RUNS + 20) {
        db.inbox()
            .record_sync_run("a", &format!("{{\"run\":{i}}}"))
            .unwrap();
    }
    db.inbox().record_sync_run("b", "{}").unwrap();
    let count = |sql: &str| -> i64 {
        db.sqlite()
            .with(|c| c.query_row(sql, [], |r| r.get(0)))
            .unwrap()
    };
    assert_eq!(
        count("SELECT count(*) FROM sync_runs WHERE mailbox = 'a'"),
        KEPT_SYNC_RUNS
    );
    assert_eq!(
        count("SELECT count(*) FROM sync_runs WHERE mailbox = 'b'"),
        1
    );
    assert_eq!(
        db.inbox().last_sync_run("a").unwrap().as_deref(),
        Some(format!("{{\"run\":{}}}", KEPT_SYNC_RUNS + 19).as_str())
    );
    // Each mailbox's updates are pruned on its own, the newest kept.
    assert_eq!(
        count("SELECT count(*) FROM inbox_updates WHERE message = 1"),
        KEPT_UPDATES
    );
    assert_eq!(
        count("SELECT min(id) FROM inbox_updates WHERE message = 1"),
        51
    );
    assert_eq!(
        count("SELECT count(*) FROM inbox_updates WHERE message = 2"),
        10
    );
}
