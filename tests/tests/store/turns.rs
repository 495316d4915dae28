//! Whose turn it is to change a mailbox: one holder at a time among every process that uses
//! the database (on PostgreSQL, every node; a SQLite file has one process).

use host_harness::turns::TurnError;

use crate::Store;

pub fn a_mailboxs_turn_has_one_holder_until_it_is_let_go(s: Store) {
    tests::secrets::capture_logs();
    let first = s.db.mailbox_turns();
    // Another node on PostgreSQL; the same process's turns on SQLite.
    let second = if s.db.backend_kind() == "postgres" {
        s.open_again(&s.keys).mailbox_turns()
    } else {
        first.clone()
    };
    // Named for the backend: the cases of both run at once and log alike.
    let mailbox = format!("m1-{}", s.db.backend_kind());
    let held = futures_executor::block_on(first.acquire(&mailbox)).expect("free");
    assert!(matches!(second.try_acquire(&mailbox), Err(TurnError::Busy)));
    assert!(second.try_acquire("m2").is_ok(), "another mailbox is free");
    let (taken_tx, taken) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let turn = futures_executor::block_on(second.acquire(&mailbox));
            taken_tx.send(turn.is_ok()).unwrap();
        });
        // The waiter says when it found the turn held and began to wait.
        let waiting = format!("mailbox={mailbox}");
        let asked = std::time::Instant::now();
        while !tests::secrets::captured_text().lines().any(|l| {
            l.contains("holds this mailbox's turn; waiting")
                && l.split_whitespace().any(|w| w.replace('"', "") == waiting)
        }) {
            assert!(taken.try_recv().is_err(), "the waiter got a held turn");
            assert!(
                asked.elapsed() < std::time::Duration::from_secs(20),
                "the waiter neither waited nor got the turn"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            taken.try_recv().is_err(),
            "the waiter waits while the turn is held"
        );
        drop(held);
        assert_eq!(
            taken.recv_timeout(std::time::Duration::from_secs(10)),
            Ok(true),
            "the waiter gets the turn once it is let go"
        );
    });
}

/// On PostgreSQL a turn is a row its node renews. Its connection killed, the turn stays with
/// its node (which connects again); a node cut off from the database loses its turn (its call
/// must stop) before another node can take it, and that node then takes it.
#[test]
fn postgres_a_turn_outlives_its_connection_and_a_cut_off_node_lets_go_before_another_takes_it() {
    use host_harness::db::{TURN_GRACE, TURN_KEPT_UNRENEWED};
    use std::time::{Duration, Instant};

    let s = Store::postgres();
    let role = format!("cut_off_{}", std::process::id());
    s.run_sql(&format!("CREATE ROLE {role} LOGIN SUPERUSER"));
    let (node_a, node_b) = (s.open_as(&role), s.open_again(&s.keys));
    let (a, b) = (node_a.mailbox_turns(), node_b.mailbox_turns());
    let held = futures_executor::block_on(a.acquire("m1")).expect("free");
    let kill_a =
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'");

    // Every connection of node A is killed, its turns' among them: the turn stays A's.
    s.run_sql(&kill_a);
    let until = Instant::now() + TURN_GRACE + Duration::from_secs(2);
    while Instant::now() < until {
        assert!(
            matches!(b.try_acquire("m1"), Err(TurnError::Busy)),
            "another node took a turn whose holder lost only a connection"
        );
        assert!(
            !held.is_lost(),
            "a turn renewed on a new connection is kept"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Node A can no longer reach the database at all; B still can.
    s.run_sql(&format!("ALTER ROLE {role} NOLOGIN"));
    s.run_sql(&kill_a);
    let cut = Instant::now();
    let lost_at = std::thread::scope(|scope| {
        let lost = scope.spawn(|| {
            futures_executor::block_on(held.lost());
            Instant::now()
        });
        let taken_at = loop {
            match b.try_acquire("m1") {
                Ok(_turn) => break Instant::now(),
                Err(TurnError::Busy) => {}
                Err(e) => panic!("node B could not ask: {e}"),
            }
            assert!(
                cut.elapsed() < TURN_GRACE + Duration::from_secs(5),
                "the turn of a node cut off was never taken over"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let lost_at = lost.join().expect("A's loss is seen");
        assert!(
            lost_at + Duration::from_secs(1) < taken_at,
            "node A lost its turn {:?} after the cut, node B took it {:?} after: A's call ran on",
            lost_at - cut,
            taken_at - cut
        );
        lost_at
    });
    assert!(
        lost_at - cut <= TURN_KEPT_UNRENEWED + Duration::from_secs(2),
        "node A kept a turn it could not renew for {:?}",
        lost_at - cut
    );
    drop(held);
    s.run_sql(&format!("ALTER ROLE {role} LOGIN"));
}

/// A node frozen past its turn's end, which another node then took, writes nothing when it
/// wakes: its storage and inbox writes carry its turn's fence and are refused, while the new
/// holder's go through.
#[test]
fn postgres_writes_in_a_turn_another_node_took_since_are_refused() {
    use host_harness::db::{KvWrite, StoreError};
    use host_harness::inbox_store::Change;

    let s = Store::postgres();
    let (node_a, node_b) = (s.open_again(&s.keys), s.open_again(&s.keys));
    let turn_a = futures_executor::block_on(node_a.mailbox_turns().acquire("m1")).expect("free");
    let fence_a = turn_a
        .fence()
        .cloned()
        .expect("a shared turn carries a fence");
    let set = |value: &[u8]| [KvWrite::Set("token".into(), value.to_vec())];
    let place = |uid| crate::inbox::at("INBOX", uid);
    let message = |uid| crate::inbox::message(&format!("k{uid}"), 0, place(uid));
    // In its turn, node A writes.
    node_a
        .kv_write_in_turn(Some(&fence_a), "m1", &set(b"a"), None)
        .expect("the holder writes");
    node_a
        .inbox()
        .inbox_deliver_in_turn(Some(&fence_a), "m1", &[message(1)])
        .expect("the holder delivers");

    // A freezes; its turn ends (here: is let go) and node B takes it.
    drop(turn_a);
    let turn_b = futures_executor::block_on(node_b.mailbox_turns().acquire("m1")).expect("free");
    let fence_b = turn_b.fence().cloned().unwrap();
    assert!(fence_b.token > fence_a.token);

    // A wakes and goes on writing with its old turn: refused, and nothing changed.
    let fenced = |e: &StoreError| matches!(e, StoreError::Fenced { .. });
    match node_a.kv_write_in_turn(Some(&fence_a), "m1", &set(b"stale"), None) {
        Err(host_harness::db::KvWriteError::Store(e)) if fenced(&e) => {}
        other => panic!("a stale turn's storage write went through: {other:?}"),
    }
    let e = node_a
        .inbox()
        .inbox_deliver_in_turn(Some(&fence_a), "m1", &[message(2)])
        .expect_err("a stale turn's delivery");
    assert!(fenced(&e), "{e}");
    let e = node_a
        .inbox()
        .inbox_apply_in_turn(Some(&fence_a), "m1", &[Change::Vanished(place(1))])
        .expect_err("a stale turn's changes");
    assert!(fenced(&e), "{e}");
    assert_eq!(
        node_b.kv_get("m1", "token").unwrap().as_deref(),
        Some(&b"a"[..])
    );
    let kept = node_b.inbox().inbox_messages("m1").unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].locations.len(),
        1,
        "the stale change was not applied"
    );

    // The new holder writes.
    node_b
        .kv_write_in_turn(Some(&fence_b), "m1", &set(b"b"), None)
        .expect("the new holder writes");
    node_b
        .inbox()
        .inbox_deliver_in_turn(Some(&fence_b), "m1", &[message(2)])
        .expect("the new holder delivers");
    assert_eq!(
        node_a.kv_get("m1", "token").unwrap().as_deref(),
        Some(&b"b"[..])
    );
}

/// What a fenced write holds (the lock `check_turn` takes, its transaction open) lets the
/// holder's renewals through but makes another node's taking wait until the write commits: the
/// token is a key, and only a taking changes it.
#[test]
fn postgres_a_taking_waits_for_a_fenced_write_and_a_renewal_does_not() {
    use tokio_postgres::error::SqlState;

    let s = Store::postgres();
    let node = s.open_again(&s.keys);
    let turn = futures_executor::block_on(node.mailbox_turns().acquire("m1")).expect("free");
    let fence = turn.fence().cloned().expect("a fence");
    let crate::Place::Postgres { url, .. } = &s.place else {
        unreachable!("a PostgreSQL store")
    };
    let taking = "INSERT INTO mailbox_turns (mailbox, holder, token, renewed_ms)
                  VALUES ('m1', 'another-node', 1, 0)
                  ON CONFLICT (mailbox) DO UPDATE
                      SET holder = 'another-node', token = mailbox_turns.token + 1";
    crate::on_postgres(url, async |writer| {
        writer.batch_execute("BEGIN").await.unwrap();
        let held = writer
            .query_opt(
                "SELECT 1 FROM mailbox_turns WHERE mailbox = 'm1' AND holder = $1 AND token = $2
                 FOR KEY SHARE",
                &[&fence.holder, &fence.token],
            )
            .await
            .unwrap();
        assert!(held.is_some(), "the fence is current");
        let (other, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        other
            .batch_execute("SET lock_timeout = '1s'")
            .await
            .unwrap();
        other
            .execute(
                "UPDATE mailbox_turns SET renewed_ms = renewed_ms + 1 WHERE mailbox = 'm1'",
                &[],
            )
            .await
            .expect("a renewal does not wait for a fenced write");
        let waited = other
            .execute(taking, &[])
            .await
            .expect_err("a taking waits for the fenced write");
        assert_eq!(
            waited.code(),
            Some(&SqlState::LOCK_NOT_AVAILABLE),
            "{waited}"
        );
        writer.batch_execute("COMMIT").await.unwrap();
        other
            .execute(taking, &[])
            .await
            .expect("once the write commits, the turn can be taken");
    });
}
