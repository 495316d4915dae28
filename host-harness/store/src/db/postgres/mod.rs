//! The PostgreSQL backend, for several nodes on one database: a pool of connections driven by
//! a small runtime of its own, so the store's calls block the caller (like SQLite's) from any
//! thread, async or not. Writes that must not interleave across nodes take advisory locks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Pool, RecyclingMethod};

use super::{AdminStore, Backend, StoreError, StoreResult};
use crate::turns::MailboxTurns;

mod claim;
mod events;
mod inbox_read;
mod inbox_write;
mod kv;
mod leases;
mod migrations;
mod outbox;
mod panel;
mod tls;
mod turns;

pub(crate) use turns::PostgresTurns;
pub use turns::{TURN_GRACE, TURN_KEPT_UNRENEWED};

/// Connections each node keeps at most.
const POOL_SIZE: usize = 16;
/// How long a call waits for a connection, or to make one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct PostgresStore {
    connections: Arc<Connections>,
    /// This node's claim on the database (see `claim.rs`).
    claim: Option<claim::Claim>,
}

/// The pool and the runtime that drives it, shared with the turns taken on them; closed when
/// the last user lets go.
struct Connections {
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
}

impl Connections {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("held until drop")
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        self.pool.close();
        // Dropped from async code too, where a runtime may not block to shut down.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Connects to `url` and migrates its schema to this host's.
    pub(super) fn connect(url: &str) -> StoreResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mailsync-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        let manager = tls::manager(
            url,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        )?;
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        let mut store = PostgresStore {
            connections: Arc::new(Connections {
                runtime: Some(runtime),
                pool,
            }),
            claim: None,
        };
        store.block(async { migrations::migrate(&mut store.client().await?).await })?;
        let claim = store.block(claim::Claim::shared(store.connections.clone()))?;
        store.claim = Some(claim);
        Ok(store)
    }

    /// Runs `work` to its end on this store's runtime, blocking the calling thread. Out of
    /// tokio's cooperative budget: called from a tokio task, the work would otherwise spend that
    /// task's budget, which only a yield restores, and spin once it ran out.
    fn block<T>(&self, work: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let _context = self.connections.runtime().enter();
        futures_executor::block_on(tokio::task::unconstrained(work))
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.connections.pool.get().await.map_err(unreachable)
    }
}

/// Why no connection could be had, with what the server said when it said something (a
/// refused login, `pg_hba.conf`, TLS), not only that the pool failed.
pub(super) fn unreachable(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => {
            StoreError::Unreachable(crate::db::postgres_detail(&e))
        }
        other => StoreError::Unreachable(other.to_string()),
    }
}

/// Advisory lock keys (one 64-bit space per database).
pub(super) mod locks {
    /// Held while migrating, so nodes starting at once migrate one after another.
    pub const MIGRATIONS: i64 = 0x6d61_696c_0001;
    /// Held from an event's id being drawn until its transaction ends: ids become visible in
    /// the order they were drawn, so a reader resuming after an id misses none.
    pub const EVENTS: i64 = 0x6d61_696c_0002;
    /// Held while every stored value is sealed again.
    pub const RESEAL: i64 = 0x6d61_696c_0003;
    /// Held shared by every node while its store is open, and alone by a key rotation.
    pub const IN_USE: i64 = 0x6d61_696c_0004;
}

/// The kinds of per-mailbox advisory locks: each hashes the mailbox id with its own seed.
#[derive(Clone, Copy)]
pub(super) enum MailboxLock {
    /// The plugin's storage, so its usage is counted from one starting point at a time.
    Storage = 1,
    /// The inbox's writes.
    Inbox = 2,
}

/// The statement taking a per-mailbox lock, prepared once per connection.
pub(super) async fn lock_statement(
    tx: &deadpool_postgres::Transaction<'_>,
) -> StoreResult<tokio_postgres::Statement> {
    Ok(tx
        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
        .await?)
}

/// Takes the transaction-scoped advisory lock `kind` for `mailbox`.
pub(super) async fn lock_mailbox(
    tx: &deadpool_postgres::Transaction<'_>,
    kind: MailboxLock,
    mailbox: &str,
) -> StoreResult<()> {
    let lock = lock_statement(tx).await?;
    lock_mailbox_with(tx, &lock, kind, mailbox).await
}

/// Takes the lock with `lock` prepared: the request is sent when this is first polled.
pub(super) async fn lock_mailbox_with(
    tx: &deadpool_postgres::Transaction<'_>,
    lock: &tokio_postgres::Statement,
    kind: MailboxLock,
    mailbox: &str,
) -> StoreResult<()> {
    tx.execute(lock, &[&mailbox, &(kind as i64)]).await?;
    Ok(())
}

impl Backend for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn mailbox_turns(&self) -> Arc<dyn MailboxTurns> {
        PostgresTurns::of(self)
    }

    fn sole_use(&self) -> StoreResult<crate::db::SoleUse> {
        self.claim
            .as_ref()
            .ok_or_else(|| StoreError::InUse("no claim was taken".into()))?
            .sole()
    }
}

impl AdminStore for PostgresStore {
    fn admin_value(&self, name: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt("SELECT value FROM admin_choices WHERE name = $1", &[&name])
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn set_admin_value(&self, name: &str, value: &str) -> StoreResult<()> {
        self.block(async {
            self.client()
                .await?
                .execute(
                    "INSERT INTO admin_choices (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    &[&name, &value],
                )
                .await?;
            Ok(())
        })
    }
}
