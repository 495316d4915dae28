//! What a store backend promises, one trait per concern: the plugin's key-value storage, the
//! CRM's inbox, the events outbox and the administrator's choices. SQLite and PostgreSQL each
//! implement all of them; nothing outside `db` writes SQL.

use super::{KvWrite, OverQuota, Quota, StoreResult, Usage};
use crate::at_rest::SealError;
use crate::event_store::{DeadLetter, StoredEvent};
use crate::inbox_store::{
    Change, ChangeCounts, DeliveryCounts, MessagePlaces, MessageSummary, NewMessage, StoredMessage,
};
use crate::outbox_store::{NewOutboxEntry, OutboxEntry, OutboxUpdate};
use crate::turns::Fence;

/// Rewrites one stored value (mailbox, key, value as stored): `Some` replaces it, `None` keeps it.
pub(crate) type Reseal<'a> =
    dyn FnMut(&str, &str, &[u8]) -> Result<Option<Vec<u8>>, SealError> + 'a;

/// The plugin's storage, scoped per mailbox, and which provider each mailbox was linked through.
/// Values arrive sealed and leave sealed: the keys stay with `Database`.
pub(crate) trait KvStore: Send + Sync {
    fn kv_get_sealed(&self, mailbox: &str, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// The mailbox's keys that start with `prefix` (taken literally), sorted.
    fn kv_list(&self, mailbox: &str, prefix: &str) -> StoreResult<Vec<String>>;
    /// All the writes in one transaction; refused whole when they would take the mailbox over
    /// `quota` (a batch that does not grow its storage always passes).
    /// With `turn`, refused (`Fenced`) once another holder has taken the mailbox's turn.
    fn kv_write_sealed(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        writes: &[KvWrite],
        quota: Option<Quota>,
    ) -> StoreResult<Result<(), OverQuota>>;
    fn kv_usage(&self, mailbox: &str) -> StoreResult<Usage>;
    /// Passes every stored value (with `only_clear`, only those not yet sealed) through
    /// `reseal` in one transaction, and counts usage again; returns how many were replaced.
    fn kv_reseal(&self, only_clear: bool, reseal: &mut Reseal<'_>) -> StoreResult<u64>;
    /// The provider the platform chose for `mailbox`, if any.
    fn mailbox_provider(&self, mailbox: &str) -> StoreResult<Option<String>>;
    /// Every mailbox with a provider recorded (linked, or linking), by id.
    fn mailboxes_with_provider(&self) -> StoreResult<Vec<String>>;
    /// Records (or with `None`, forgets) the provider of `mailbox`.
    fn set_mailbox_provider(&self, mailbox: &str, provider: Option<&str>) -> StoreResult<()>;
    /// The address the mailbox was linked with, as recorded when the link completed.
    fn linked_address(&self, mailbox: &str) -> StoreResult<Option<String>>;
    /// Records the address the mailbox was linked with (a mailbox with a provider only).
    fn set_linked_address(&self, mailbox: &str, address: &str) -> StoreResult<()>;
    /// When `mailbox`'s messages were sent, at or after `since_ms`, oldest first.
    fn sends_since(&self, mailbox: &str, since_ms: i64) -> StoreResult<Vec<i64>>;
    /// Records a message of `mailbox` sent at `at_ms`, and forgets its sends before
    /// `forget_before_ms`.
    fn record_send(&self, mailbox: &str, at_ms: i64, forget_before_ms: i64) -> StoreResult<()>;
}

/// The mailboxes' outboxes: entries unique per mailbox and idempotency key, kept in the order
/// they came, their drafts sealed (they arrive sealed and leave sealed, as the plugin's values).
pub(crate) trait OutboxStore: Send + Sync {
    /// Adds `entry` with its sealed draft, unless its mailbox has an entry under the same key:
    /// the stored entry, and whether it was added now.
    fn outbox_add(
        &self,
        entry: &NewOutboxEntry,
        sealed_draft: &[u8],
    ) -> StoreResult<(OutboxEntry, bool)>;
    fn outbox_entry(&self, mailbox: &str, id: &str) -> StoreResult<Option<OutboxEntry>>;
    /// The entry the idempotency key `key` made in the mailbox, if any.
    fn outbox_entry_by_key(&self, mailbox: &str, key: &str) -> StoreResult<Option<OutboxEntry>>;
    fn outbox_draft_sealed(&self, mailbox: &str, id: &str) -> StoreResult<Option<Vec<u8>>>;
    /// The mailbox's oldest entry still open (queued or sending), due or not.
    fn outbox_head(&self, mailbox: &str) -> StoreResult<Option<OutboxEntry>>;
    /// Sets the entry's state, and appends `update.event` in the same transaction; a finished
    /// entry's draft goes.
    fn outbox_update(&self, mailbox: &str, id: &str, update: &OutboxUpdate) -> StoreResult<()>;
    /// Forgets the finished entries last changed before `before_ms`: how many.
    fn outbox_forget(&self, before_ms: i64) -> StoreResult<u64>;
    /// How many of the mailbox's entries are open (queued or sending).
    fn outbox_open_count(&self, mailbox: &str) -> StoreResult<u64>;
    /// The mailboxes whose oldest open entry is due at `now_ms`.
    fn outbox_due_mailboxes(&self, now_ms: i64) -> StoreResult<Vec<String>>;
}

/// The CRM's inbox: messages unique per mailbox and dedupe key, their locations and updates,
/// and the sync reports. Each write is one transaction, with its `message.*` events.
pub trait InboxStore: Send + Sync {
    fn inbox_deliver(&self, mailbox: &str, batch: &[NewMessage]) -> StoreResult<DeliveryCounts> {
        self.inbox_deliver_in_turn(None, mailbox, batch)
    }
    /// As `inbox_deliver`, made in the mailbox's turn `turn`: refused (`Fenced`) once another
    /// holder has taken that turn.
    fn inbox_deliver_in_turn(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        batch: &[NewMessage],
    ) -> StoreResult<DeliveryCounts>;
    fn inbox_apply(&self, mailbox: &str, changes: &[Change]) -> StoreResult<ChangeCounts> {
        self.inbox_apply_in_turn(None, mailbox, changes)
    }
    /// As `inbox_apply`, in the mailbox's turn `turn` (see `inbox_deliver_in_turn`).
    fn inbox_apply_in_turn(
        &self,
        turn: Option<&Fence>,
        mailbox: &str,
        changes: &[Change],
    ) -> StoreResult<ChangeCounts>;
    /// The mailbox's messages whose last place went (they may have moved to a folder not
    /// looked at yet), not yet removed.
    fn inbox_unplaced(&self, mailbox: &str) -> StoreResult<Vec<i64>>;
    /// Removes those of `ids` that still have no place (a whole pass found them nowhere), each
    /// with its `message.removed` event; returns them, each with the CRM folder it was in.
    fn inbox_settle_unplaced(&self, mailbox: &str, ids: &[i64]) -> StoreResult<Vec<(i64, u8)>>;
    /// A mailbox's messages, oldest first, with their locations and updates.
    fn inbox_messages(&self, mailbox: &str) -> StoreResult<Vec<StoredMessage>>;
    /// Where one of the mailbox's messages is, by its id.
    fn inbox_places(&self, mailbox: &str, id: i64) -> StoreResult<Option<MessagePlaces>>;
    /// The stored record (JSON) of one of the mailbox's messages, by its id.
    fn inbox_record(&self, mailbox: &str, id: i64) -> StoreResult<Option<String>>;
    /// Newest delivery first: those delivered before message `before`, at most `limit`; each
    /// with its first senders, not its record.
    fn inbox_page(
        &self,
        mailbox: &str,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<MessageSummary>>;
    /// Records a sync's report and prunes the mailbox's history to the latest.
    fn record_sync_run(&self, mailbox: &str, report_json: &str) -> StoreResult<()>;
    /// The latest `limit` reports, newest first: when each was recorded, and the report.
    fn sync_runs(&self, mailbox: &str, limit: u32) -> StoreResult<Vec<(String, String)>>;
    fn last_sync_run(&self, mailbox: &str) -> StoreResult<Option<String>>;
}

/// The events outbox: ids increase in the order events become visible, so a reader that
/// resumes after the last id it saw misses none.
pub trait EventStore: Send + Sync {
    fn event_append(&self, kind: &str, mailbox: &str, body: &serde_json::Value)
    -> StoreResult<i64>;
    /// The newest event's id (0 with none).
    fn events_latest_id(&self) -> StoreResult<i64>;
    /// Up to `limit` events after id `after`, oldest first.
    fn events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        self.events_of(None, after, limit)
    }
    /// As `events_after`, of `mailbox` only when it is given: the others are never read out.
    fn events_of(
        &self,
        mailbox: Option<&str>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// The last event id `webhook` acknowledged, if it has a cursor.
    fn webhook_cursor(&self, webhook: &str) -> StoreResult<Option<i64>>;
    /// Moves `webhook`'s cursor; the cursor is seen now.
    fn set_webhook_cursor(&self, webhook: &str, last_id: i64) -> StoreResult<()>;
    /// Marks `webhook`'s cursor seen now, though it did not move (a delivery is failing): a
    /// cursor unseen for `FORGOTTEN_CURSOR_MS` is dropped, and holds no event back.
    fn touch_webhook_cursor(&self, webhook: &str) -> StoreResult<()>;
    /// Sets `letter` aside for `webhook` and moves the webhook's cursor past its event, both or
    /// neither; only the newest `MAX_DEAD_LETTERS` are kept.
    fn webhook_dead_letter(&self, webhook: &str, letter: &DeadLetter) -> StoreResult<()>;
    /// `webhook`'s dead letters, newest first, at most `limit`.
    fn webhook_dead_letters(&self, webhook: &str, limit: u32) -> StoreResult<Vec<DeadLetter>>;
}

/// Named settings the administrator changed at run time (JSON values).
pub trait AdminStore: Send + Sync {
    fn admin_value(&self, name: &str) -> StoreResult<Option<String>>;
    fn set_admin_value(&self, name: &str, value: &str) -> StoreResult<()>;
}

/// What one node holds after a lease round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseRound {
    /// The mailboxes this node keeps in sync until its next round, sorted.
    pub held: Vec<String>,
    /// Live nodes, this one included.
    pub nodes: u32,
    /// Mailboxes with a provider, held or not.
    pub mailboxes: u32,
    /// Held mailboxes another node nudged since this node's last round (`lease_nudge`).
    pub nudged: Vec<String>,
}

/// Which node keeps each mailbox in sync: one lease per mailbox with a provider, held by one
/// node until it expires unless renewed. Time is the database's, so nodes' clocks may differ.
pub trait LeaseStore: Send + Sync {
    /// One heartbeat of `node`: marks it alive and renews what it holds for `ttl`; then, while
    /// it holds fewer than its fair share (the mailboxes over the live nodes, rounded up), claims
    /// up to `max_claims` free or expired leases that no other node is claiming at that moment
    /// (`SKIP LOCKED`); over its share, it lets the surplus go for others to claim.
    fn lease_round(
        &self,
        node: &str,
        ttl: std::time::Duration,
        max_claims: u32,
    ) -> StoreResult<LeaseRound>;
    /// Lets go of every lease `node` holds, and of the node itself (a clean shutdown).
    fn lease_release_all(&self, node: &str) -> StoreResult<()>;
    /// Each mailbox with a provider and the node that holds its lease unexpired, if any.
    fn lease_holders(&self) -> StoreResult<Vec<(String, Option<String>)>>;
    /// Tells whichever node holds `mailbox` to look at it again at its next round: a node that
    /// does not hold it changed its mapping or link (an API call reached it).
    fn lease_nudge(&self, mailbox: &str) -> StoreResult<()>;
}

/// The panel's sign-in tickets and sessions, shared by every node so a browser may reach any.
/// Each is kept under a hash of its token (never the token), with its own expiry.
pub trait PanelStore: Send + Sync {
    /// Keeps `body` under `id_hash` for `ttl`, and forgets every expired one of its `kind`.
    fn panel_put(
        &self,
        kind: &str,
        id_hash: &str,
        body: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<()>;
    /// The unexpired body under `id_hash`.
    fn panel_get(&self, kind: &str, id_hash: &str) -> StoreResult<Option<String>>;
    /// The unexpired body under `id_hash`, removed in the same step (a one-time ticket).
    fn panel_take(&self, kind: &str, id_hash: &str) -> StoreResult<Option<String>>;
}

/// A whole backend.
pub(crate) trait Backend:
    KvStore
    + InboxStore
    + EventStore
    + AdminStore
    + LeaseStore
    + PanelStore
    + OutboxStore
    + std::any::Any
{
    /// "sqlite" or "postgres".
    fn kind(&self) -> &'static str;
    /// Whose turn it is to change a mailbox (link, refresh, mapping), among every process
    /// that uses this database.
    fn mailbox_turns(&self) -> std::sync::Arc<dyn crate::turns::MailboxTurns>;
    /// This handle's claim on the database made sole until the guard drops: every handle holds
    /// a shared claim from its open, so this fails at once (`InUse`) while any other handle, in
    /// this process or another, has the database open. A key rotation needs it.
    fn sole_use(&self) -> StoreResult<SoleUse>;
}

/// A claim on a database no other handle shares (see `Backend::sole_use`); shared again when
/// it drops.
pub struct SoleUse(#[allow(dead_code)] Box<dyn Send + Sync>);

impl SoleUse {
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        SoleUse(Box::new(held))
    }
}
