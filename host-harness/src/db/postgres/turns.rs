//! Whose turn it is to change a mailbox, across nodes: a session advisory lock per mailbox, all
//! of a node's held on one connection of its own (so turns never use up the pool that the calls
//! holding them need). Within the node, turns queue in memory first; across nodes, a waiter
//! tries again with backoff. A node that dies loses its connection, and its locks with it.

use std::sync::Arc;
use std::time::Duration;

use super::{Connections, MailboxLock, PostgresStore};
use crate::lease::{InProcessLeases, LeaseError, LeaseFuture, LeaseGuard, MailboxLease};

/// The longest pause between two tries for a turn another node holds.
const MOST_BACKOFF: Duration = Duration::from_millis(500);

/// The turns of the mailboxes of one PostgreSQL database, as one node takes them.
pub(crate) struct PostgresTurns {
    connections: Arc<Connections>,
    /// This node's own holders, one per mailbox.
    local: InProcessLeases,
    /// The connection every lock of this node is held on; made again if it breaks.
    session: Arc<tokio::sync::Mutex<Option<deadpool_postgres::Object>>>,
}

impl PostgresTurns {
    pub(super) fn of(store: &PostgresStore) -> Arc<Self> {
        Arc::new(PostgresTurns {
            connections: store.connections.clone(),
            local: InProcessLeases::default(),
            session: Arc::default(),
        })
    }

    /// Runs `sql` (`$1` the mailbox, `$2` the lock's seed) on the session; its boolean answer.
    async fn on_session(
        connections: &Connections,
        session: &tokio::sync::Mutex<Option<deadpool_postgres::Object>>,
        sql: &str,
        mailbox: &str,
    ) -> Result<bool, LeaseError> {
        let mut session = session.lock().await;
        if session.as_ref().is_none_or(|c| c.is_closed()) {
            let client = connections
                .pool
                .get()
                .await
                .map_err(|e| LeaseError::Unavailable(e.to_string()))?;
            // Never back into the pool: its locks are this node's turns.
            *session = Some(client);
        }
        let client = session.as_ref().expect("made above");
        let seed = MailboxLock::Turn as i64;
        match client.query_one(sql, &[&mailbox, &seed]).await {
            Ok(row) => Ok(row.get::<_, bool>(0)),
            Err(e) => {
                // Closed, never pooled again: the connection may still hold this node's locks.
                if let Some(broken) = session.take() {
                    drop(deadpool_postgres::Object::take(broken));
                }
                Err(LeaseError::Unavailable(crate::db::postgres_detail(&e)))
            }
        }
    }

    async fn try_lock(&self, mailbox: &str) -> Result<bool, LeaseError> {
        let sql = "SELECT pg_try_advisory_lock(hashtextextended($1, $2))";
        Self::on_session(&self.connections, &self.session, sql, mailbox).await
    }

    /// `try_lock`, run on the store's runtime (the caller's may have no I/O driver of its own).
    async fn try_lock_on_store_runtime(&self, mailbox: &str) -> Result<bool, LeaseError> {
        let runtime = self.connections.runtime().handle().clone();
        let this = (self.connections.clone(), self.session.clone());
        let name = mailbox.to_string();
        runtime
            .spawn(async move {
                let sql = "SELECT pg_try_advisory_lock(hashtextextended($1, $2))";
                PostgresTurns::on_session(&this.0, &this.1, sql, &name).await
            })
            .await
            .map_err(|e| LeaseError::Unavailable(e.to_string()))?
    }

    /// The guard of a turn: the node's own holder, and the lock let go when it drops.
    fn guard(&self, mailbox: &str, local: LeaseGuard) -> LeaseGuard {
        struct Unlock {
            connections: Arc<Connections>,
            session: Arc<tokio::sync::Mutex<Option<deadpool_postgres::Object>>>,
            mailbox: String,
            local: Option<LeaseGuard>,
        }
        impl Drop for Unlock {
            fn drop(&mut self) {
                let (connections, session) = (self.connections.clone(), self.session.clone());
                let (mailbox, local) = (std::mem::take(&mut self.mailbox), self.local.take());
                let runtime = connections.runtime().handle().clone();
                runtime.spawn(async move {
                    let sql = "SELECT pg_advisory_unlock(hashtextextended($1, $2))";
                    let _ = PostgresTurns::on_session(&connections, &session, sql, &mailbox).await;
                    // The node's next holder waits until the lock is let go.
                    drop(local);
                });
            }
        }
        LeaseGuard::new(Unlock {
            connections: self.connections.clone(),
            session: self.session.clone(),
            mailbox: mailbox.to_string(),
            local: Some(local),
        })
    }
}

impl MailboxLease for PostgresTurns {
    fn acquire<'a>(&'a self, mailbox: &'a str) -> LeaseFuture<'a> {
        Box::pin(async move {
            let local = self.local.acquire(mailbox).await?;
            let mut pause = Duration::from_millis(20);
            loop {
                if self.try_lock_on_store_runtime(mailbox).await? {
                    return Ok(self.guard(mailbox, local));
                }
                // On the store's runtime: the caller may have no timer of its own.
                let runtime = self.connections.runtime().handle().clone();
                let _ = runtime
                    .spawn(async move { tokio::time::sleep(pause).await })
                    .await;
                pause = (pause * 2).min(MOST_BACKOFF);
            }
        })
    }

    fn try_acquire_async<'a>(&'a self, mailbox: &'a str) -> LeaseFuture<'a> {
        Box::pin(async move {
            let local = self.local.try_acquire(mailbox)?;
            match self.try_lock_on_store_runtime(mailbox).await? {
                true => Ok(self.guard(mailbox, local)),
                false => Err(LeaseError::Busy),
            }
        })
    }

    fn try_acquire(&self, mailbox: &str) -> Result<LeaseGuard, LeaseError> {
        let local = self.local.try_acquire(mailbox)?;
        let _context = self.connections.runtime().enter();
        match futures_executor::block_on(tokio::task::unconstrained(self.try_lock(mailbox)))? {
            true => Ok(self.guard(mailbox, local)),
            false => Err(LeaseError::Busy),
        }
    }
}
