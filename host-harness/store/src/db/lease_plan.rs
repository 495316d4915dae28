//! What a node does with its leases in one round, from what it holds and what the cluster
//! has: claim up to its fair share, a capped number at a time, or let its surplus go. Pure, so
//! both backends decide alike.

/// One round's move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseMove {
    Claim(u32),
    Shed(u32),
    Stay,
}

/// A node's fair share: the mailboxes over the live nodes, rounded up, so the shares cover every
/// mailbox.
pub fn fair_share(mailboxes: u32, nodes: u32) -> u32 {
    mailboxes.div_ceil(nodes.max(1))
}

/// What a node holding `held` does this round. A node alone takes everything at once; among
/// others it claims `max_claims` at most.
pub fn plan(held: u32, mailboxes: u32, nodes: u32, max_claims: u32) -> LeaseMove {
    let share = fair_share(mailboxes, nodes);
    let cap = if nodes <= 1 { u32::MAX } else { max_claims };
    if held < share {
        LeaseMove::Claim((share - held).min(cap))
    } else if held > share {
        LeaseMove::Shed(held - share)
    } else {
        LeaseMove::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_mailbox_and_claims_are_capped() {
        assert_eq!(fair_share(60, 3), 20);
        assert_eq!(fair_share(61, 3), 21);
        assert_eq!(fair_share(5, 0), 5, "a node that sees none counts itself");
        assert_eq!(plan(0, 60, 3, 100), LeaseMove::Claim(20));
        assert_eq!(plan(0, 10_000, 2, 500), LeaseMove::Claim(500));
        assert_eq!(
            plan(0, 10_000, 1, 500),
            LeaseMove::Claim(10_000),
            "alone: all at once"
        );
        assert_eq!(plan(30, 60, 3, 100), LeaseMove::Shed(10), "a node joined");
        assert_eq!(plan(20, 60, 3, 100), LeaseMove::Stay);
        assert_eq!(plan(0, 0, 1, 100), LeaseMove::Stay);
    }
}
