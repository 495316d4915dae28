//! Leases: one node per mailbox, fair shares, a capped number claimed per round, takeover once
//! a silent node's leases expire, everything let go on a clean shutdown, and nudges that reach
//! a mailbox's holder.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::Store;

const TTL: Duration = Duration::from_secs(60);

fn link(s: &Store, count: u32) {
    for i in 0..count {
        s.db.set_mailbox_provider(&format!("m{i:03}"), Some("google"))
            .unwrap();
    }
}

pub fn a_lone_node_holds_every_mailbox_and_lets_go_on_shutdown(s: Store) {
    link(&s, 5);
    let round = s.db.leases().lease_round("a", TTL, 100).unwrap();
    assert_eq!(round.held.len(), 5);
    assert_eq!((round.nodes, round.mailboxes), (1, 5));
    // An unlinked mailbox has no lease; a newly linked one is claimed at the next round.
    s.db.set_mailbox_provider("m000", None).unwrap();
    s.db.set_mailbox_provider("new", Some("microsoft")).unwrap();
    let round = s.db.leases().lease_round("a", TTL, 100).unwrap();
    assert_eq!(round.held, ["m001", "m002", "m003", "m004", "new"]);
    s.db.leases().lease_release_all("a").unwrap();
    let holders = s.db.leases().lease_holders().unwrap();
    assert!(holders.iter().all(|(_, h)| h.is_none()), "{holders:?}");
}

pub fn nodes_split_the_mailboxes_and_a_joining_node_takes_its_share(s: Store) {
    link(&s, 30);
    let nodes: Vec<_> = (0..3).map(|_| s.open_again(&s.keys)).collect();
    // The first two split everything between them.
    for _ in 0..3 {
        for (name, db) in ["a", "b"].iter().zip(&nodes) {
            db.leases().lease_round(name, TTL, 100).unwrap();
        }
    }
    let count = |node: &str| {
        let holders = s.db.leases().lease_holders().unwrap();
        holders
            .iter()
            .filter(|(_, h)| h.as_deref() == Some(node))
            .count()
    };
    assert_eq!((count("a"), count("b")), (15, 15));
    // A third joins: the others let their surplus go, and it takes its share.
    for _ in 0..3 {
        for (name, db) in ["a", "b", "c"].iter().zip(&nodes) {
            db.leases().lease_round(name, TTL, 100).unwrap();
        }
    }
    assert_eq!((count("a"), count("b"), count("c")), (10, 10, 10));
    let holders = s.db.leases().lease_holders().unwrap();
    assert!(
        holders.iter().all(|(_, h)| h.is_some()),
        "every mailbox held"
    );
}

pub fn nodes_claiming_at_once_never_hold_one_mailbox_together(s: Store) {
    link(&s, 60);
    let nodes: Vec<_> = (0..3).map(|_| s.open_again(&s.keys)).collect();
    let rounds: Vec<Vec<Vec<String>>> = std::thread::scope(|scope| {
        let running: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(n, db)| {
                scope.spawn(move || {
                    (0..8)
                        .map(|_| {
                            db.leases()
                                .lease_round(&format!("n{n}"), TTL, 7)
                                .unwrap()
                                .held
                        })
                        .collect()
                })
            })
            .collect();
        running.into_iter().map(|r| r.join().unwrap()).collect()
    });
    // What each node held after its last round: disjoint, and together everything.
    let last: Vec<BTreeSet<&String>> = rounds
        .iter()
        .map(|r| r.last().unwrap().iter().collect())
        .collect();
    for (i, a) in last.iter().enumerate() {
        for b in &last[i + 1..] {
            assert!(a.is_disjoint(b), "{a:?} and {b:?} overlap");
        }
    }
    // Seven claims per round at most, once a node is not alone (its first round may be).
    for node in &rounds {
        for pair in node[1..].windows(2) {
            assert!(pair[1].len() <= pair[0].len() + 7, "{pair:?}");
        }
    }
}

pub fn a_silent_nodes_mailboxes_are_taken_over_once_its_leases_expire(s: Store) {
    link(&s, 10);
    let dying = s.open_again(&s.keys);
    let short = Duration::from_secs(6);
    let survivor = s.open_again(&s.keys);
    dying.leases().lease_round("dying", short, 100).unwrap();
    survivor
        .leases()
        .lease_round("survivor", short, 100)
        .unwrap();
    dying.leases().lease_round("dying", short, 100).unwrap();
    // Its leases run until `short` after this renewal, by the database's clock.
    let renewed = std::time::Instant::now();
    let held = survivor
        .leases()
        .lease_round("survivor", short, 100)
        .unwrap()
        .held;
    assert_eq!(held.len(), 5, "half each while both live");
    // The dying node stops renewing (as after kill -9): nothing moves before its leases expire.
    drop(dying);
    let held = survivor
        .leases()
        .lease_round("survivor", short, 100)
        .unwrap()
        .held;
    assert!(
        renewed.elapsed() < short,
        "the check came after the leases ran out ({:?}): it proves nothing",
        renewed.elapsed()
    );
    assert_eq!(held.len(), 5, "its leases still run");
    std::thread::sleep(short.saturating_sub(renewed.elapsed()) + Duration::from_millis(200));
    let round = survivor
        .leases()
        .lease_round("survivor", short, 100)
        .unwrap();
    assert_eq!(round.nodes, 1);
    assert_eq!(round.held.len(), 10, "every mailbox taken over");
}

pub fn a_nudge_reaches_the_mailboxs_holder_once(s: Store) {
    link(&s, 4);
    let nodes: Vec<_> = (0..2).map(|_| s.open_again(&s.keys)).collect();
    for _ in 0..2 {
        for (name, db) in ["a", "b"].iter().zip(&nodes) {
            db.leases().lease_round(name, TTL, 100).unwrap();
        }
    }
    let holders = s.db.leases().lease_holders().unwrap();
    let held_by_b = holders
        .iter()
        .find(|(_, h)| h.as_deref() == Some("b"))
        .map(|(m, _)| m.clone())
        .expect("b holds one");
    // Node a changed b's mailbox (an API call reached it): b hears of it once, a never.
    nodes[0].leases().lease_nudge(&held_by_b).unwrap();
    nodes[0].leases().lease_nudge("not-linked").unwrap();
    assert!(
        nodes[0]
            .leases()
            .lease_round("a", TTL, 100)
            .unwrap()
            .nudged
            .is_empty()
    );
    assert_eq!(
        nodes[1].leases().lease_round("b", TTL, 100).unwrap().nudged,
        [held_by_b]
    );
    assert!(
        nodes[1]
            .leases()
            .lease_round("b", TTL, 100)
            .unwrap()
            .nudged
            .is_empty()
    );
}
