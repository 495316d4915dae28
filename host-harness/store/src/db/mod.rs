//! The host's store, behind one handle: the plugin's key-value storage (scoped per mailbox,
//! every value sealed with the host's key), the provider record, the CRM's inbox, the events
//! outbox and the administrator's choices, on SQLite (embedded) or PostgreSQL (several nodes).

use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::at_rest::{KeyRing, SealError};
use crate::outbox_store::{NewOutboxEntry, OutboxEntry, OutboxUpdate, SEALED_DRAFT_PREFIX};
use crate::turns::Fence;

mod backend;
mod inbox_writes;
mod lease_plan;
mod lease_round;
mod postgres;
mod quota;
mod sqlite;
mod url;

// The whole backend, and the sealed values' storage, stay behind `Database`, which seals them
// and applies the quota.
pub use backend::{
    AdminStore, EventStore, InboxStore, LeaseRound, LeaseStore, PanelStore, SoleUse,
};
pub(crate) use backend::{Backend, KvStore, Reseal};
pub use lease_plan::{LeaseMove, fair_share, plan as lease_plan};
pub use postgres::{TURN_GRACE, TURN_KEPT_UNRENEWED};
pub use quota::{OverQuota, Quota, Usage};
pub use url::DatabaseUrl;

/// One key-value write of a batch.
pub enum KvWrite {
    Set(String, Vec<u8>),
    Delete(String),
}

impl KvWrite {
    pub fn key(&self) -> &str {
        match self {
            KvWrite::Set(key, _) | KvWrite::Delete(key) => key,
        }
    }
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", postgres_detail(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("PostgreSQL is unreachable: {0}")]
    Unreachable(String),
    #[error("a stored value does not open: {0}")]
    Unreadable(#[from] SealError),
    #[error("the database's schema is version {found}, newer than this host knows ({known})")]
    NewerSchema { found: i64, known: i64 },
    #[error("the database is in use: {0}")]
    InUse(String),
    /// A write made in a mailbox's turn after another holder took that turn (this one's token
    /// is no longer the row's): refused, so two holders never both write.
    #[error("this mailbox's turn was taken by another node; the write (turn {token}) was refused")]
    Fenced { token: i64 },
    /// A store call on the blocking pool that never answered: its thread panicked, or the
    /// runtime was shutting down.
    #[error("a store call did not finish: {0}")]
    Interrupted(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What the server said (its message and SQLSTATE code), or what went wrong on the way.
pub(crate) fn postgres_detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// A storage write that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KvWriteError {
    #[error(transparent)]
    OverQuota(#[from] OverQuota),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A database that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: {source}")]
    Files {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the secret key: {0}")]
    Key(#[from] crate::at_rest::KeyError),
    #[error(
        "a PostgreSQL database is shared by every node: give its key in {} or the settings' \
         storage.key_file, the same on each node",
        crate::at_rest::KEY_ENV
    )]
    SharedKeyNeeded,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        OpenError::Store(e.into())
    }
}

/// The store: a backend, and the keys its values are sealed with. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    backend: Arc<dyn Backend>,
    keys: Arc<RwLock<KeyRing>>,
}

impl Database {
    /// Opens (or creates) the SQLite database at `path` with its key from
    /// `MAILSYNC_SECRET_KEY`, else from the key file beside it, made on first use.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let env_key = std::env::var(crate::at_rest::KEY_ENV).ok();
        let (keys, _) = crate::at_rest::load(env_key.as_deref(), None, path)?;
        Self::open_with_keys(path, keys)
    }

    /// Opens (or creates) the SQLite database at `path`, its values sealed with `keys`. Its
    /// directory is made with mode 0700 and its files have mode 0600.
    pub fn open_with_keys(path: &Path, keys: KeyRing) -> Result<Self, OpenError> {
        let store = sqlite::SqliteStore::open(path)?;
        let db = Self::with_backend(Arc::new(store), keys);
        db.seal_plain_values()?;
        Ok(db)
    }

    /// Opens the database `url` names, migrating its schema to this host's, its values sealed
    /// with `keys`.
    pub fn connect(url: &DatabaseUrl, keys: KeyRing) -> Result<Self, OpenError> {
        match url {
            DatabaseUrl::Sqlite(path) => Self::open_with_keys(path, keys),
            DatabaseUrl::Postgres(url) => {
                let store = postgres::PostgresStore::connect(url)?;
                let db = Self::with_backend(Arc::new(store), keys);
                db.seal_plain_values()?;
                Ok(db)
            }
        }
    }

    /// The key ring for the database `url` names: from `env_key` (the environment's value),
    /// else `key_file`, else (SQLite only) the key file beside the database.
    pub fn keys_for(
        url: &DatabaseUrl,
        env_key: Option<&str>,
        key_file: Option<&Path>,
    ) -> Result<KeyRing, OpenError> {
        let has_env = env_key.is_some_and(|k| !k.trim().is_empty());
        let beside = match (url, key_file) {
            (DatabaseUrl::Sqlite(path), _) => path.as_path(),
            // The environment's key needs no file; without it, the settings must name one.
            (DatabaseUrl::Postgres(_), Some(file)) => file,
            (DatabaseUrl::Postgres(_), None) if has_env => Path::new(""),
            (DatabaseUrl::Postgres(_), None) => return Err(OpenError::SharedKeyNeeded),
        };
        Ok(crate::at_rest::load(env_key, key_file, beside)?.0)
    }

    /// A SQLite database in memory, its values sealed with a key that lives as long as it does.
    pub fn open_in_memory() -> StoreResult<Self> {
        let store = sqlite::SqliteStore::open_in_memory()?;
        Ok(Self::with_backend(Arc::new(store), KeyRing::ephemeral()))
    }

    fn with_backend(backend: Arc<dyn Backend>, keys: KeyRing) -> Self {
        Database {
            backend,
            keys: Arc::new(RwLock::new(keys)),
        }
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// What a value is bound to: its mailbox and key.
    fn context(mailbox: &str, key: &str) -> Vec<u8> {
        [mailbox.as_bytes(), b"\0", key.as_bytes()].concat()
    }

    fn open_value(
        keys: &KeyRing,
        mailbox: &str,
        key: &str,
        value: Vec<u8>,
    ) -> StoreResult<Vec<u8>> {
        if !KeyRing::is_sealed(&value) {
            // Values from before sealing were sealed when the database was opened: one in clear
            // now was put there by someone else than a host, and is not trusted.
            tracing::warn!(
                mailbox,
                key,
                "a stored value is not sealed; refused, not used"
            );
            return Err(SealError::NotSealed.into());
        }
        Ok(keys.open(&Self::context(mailbox, key), &value)?)
    }

    /// Seals every value still stored in clear (from before values were sealed), when the
    /// database is opened, on SQLite and on PostgreSQL alike.
    fn seal_plain_values(&self) -> StoreResult<u64> {
        let keys = self.keys().clone();
        self.backend.kv_reseal(true, &mut |mailbox, key, value| {
            Ok(
                (!KeyRing::is_sealed(value))
                    .then(|| keys.seal(&Self::context(mailbox, key), value)),
            )
        })
    }

    /// This handle alone uses the database until the guard drops, or `InUse` at once (see
    /// `Backend::sole_use`): `rotate-key` takes it, so no other process goes on sealing under the
    /// old key.
    pub fn sole_use(&self) -> StoreResult<SoleUse> {
        self.backend.sole_use()
    }

    /// Seals every value again under `keys`' current key, in one transaction; from then on the
    /// database uses `keys`. Returns how many values were sealed again.
    pub fn rotate_key(&self, keys: KeyRing) -> StoreResult<u64> {
        let mut held = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let count = self.backend.kv_reseal(false, &mut |mailbox, key, value| {
            let context = Self::context(mailbox, key);
            let plain = if KeyRing::is_sealed(value) {
                keys.open(&context, value)
                    .or_else(|_| held.open(&context, value))?
            } else {
                value.to_vec()
            };
            Ok(Some(keys.seal(&context, &plain)))
        })?;
        *held = keys;
        Ok(count)
    }

    /// Runs `op` on a blocking thread, off the async workers; its typed failure, or
    /// `Interrupted` when the thread never answered.
    pub async fn run_blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let db = self.clone();
        match tokio::task::spawn_blocking(move || op(&db)).await {
            Ok(result) => result,
            Err(e) => Err(StoreError::Interrupted(e.to_string())),
        }
    }

    pub fn kv_get(&self, mailbox: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        // Held across the read, so a rotation cannot retire the key of a value between reading
        // and opening it.
        let keys = self.keys();
        self.backend
            .kv_get_sealed(mailbox, key)?
            .map(|value| Self::open_value(&keys, mailbox, key, value))
            .transpose()
    }

    /// All the writes in one transaction, each value sealed, with no quota.
    pub fn kv_write(&self, mailbox: &str, writes: &[KvWrite]) -> StoreResult<()> {
        self.kv_write_within(mailbox, writes, None)
            .map_err(|e| match e {
                KvWriteError::Store(e) => e,
                KvWriteError::OverQuota(_) => unreachable!("no quota was given"),
            })
    }

    /// All the writes in one transaction, each value sealed; refused whole when it would take
    /// the mailbox over `quota` (a batch that does not grow its storage always passes).
    pub fn kv_write_within(
        &self,
        mailbox: &str,
        writes: &[KvWrite],
        quota: Option<Quota>,
    ) -> Result<(), KvWriteError> {
        self.kv_write_in_turn(None, mailbox, writes, quota)
    }

    /// As `kv_write_within`, made in the mailbox's turn `turn`: refused (`Fenced`) once another
    /// holder has taken that turn.
    pub fn kv_write_in_turn(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        writes: &[KvWrite],
        quota: Option<Quota>,
    ) -> Result<(), KvWriteError> {
        // Held across the write: a rotation waits for it, so nothing is sealed under a key it
        // has just retired.
        let keys = self.keys();
        let sealed: Vec<KvWrite> = writes
            .iter()
            .map(|w| match w {
                KvWrite::Set(key, value) => {
                    KvWrite::Set(key.clone(), keys.seal(&Self::context(mailbox, key), value))
                }
                KvWrite::Delete(key) => KvWrite::Delete(key.clone()),
            })
            .collect();
        Ok(self
            .backend
            .kv_write_sealed(turn, mailbox, &sealed, quota)??)
    }

    /// Adds a send to `entry.mailbox`'s outbox, its draft sealed, unless the mailbox has an
    /// entry under the same idempotency key: the stored entry, and whether it was added now.
    pub fn outbox_add(
        &self,
        entry: &NewOutboxEntry,
        draft: &[u8],
    ) -> StoreResult<(OutboxEntry, bool)> {
        let keys = self.keys();
        let name = format!("{SEALED_DRAFT_PREFIX}{}", entry.id);
        let sealed = keys.seal(&Self::context(&entry.mailbox, &name), draft);
        self.backend.outbox_add(entry, &sealed)
    }

    pub fn outbox_entry(&self, mailbox: &str, id: &str) -> StoreResult<Option<OutboxEntry>> {
        self.backend.outbox_entry(mailbox, id)
    }

    /// The entry's draft, opened; `None` once the entry is finished (its draft went then).
    pub fn outbox_draft(&self, mailbox: &str, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let keys = self.keys();
        let name = format!("{SEALED_DRAFT_PREFIX}{id}");
        self.backend
            .outbox_draft_sealed(mailbox, id)?
            .filter(|value| !value.is_empty())
            .map(|value| Self::open_value(&keys, mailbox, &name, value))
            .transpose()
    }

    /// The mailbox's oldest open entry (queued or sending), due or not: entries go in order.
    pub fn outbox_head(&self, mailbox: &str) -> StoreResult<Option<OutboxEntry>> {
        self.backend.outbox_head(mailbox)
    }

    /// Sets the entry's state, with its event in the same transaction.
    pub fn outbox_update(&self, mailbox: &str, id: &str, update: &OutboxUpdate) -> StoreResult<()> {
        self.backend.outbox_update(mailbox, id, update)
    }

    /// Forgets the finished entries (sent or failed) last changed before `before_ms`, in every
    /// mailbox: how many went.
    pub fn outbox_forget(&self, before_ms: i64) -> StoreResult<u64> {
        self.backend.outbox_forget(before_ms)
    }

    /// The mailboxes whose oldest open entry is due at `now_ms` (each once).
    pub fn outbox_entry_by_key(
        &self,
        mailbox: &str,
        key: &str,
    ) -> StoreResult<Option<OutboxEntry>> {
        self.backend.outbox_entry_by_key(mailbox, key)
    }

    pub fn outbox_open_count(&self, mailbox: &str) -> StoreResult<u64> {
        self.backend.outbox_open_count(mailbox)
    }

    pub fn outbox_due_mailboxes(&self, now_ms: i64) -> StoreResult<Vec<String>> {
        self.backend.outbox_due_mailboxes(now_ms)
    }

    /// The stored records of a mailbox's messages, oldest first, as JSON.
    pub fn inbox_records(&self, mailbox: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .inbox()
            .inbox_messages(mailbox)?
            .into_iter()
            .map(|m| m.record_json)
            .collect())
    }

    /// The CRM's inbox.
    pub fn inbox(&self) -> &dyn InboxStore {
        &*self.backend
    }

    /// The events outbox and the webhooks' cursors.
    pub fn events(&self) -> &dyn EventStore {
        &*self.backend
    }

    /// Which node keeps each mailbox in sync.
    pub fn leases(&self) -> &dyn LeaseStore {
        &*self.backend
    }

    /// The panel's sign-in tickets and sessions.
    pub fn panel(&self) -> &dyn PanelStore {
        &*self.backend
    }

    /// The administrator's choices.
    pub fn admin(&self) -> &dyn AdminStore {
        &*self.backend
    }

    /// Whose turn it is to change a mailbox, among every process that uses this database.
    pub fn mailbox_turns(&self) -> Arc<dyn crate::turns::MailboxTurns> {
        self.backend.mailbox_turns()
    }

    /// The mailbox's keys that start with `prefix` (taken literally), sorted.
    pub fn kv_list(&self, mailbox: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.backend.kv_list(mailbox, prefix)
    }

    pub fn kv_usage(&self, mailbox: &str) -> StoreResult<Usage> {
        self.backend.kv_usage(mailbox)
    }

    /// The provider the platform chose for `mailbox`, if any.
    pub fn mailbox_provider(&self, mailbox: &str) -> StoreResult<Option<String>> {
        self.backend.mailbox_provider(mailbox)
    }

    /// Every mailbox with a provider recorded (linked, or linking), by id.
    pub fn mailboxes_with_provider(&self) -> StoreResult<Vec<String>> {
        self.backend.mailboxes_with_provider()
    }

    /// Records (or with `None`, forgets) the provider of `mailbox`.
    pub fn set_mailbox_provider(&self, mailbox: &str, provider: Option<&str>) -> StoreResult<()> {
        self.backend.set_mailbox_provider(mailbox, provider)
    }

    /// The address `mailbox` was linked with, as the host recorded it when the link completed;
    /// forgotten with its provider.
    pub fn linked_address(&self, mailbox: &str) -> StoreResult<Option<String>> {
        self.backend.linked_address(mailbox)
    }

    pub fn set_linked_address(&self, mailbox: &str, address: &str) -> StoreResult<()> {
        self.backend.set_linked_address(mailbox, address)
    }

    /// When `mailbox`'s messages were sent, at or after `since_ms` (ms since the epoch), oldest
    /// first: what its send rates are counted on, across nodes.
    pub fn sends_since(&self, mailbox: &str, since_ms: i64) -> StoreResult<Vec<i64>> {
        self.backend.sends_since(mailbox, since_ms)
    }

    /// Records a message of `mailbox` sent at `at_ms`; its sends before `forget_before_ms`,
    /// which no rate counts any more, are forgotten.
    pub fn record_send(&self, mailbox: &str, at_ms: i64, forget_before_ms: i64) -> StoreResult<()> {
        self.backend.record_send(mailbox, at_ms, forget_before_ms)
    }

    /// "sqlite" or "postgres".
    pub fn backend_kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// The SQLite backend, for its own tests.
    #[cfg(test)]
    pub(in crate::db) fn sqlite(&self) -> &sqlite::SqliteStore {
        let any: &dyn std::any::Any = &*self.backend;
        any.downcast_ref().expect("a SQLite database")
    }
}
