//! A node's lease round, written once for both dialects over one transaction a dialect lends as
//! `LeaseTx`: its heartbeat, then a claim of its fair share or a shed of its surplus
//! (`lease_plan`), and the nudges it had since its last round.

use super::{LeaseMove, LeaseRound, StoreResult, lease_plan};

/// One lease transaction, in a dialect's SQL. Time is the database's.
#[allow(async_fn_in_trait)]
pub(crate) trait LeaseTx {
    /// Marks `node` alive for `ttl_ms`, forgets the nodes whose time ran out, and renews what
    /// `node` holds for as long.
    async fn heartbeat(&mut self, node: &str, ttl_ms: i64) -> StoreResult<()>;
    /// The mailboxes `node` holds, sorted.
    async fn held(&mut self, node: &str) -> StoreResult<Vec<String>>;
    /// How many mailboxes have a lease, and how many nodes are alive.
    async fn census(&mut self) -> StoreResult<(u32, u32)>;
    /// Takes up to `count` free or expired leases, first by name, that no other node is
    /// claiming at that moment.
    async fn claim(&mut self, node: &str, ttl_ms: i64, count: u32) -> StoreResult<()>;
    /// Lets go of `count` of the leases `node` holds, last by name.
    async fn shed(&mut self, node: &str, count: u32) -> StoreResult<()>;
    /// The held mailboxes another node nudged since `node`'s last round, no longer nudged.
    async fn take_nudges(&mut self, node: &str) -> StoreResult<Vec<String>>;
}

/// One heartbeat of `node` (see `LeaseStore::lease_round`).
pub(crate) async fn round(
    tx: &mut impl LeaseTx,
    node: &str,
    ttl: std::time::Duration,
    max_claims: u32,
) -> StoreResult<LeaseRound> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    tx.heartbeat(node, ttl_ms).await?;
    let holding = u32::try_from(tx.held(node).await?.len()).unwrap_or(u32::MAX);
    let (mailboxes, nodes) = tx.census().await?;
    match lease_plan(holding, mailboxes, nodes, max_claims) {
        LeaseMove::Claim(count) => tx.claim(node, ttl_ms, count).await?,
        LeaseMove::Shed(count) => tx.shed(node, count).await?,
        LeaseMove::Stay => {}
    }
    Ok(LeaseRound {
        held: tx.held(node).await?,
        nodes,
        mailboxes,
        nudged: tx.take_nudges(node).await?,
    })
}
