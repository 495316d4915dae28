//! Whose turn it is to change a mailbox: one holder at a time among every process that uses
//! the database (on PostgreSQL, every node; a SQLite file has one process).

use host_harness::lease::LeaseError;

use crate::Store;

pub fn a_mailboxs_turn_has_one_holder_until_it_is_let_go(s: Store) {
    let first = s.db.mailbox_turns();
    // Another node on PostgreSQL; the same process's turns on SQLite.
    let second = if s.db.backend_kind() == "postgres" {
        s.open_again(&s.keys).mailbox_turns()
    } else {
        first.clone()
    };
    let held = futures_executor::block_on(first.acquire("m1")).expect("free");
    assert!(matches!(second.try_acquire("m1"), Err(LeaseError::Busy)));
    assert!(second.try_acquire("m2").is_ok(), "another mailbox is free");
    let (taken_tx, taken) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let turn = futures_executor::block_on(second.acquire("m1"));
            taken_tx.send(turn.is_ok()).unwrap();
        });
        assert!(
            taken
                .recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
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
