//! Whose turn it is to change a mailbox, across nodes: a row per mailbox naming the store that
//! holds its turn, renewed every second. A holder that cannot renew stops its calls well before
//! the row's grace runs out; only then may another node take the turn (see `docs/security.md`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::leases::NOW_MS;
use super::{Connections, PostgresStore};
use crate::db::{StoreError, StoreResult};
use crate::turns::{Fence, InProcessTurns, MailboxTurns, TurnError, TurnFuture, TurnGuard};

/// How long after its last renewal (the server's clock) a turn may be taken by another node.
pub const TURN_GRACE: Duration = Duration::from_secs(8);
/// How long after sending its last successful renewal (its own clock) a holder keeps a turn
/// it cannot renew: its calls are stopped then, well inside the grace.
pub const TURN_KEPT_UNRENEWED: Duration = Duration::from_secs(4);
/// The longest a statement on the turns' connection may take: a hung connection is dropped,
/// so taking and releasing turns never wait on it for ever.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a holder renews its turns, and looks at what it could not renew.
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// The first pause before trying again for a turn another node holds, doubled each time.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// The longest pause between two tries for a turn another node holds.
const MOST_BACKOFF: Duration = Duration::from_millis(500);

/// The turns of the mailboxes of one PostgreSQL database, as one node takes them.
pub(crate) struct PostgresTurns {
    shared: Arc<Shared>,
    /// This node's own holders, one per mailbox: its calls queue here, not in the database.
    local: InProcessTurns,
}

/// What the turns' tasks share: the connection they are taken on, and which this store holds.
struct Shared {
    connections: Arc<Connections>,
    /// Who holds a turn, in the rows: this store, among every process using the database.
    holder: String,
    /// One connection of the pool kept for the turns, so taking and renewing them never waits
    /// behind the calls that hold them; made again if it breaks.
    session: tokio::sync::Mutex<Option<deadpool_postgres::Object>>,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    turns: HashMap<String, HeldTurn>,
    /// Whether the renewing task runs (it ends when no turn is held).
    renewing: bool,
}

struct HeldTurn {
    /// The row's token when this store took it: a release lets go of this turn, not a later one.
    token: i64,
    /// When the last renewal that reached the server was sent.
    renewed: Instant,
    lost: CancellationToken,
}

impl PostgresTurns {
    pub(super) fn of(store: &PostgresStore) -> Arc<Self> {
        Arc::new(PostgresTurns {
            shared: Arc::new(Shared {
                connections: store.connections.clone(),
                holder: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
                session: tokio::sync::Mutex::default(),
                held: Mutex::default(),
            }),
            local: InProcessTurns::default(),
        })
    }

    /// Tries to take `mailbox`'s turn in the database, on the store's runtime (the caller's may
    /// have no I/O driver of its own); the guard if it was free.
    async fn try_take(&self, mailbox: &str, local: TurnGuard) -> Result<TurnGuard, Untaken> {
        let shared = self.shared.clone();
        let name = mailbox.to_string();
        let taken = self
            .shared
            .connections
            .runtime()
            .spawn(async move { shared.take(&name).await })
            .await
            .map_err(|e| TurnError::Unavailable(e.to_string()))?;
        match taken? {
            Some((lost, token)) => Ok(self.guard(mailbox, local, lost, token)),
            None => Err(Untaken::Busy(local)),
        }
    }

    /// The guard of a turn: the node's own holder, and the row let go when it drops.
    fn guard(
        &self,
        mailbox: &str,
        local: TurnGuard,
        lost: CancellationToken,
        token: i64,
    ) -> TurnGuard {
        struct Release {
            shared: Arc<Shared>,
            mailbox: String,
            local: Option<TurnGuard>,
        }
        impl Drop for Release {
            fn drop(&mut self) {
                let shared = self.shared.clone();
                let (mailbox, local) = (std::mem::take(&mut self.mailbox), self.local.take());
                let runtime = shared.connections.runtime().handle().clone();
                runtime.spawn(async move {
                    shared.release(&mailbox).await;
                    // The node's next holder waits until the row is let go.
                    drop(local);
                });
            }
        }
        TurnGuard::losable(
            Release {
                shared: self.shared.clone(),
                mailbox: mailbox.to_string(),
                local: Some(local),
            },
            lost,
        )
        .fenced(Fence {
            holder: self.shared.holder.clone(),
            token,
        })
    }
}

/// Why a try took no turn: another node holds it (this node's holder is handed back), or the
/// database could not be asked.
enum Untaken {
    Busy(TurnGuard),
    Failed(TurnError),
}

impl From<TurnError> for Untaken {
    fn from(e: TurnError) -> Self {
        Untaken::Failed(e)
    }
}

impl Shared {
    /// Runs `sql` on the turns' connection, within `QUERY_TIMEOUT`; a connection that failed or
    /// did not answer in time is closed, never pooled, and the next query makes another.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, TurnError> {
        let mut session = self.session.lock().await;
        let asked = tokio::time::timeout(QUERY_TIMEOUT, async {
            if session.as_ref().is_none_or(|c| c.is_closed()) {
                let client = self
                    .connections
                    .pool
                    .get()
                    .await
                    .map_err(|e| TurnError::Unavailable(e.to_string()))?;
                *session = Some(client);
            }
            let client = session.as_ref().expect("made above");
            let statement = client.prepare_cached(sql).await.map_err(unavailable)?;
            client.query(&statement, params).await.map_err(unavailable)
        })
        .await
        .unwrap_or_else(|_| {
            Err(TurnError::Unavailable(format!(
                "the database did not answer within {QUERY_TIMEOUT:?}"
            )))
        });
        if asked.is_err() {
            // Closed, never pooled again: it may be in any state, or hung.
            if let Some(broken) = session.take() {
                drop(deadpool_postgres::Object::take(broken));
            }
        }
        asked
    }

    /// Takes `mailbox`'s turn if nobody holds it or its holder stopped renewing it more than
    /// the grace ago: the token cancelled when this store loses it, and the row's token.
    async fn take(
        self: &Arc<Self>,
        mailbox: &str,
    ) -> Result<Option<(CancellationToken, i64)>, TurnError> {
        let grace_ms = TURN_GRACE.as_millis() as i64;
        let sent = Instant::now();
        let rows = self
            .query(
                &format!(
                    "INSERT INTO mailbox_turns (mailbox, holder, token, renewed_ms)
                     VALUES ($1, $2, 1, {NOW_MS})
                     ON CONFLICT (mailbox) DO UPDATE
                         SET holder = $2, token = mailbox_turns.token + 1, renewed_ms = {NOW_MS}
                         WHERE mailbox_turns.holder IS NULL
                             OR mailbox_turns.renewed_ms < {NOW_MS} - $3
                     RETURNING token"
                ),
                &[&mailbox, &self.holder, &grace_ms],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let lost = CancellationToken::new();
        let token: i64 = row.get(0);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.turns.insert(
            mailbox.to_string(),
            HeldTurn {
                token,
                renewed: sent,
                lost: lost.clone(),
            },
        );
        if !held.renewing {
            held.renewing = true;
            tokio::spawn(self.clone().renew_while_held());
        }
        Ok(Some((lost, token)))
    }

    /// Lets go of `mailbox`'s turn: others may take it at once. A release that fails leaves
    /// the row to run out its grace.
    async fn release(&self, mailbox: &str) {
        let turn = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.turns.remove(mailbox)
        };
        let Some(turn) = turn else { return };
        let released = self
            .query(
                "UPDATE mailbox_turns SET holder = NULL
                 WHERE mailbox = $1 AND holder = $2 AND token = $3",
                &[&mailbox, &self.holder, &turn.token],
            )
            .await;
        if let Err(e) = released {
            tracing::warn!(mailbox, error = %e, "a turn could not be let go; it frees itself after {TURN_GRACE:?}");
        }
    }

    /// Renews every turn this store holds, each second, until it holds none. A turn not renewed
    /// for `TURN_KEPT_UNRENEWED` is lost: its call is stopped before another node may take it.
    async fn renew_while_held(self: Arc<Self>) {
        loop {
            let mailboxes: Vec<String> = {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                if held.turns.is_empty() {
                    held.renewing = false;
                    return;
                }
                held.turns.keys().cloned().collect()
            };
            let sent = Instant::now();
            let sql = format!(
                "UPDATE mailbox_turns SET renewed_ms = {NOW_MS}
                 WHERE holder = $1 AND mailbox = ANY($2) RETURNING mailbox"
            );
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
                [&self.holder, &mailboxes];
            let renewed = tokio::time::timeout(RENEW_EVERY, self.query(&sql, &params)).await;
            {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                if let Ok(Ok(rows)) = &renewed {
                    let renewed: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
                    for mailbox in &mailboxes {
                        let Some(turn) = held.turns.get_mut(mailbox) else {
                            continue;
                        };
                        if renewed.contains(mailbox) {
                            turn.renewed = turn.renewed.max(sent);
                        } else if turn.renewed < sent {
                            // Taken from this store: its call must stop now.
                            turn.lost.cancel();
                        }
                    }
                }
                for (mailbox, turn) in &held.turns {
                    if turn.renewed.elapsed() >= TURN_KEPT_UNRENEWED && !turn.lost.is_cancelled() {
                        tracing::warn!(
                            mailbox,
                            "this mailbox's turn could not be renewed; its call is stopped"
                        );
                        turn.lost.cancel();
                    }
                }
            }
            let rest = RENEW_EVERY.saturating_sub(sent.elapsed());
            tokio::time::sleep(rest).await;
        }
    }
}

fn unavailable(e: tokio_postgres::Error) -> TurnError {
    TurnError::Unavailable(crate::db::postgres_detail(&e))
}

impl MailboxTurns for PostgresTurns {
    fn acquire<'a>(&'a self, mailbox: &'a str) -> TurnFuture<'a> {
        Box::pin(async move {
            let mut local = self.local.acquire(mailbox).await?;
            let mut pause = FIRST_PAUSE;
            loop {
                match self.try_take(mailbox, local).await {
                    Ok(turn) => return Ok(turn),
                    Err(Untaken::Busy(kept)) => local = kept,
                    Err(Untaken::Failed(e)) => return Err(e),
                }
                if pause == FIRST_PAUSE {
                    tracing::debug!(
                        mailbox,
                        "another node holds this mailbox's turn; waiting for it"
                    );
                }
                // On the store's runtime: the caller may have no timer of its own.
                let runtime = self.shared.connections.runtime().handle().clone();
                let _ = runtime
                    .spawn(async move { tokio::time::sleep(pause).await })
                    .await;
                pause = (pause * 2).min(MOST_BACKOFF);
            }
        })
    }

    fn try_acquire_async<'a>(&'a self, mailbox: &'a str) -> TurnFuture<'a> {
        Box::pin(async move {
            let local = self.local.try_acquire(mailbox)?;
            match self.try_take(mailbox, local).await {
                Ok(turn) => Ok(turn),
                Err(Untaken::Busy(_)) => Err(TurnError::Busy),
                Err(Untaken::Failed(e)) => Err(e),
            }
        })
    }

    fn try_acquire(&self, mailbox: &str) -> Result<TurnGuard, TurnError> {
        futures_executor::block_on(self.try_acquire_async(mailbox))
    }
}

/// Refuses a write in `mailbox`'s turn `turn` (`Fenced`) unless the row still names that holder
/// and token. The row is then held `FOR KEY SHARE` until `tx` ends: the token is a key (a
/// unique index), so another node's taking, which changes it, waits for the write to commit,
/// while this node's renewals, which change no key, go on.
pub(super) async fn check_turn(
    tx: &deadpool_postgres::Transaction<'_>,
    mailbox: &str,
    turn: &Fence,
) -> StoreResult<()> {
    let current = tx
        .query_opt(
            "SELECT 1 FROM mailbox_turns WHERE mailbox = $1 AND holder = $2 AND token = $3
             FOR KEY SHARE",
            &[&mailbox, &turn.holder, &turn.token],
        )
        .await?;
    match current {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced { token: turn.token }),
    }
}
