//! Whose turn it is to change a mailbox: one holder at a time per mailbox, so two callbacks, two
//! refreshes or two syncs never interleave their reads and writes. A narrow trait; one process
//! uses the in-process version, several nodes a version backed by their shared database.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Held while a mailbox's turn lasts; dropping it ends the turn. A turn kept in a shared
/// database can also be lost (its holder could not renew it): the call holding it must stop.
pub struct TurnGuard {
    _held: Box<dyn Send + Sync>,
    lost: Option<CancellationToken>,
    fence: Option<Fence>,
}

/// Which taking of a mailbox's turn a write belongs to, for a turn kept in a shared database:
/// the holder and the token that grows with each taking. A write carrying it is refused
/// (`StoreError::Fenced`) once another holder has taken the turn, even if its own node was
/// frozen past the turn's end and never saw it go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub holder: String,
    pub token: i64,
}

impl TurnGuard {
    /// A turn that lasts until it is dropped.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        TurnGuard {
            _held: Box::new(held),
            lost: None,
            fence: None,
        }
    }

    /// A turn that ends early when `lost` is cancelled, before anyone else may take it.
    pub fn losable(held: impl Send + Sync + 'static, lost: CancellationToken) -> Self {
        TurnGuard {
            _held: Box::new(held),
            lost: Some(lost),
            fence: None,
        }
    }

    /// This turn, with the fence its writes carry.
    pub fn fenced(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }

    /// The fence of a turn kept in a shared database; `None` for one that only this process
    /// hands out.
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    /// Resolves once the turn is lost; never, for a turn that cannot be.
    pub async fn lost(&self) {
        match &self.lost {
            Some(lost) => lost.cancelled().await,
            None => std::future::pending().await,
        }
    }

    /// Whether the turn is lost already.
    pub fn is_lost(&self) -> bool {
        self.lost.as_ref().is_some_and(|l| l.is_cancelled())
    }
}

/// Runs `work` while `turn` lasts: `None` once the turn is lost, and `work` dropped there (a
/// call into the plugin stops at its next host call or epoch tick).
pub async fn while_held<F: Future>(turn: &TurnGuard, work: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = turn.lost() => None,
        done = work => Some(done),
    }
}

/// Why a turn could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    /// Another holder has it (only from `try_acquire`).
    #[error("another call holds this mailbox")]
    Busy,
    /// The backing store could not be asked.
    #[error("the mailbox lease is unavailable: {0}")]
    Unavailable(String),
}

pub type TurnFuture<'a> = Pin<Box<dyn Future<Output = Result<TurnGuard, TurnError>> + Send + 'a>>;

pub trait MailboxTurns: Send + Sync {
    /// Waits for `mailbox`'s turn.
    fn acquire<'a>(&'a self, mailbox: &'a str) -> TurnFuture<'a>;
    /// Takes `mailbox`'s turn if nobody holds it, else `Busy` at once.
    fn try_acquire(&self, mailbox: &str) -> Result<TurnGuard, TurnError>;
    /// `try_acquire` for async callers: a backend that must ask its database asks without
    /// blocking the caller's thread.
    fn try_acquire_async<'a>(&'a self, mailbox: &'a str) -> TurnFuture<'a> {
        Box::pin(async move { self.try_acquire(mailbox) })
    }
}

/// How many callers wait for each mailbox's turn, so a bound can refuse one more: a mailbox
/// whose calls pile up answers "busy" instead of queueing without end.
#[derive(Default)]
pub struct TurnWaiters(Arc<Mutex<HashMap<String, usize>>>);

/// One caller's place among a mailbox's waiters; dropping it (the turn was had, or the caller
/// gave up) leaves the queue.
pub struct Waiting {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    mailbox: String,
}

impl TurnWaiters {
    /// How many calls wait for `mailbox`'s turn now (or hold it, until they begin).
    pub fn waiting(&self, mailbox: &str) -> usize {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(mailbox).copied().unwrap_or(0)
    }

    /// A place among `mailbox`'s waiters, unless `most` already wait.
    pub fn enter(&self, mailbox: &str, most: usize) -> Option<Waiting> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let waiting = counts.entry(mailbox.to_string()).or_insert(0);
        if *waiting >= most {
            return None;
        }
        *waiting += 1;
        Some(Waiting {
            counts: self.0.clone(),
            mailbox: mailbox.to_string(),
        })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(waiting) = counts.get_mut(&self.mailbox) {
            *waiting -= 1;
            if *waiting == 0 {
                counts.remove(&self.mailbox);
            }
        }
    }
}

/// One async mutex per mailbox, in this process.
#[derive(Default)]
pub struct InProcessTurns(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl InProcessTurns {
    fn lock_of(&self, mailbox: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the locks nobody holds or waits for, so the map stays small.
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(mailbox.to_string()).or_default().clone()
    }
}

impl MailboxTurns for InProcessTurns {
    fn acquire<'a>(&'a self, mailbox: &'a str) -> TurnFuture<'a> {
        let lock = self.lock_of(mailbox);
        Box::pin(async move {
            if let Ok(free) = lock.clone().try_lock_owned() {
                return Ok(TurnGuard::new(free));
            }
            tracing::debug!(
                mailbox,
                "another call holds this mailbox's turn; waiting for it"
            );
            Ok(TurnGuard::new(lock.lock_owned().await))
        })
    }

    fn try_acquire(&self, mailbox: &str) -> Result<TurnGuard, TurnError> {
        self.lock_of(mailbox)
            .try_lock_owned()
            .map(TurnGuard::new)
            .map_err(|_| TurnError::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_mailbox_is_busy_until_its_guard_drops_and_others_stay_free() {
        let leases = InProcessTurns::default();
        let held = leases.acquire("a").await.expect("free");
        assert!(matches!(leases.try_acquire("a"), Err(TurnError::Busy)));
        let other = leases.try_acquire("b");
        assert!(other.is_ok(), "another mailbox is not held");
        drop(held);
        assert!(leases.try_acquire("a").is_ok());
    }

    #[tokio::test]
    async fn work_in_a_turn_stops_when_the_turn_is_lost_and_not_before() {
        let lost = CancellationToken::new();
        let turn = TurnGuard::losable((), lost.clone());
        assert_eq!(while_held(&turn, async { 7 }).await, Some(7));
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let stopped = async {
            while_held(&turn, async {
                let _ = started_tx.send(());
                std::future::pending::<()>().await
            })
            .await
        };
        let cancel = async {
            started.await.expect("the work began");
            assert!(!turn.is_lost());
            lost.cancel();
        };
        let (stopped, ()) = tokio::join!(stopped, cancel);
        assert_eq!(stopped, None, "the work was stopped");
        assert!(turn.is_lost());
        assert_eq!(
            while_held(&turn, async { 7 }).await,
            None,
            "no work begins in a lost turn"
        );
    }

    #[test]
    fn waiters_beyond_the_bound_are_refused_until_one_leaves() {
        let waiters = TurnWaiters::default();
        let first = waiters.enter("a", 2).expect("room");
        let _second = waiters.enter("a", 2).expect("room");
        assert!(waiters.enter("a", 2).is_none(), "the bound");
        assert!(
            waiters.enter("b", 2).is_some(),
            "another mailbox has its own"
        );
        drop(first);
        assert!(waiters.enter("a", 2).is_some(), "room again");
    }

    #[tokio::test]
    async fn a_waiter_gets_the_turn_when_the_holder_lets_go() {
        let leases = Arc::new(InProcessTurns::default());
        let held = leases.acquire("a").await.expect("free");
        let waiter = {
            let leases = leases.clone();
            tokio::spawn(async move { leases.acquire("a").await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "the waiter waits while the turn is held"
        );
        drop(held);
        waiter.await.expect("joins").expect("gets the turn");
    }
}
