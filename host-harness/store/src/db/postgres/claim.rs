//! Who uses a PostgreSQL database: every node holds a shared advisory lock on a connection of its
//! own for as long as its store is open, and a key rotation takes the same lock exclusively on
//! its own such connection, which fails while any other node is up. The connection never goes
//! back to the pool: it is closed with its locks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Connections, locks};
use crate::db::{SoleUse, StoreError, StoreResult};

/// How long a node starting waits for a key rotation to finish.
const WAIT_FOR_ROTATION: Duration = Duration::from_secs(30);

/// A node's claim: its connection, holding the shared lock.
pub(super) struct Claim {
    connections: Arc<Connections>,
    client: Arc<tokio::sync::Mutex<Option<deadpool_postgres::Object>>>,
}

impl Claim {
    /// Takes a connection out of the pool and a shared claim on it, waiting while a rotation
    /// holds the database alone.
    pub(super) async fn shared(connections: Arc<Connections>) -> StoreResult<Self> {
        let client = connections.pool.get().await.map_err(super::unreachable)?;
        let started = Instant::now();
        let mut waits = 0u32;
        loop {
            let row = client
                .query_one("SELECT pg_try_advisory_lock_shared($1)", &[&locks::IN_USE])
                .await?;
            if row.get::<_, bool>(0) {
                break;
            }
            if waits == 0 {
                let name: String = client
                    .query_one("SELECT current_database()", &[])
                    .await?
                    .get(0);
                tracing::info!(database = %name, "another process has the database alone (a key rotation); waiting for it, up to {WAIT_FOR_ROTATION:?}");
            }
            waits += 1;
            if started.elapsed() > WAIT_FOR_ROTATION {
                return Err(StoreError::InUse(
                    "a key rotation has held it for too long".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Claim {
            connections,
            client: Arc::new(tokio::sync::Mutex::new(Some(client))),
        })
    }

    /// This node's claim made sole, until the guard drops; `InUse` while another node is up.
    pub(super) fn sole(&self) -> StoreResult<SoleUse> {
        let client = self.client.clone();
        let runtime = self.connections.runtime().handle().clone();
        let _context = self.connections.runtime().enter();
        let taken = futures_executor::block_on(tokio::task::unconstrained(async {
            let held = client.lock().await;
            let client = held
                .as_ref()
                .ok_or_else(|| StoreError::InUse("this node's claim was closed".into()))?;
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&locks::IN_USE])
                .await?;
            Ok::<_, StoreError>(row.get::<_, bool>(0))
        }))?;
        if !taken {
            return Err(StoreError::InUse(
                "another node (or process) is connected to it: stop it first".into(),
            ));
        }
        struct Shared {
            client: Arc<tokio::sync::Mutex<Option<deadpool_postgres::Object>>>,
            runtime: tokio::runtime::Handle,
        }
        impl Drop for Shared {
            fn drop(&mut self) {
                let client = self.client.clone();
                self.runtime.spawn(async move {
                    if let Some(c) = client.lock().await.as_ref() {
                        let _ = c
                            .query_one("SELECT pg_advisory_unlock($1)", &[&locks::IN_USE])
                            .await;
                    }
                });
            }
        }
        Ok(SoleUse::new(Shared { client, runtime }))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Closed, not pooled: its locks go with it.
        if let Ok(mut held) = self.client.try_lock()
            && let Some(client) = held.take()
        {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}
