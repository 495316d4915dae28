//! `Mailbox`, one mailbox as the platform sees it: every method is one sandboxed call into the
//! plugin, under the grants of the provider the host recorded for this mailbox.

use crate::bindings::act::{Action, ActionError, ActionReceipt, Target};
use crate::bindings::exports::crm::mail_sync::mailbox::{
    AccessChecked, ErrorKind, LinkRequest, LinkStarted, LinkState, MailboxError, MailboxStatus,
    ManualSettings, Unlinked, UserMessage,
};
use crate::bindings::folders::{FolderMapping, MappingStatus, RemoteFolder};
use crate::bindings::send::{Draft, SendError, SendOutcome, SendReceipt};
use crate::bindings::sync::{SyncReport, WatchReport};
use crate::bindings::{RawMessage, message::MessageRecord};
use crate::errors::CallError;
use crate::normalize_workers::NormalizeWorkers;
use crate::plugin_host::PluginHost;
use crate::plugin_versions::{ContractVersion, PluginInstance};
use crate::resources::envelope::{EnvelopeRules, SendGrant};
use crate::send_rate::{DAY_MS, SendRates};
use crate::state::{HostState, MailboxScope, ProviderGrant};
use crate::turns::{TurnError, TurnGuard};
use wasmtime::Store;

/// What a mailbox call returns: the plugin's answer (which may be its typed error), or the reason
/// the call itself failed (a trap or a limit).
pub type MailboxResult<T> = Result<Result<T, MailboxError>, CallError>;

/// A handle on one mailbox, owned (no borrow of the host), so a task can keep one.
#[derive(Clone)]
pub struct Mailbox {
    pub(crate) host: PluginHost,
    pub(crate) id: String,
}

impl PluginHost {
    /// A handle on one mailbox. Its calls get the grants of the provider the mailbox was linked
    /// through, from the host's own record (see [`PluginHost::assign_provider`]).
    pub fn mailbox(&self, id: &str) -> Mailbox {
        Mailbox {
            host: self.clone(),
            id: id.to_string(),
        }
    }
}

/// Runs one export in a fresh instance under the mailbox's scope and a time budget (the host's
/// call budget unless `budget` names one); with the grants of `$provider`, or of the provider
/// the host recorded for the mailbox.
macro_rules! call_export {
    (@call $self:ident, $budget_ms:ident, $instantiate:expr,
        |$plugin:ident, $store:ident| $call:expr) => {{
        let host = &$self.host;
        host.within_budget($budget_ms, async {
            let (mut store, plugin): (Store<HostState>, PluginInstance) =
                Box::pin($instantiate).await?;
            let ($plugin, $store) = (&plugin, &mut store);
            let hostcall_cap = host.shared().platform().policy.hostcall_cap_bytes;
            // On the heap: the call's future holds either contract version's, and a caller's
            // future (a sync's passes, a test's thread) holds several calls.
            Box::pin($call)
                .await
                .map_err(|e| CallError::from_call(e, $budget_ms, hostcall_cap))
        })
        .await
    }};
    ($self:ident, syncing $budget_ms:expr, |$plugin:ident, $store:ident| $call:expr) => {{
        let budget_ms = $budget_ms;
        let instantiate = $self.instantiate_syncing(budget_ms);
        call_export!(@call $self, budget_ms, instantiate, |$plugin, $store| $call)
    }};
    ($self:ident, budget $budget_ms:expr, |$plugin:ident, $store:ident| $call:expr) => {{
        let budget_ms = $budget_ms;
        let instantiate = $self.instantiate_recorded(budget_ms);
        call_export!(@call $self, budget_ms, instantiate, |$plugin, $store| $call)
    }};
    ($self:ident, |$plugin:ident, $store:ident| $call:expr) => {{
        call_export!($self, budget $self.host.budget_ms(), |$plugin, $store| $call)
    }};
    ($self:ident, $provider:expr, |$plugin:ident, $store:ident| $call:expr) => {{
        let scope = MailboxScope {
            id: $self.id.clone(),
            provider: ProviderGrant::Known($provider),
        };
        let budget_ms = $self.host.budget_ms();
        let instantiate = $self.host.instantiate_for(scope, budget_ms);
        call_export!(@call $self, budget_ms, instantiate, |$plugin, $store| $call)
    }};
}

/// The calls that may wait for one mailbox's turn at once; one more is refused (`TurnBusy`).
pub const MAX_WAITING_FOR_TURN: usize = 8;

/// The largest sync report kept as the mailbox's last sync (a normal one is a few KiB).
pub const MAX_STORED_REPORT_BYTES: usize = 64 * 1024;

impl Mailbox {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits until no other state-changing call of this mailbox runs; refused at once when
    /// `MAX_WAITING_FOR_TURN` calls already wait (a client cannot pile calls up on one mailbox).
    async fn turn(&self) -> Result<TurnGuard, CallError> {
        let shared = self.host.shared();
        let _waiting = shared
            .turn_waiters
            .enter(&self.id, MAX_WAITING_FOR_TURN)
            .ok_or(CallError::TurnBusy {
                waiting: MAX_WAITING_FOR_TURN,
            })?;
        shared
            .mailbox_turns
            .acquire(&self.id)
            .await
            .map_err(|e| CallError::Host {
                message: e.to_string(),
            })
    }

    /// Runs `call` in this mailbox's turn: waits for the turn, then runs it while the turn lasts.
    pub(crate) async fn in_turn<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        let turn = self.turn().await?;
        self.holding(&turn, call).await
    }

    /// Runs `call` while `turn` lasts. A turn lost (its holder could not renew it in the shared
    /// database) stops the call before another node may take the turn: `TurnLost`.
    async fn holding<T>(
        &self,
        turn: &TurnGuard,
        call: impl std::future::Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        // Its instances carry the turn's fence, so a write of theirs after another node took
        // the turn is refused even if this node never saw it go.
        let call = crate::state::in_call_turn(turn.fence().cloned(), call);
        crate::turns::while_held(turn, call)
            .await
            .unwrap_or(Err(CallError::TurnLost))
    }

    /// This mailbox's turn if no other call holds it now, else `None` at once: the scheduler
    /// and push take a shared slot only for a mailbox whose turn they already hold.
    pub async fn free_turn(&self) -> Result<Option<TurnGuard>, CallError> {
        match self
            .host
            .shared()
            .mailbox_turns
            .try_acquire_async(&self.id)
            .await
        {
            Ok(turn) => Ok(Some(turn)),
            Err(TurnError::Busy) => Ok(None),
            Err(e) => Err(CallError::Host {
                message: e.to_string(),
            }),
        }
    }

    /// A fresh instance under the provider the host recorded for this mailbox. The record is
    /// read when a capability first needs it (`HostState::provider`): a call that uses no grant,
    /// such as `normalize`, never reads it.
    async fn instantiate_recorded(
        &self,
        budget_ms: u64,
    ) -> Result<(Store<HostState>, PluginInstance), CallError> {
        let recorded = MailboxScope {
            id: self.id.clone(),
            provider: ProviderGrant::Recorded,
        };
        self.host.instantiate_for(recorded, budget_ms).await
    }

    /// `instantiate_recorded` for a sync or a watch, lent workers to hand messages to.
    async fn instantiate_syncing(
        &self,
        budget_ms: u64,
    ) -> Result<(Store<HostState>, PluginInstance), CallError> {
        let (mut store, plugin) = self.instantiate_recorded(budget_ms).await?;
        store.data_mut().normalize_workers =
            Some(Box::new(NormalizeWorkers::new(self.host.clone(), &self.id)));
        Ok((store, plugin))
    }

    /// The provider whose grants this mailbox's calls get, from the host's record (for the
    /// platform and the panel; a call's capabilities ask `HostState::provider`).
    pub async fn provider(&self) -> Result<Option<String>, CallError> {
        self.host
            .shared()
            .recorded_provider(&self.id)
            .await
            .map_err(CallError::from)
    }

    pub async fn status(&self) -> MailboxResult<MailboxStatus> {
        call_export!(self, |p, s| p.status(s))
    }

    /// Starts linking through `request.provider`; on success the host records that provider for
    /// this mailbox, so the callback's exchange may reach its token endpoint.
    pub async fn link_start(&self, request: &LinkRequest) -> MailboxResult<LinkStarted> {
        self.in_turn(async {
            let provider = Some(request.provider.clone());
            let started = call_export!(self, provider, |p, s| p.link_start(s, request))?;
            if started.is_ok() {
                self.host
                    .assign_provider(&self.id, Some(&request.provider))
                    .await?;
            }
            Ok(started)
        })
        .await
    }

    /// Completes linking with the query of the provider's redirect to the callback, for the CRM
    /// user whose browser brought it (only the user who started the link may complete it).
    pub async fn link_complete(
        &self,
        user: &str,
        query: &[(String, String)],
    ) -> MailboxResult<MailboxStatus> {
        self.in_turn(async {
            let linked = call_export!(self, |p, s| p.link_complete(s, user, query))?;
            if let Ok(status) = &linked
                && status.state == LinkState::Linked
                && let Some(address) = status.address.clone()
            {
                // The sender every later send is held to.
                self.record_linked_address(address).await?;
            }
            Ok(linked)
        })
        .await
    }

    async fn record_linked_address(&self, address: String) -> Result<(), CallError> {
        let id = self.id.clone();
        self.host
            .shared()
            .db
            .run_blocking(move |db| db.set_linked_address(&id, &address))
            .await?;
        Ok(())
    }

    /// Unlinks; on success the host forgets the mailbox's provider and with it its grants.
    pub async fn unlink(&self) -> MailboxResult<Unlinked> {
        self.in_turn(async {
            let unlinked = call_export!(self, |p, s| p.unlink(s))?;
            if unlinked.is_ok() {
                self.host.assign_provider(&self.id, None).await?;
            }
            Ok(unlinked)
        })
        .await
    }

    pub async fn set_settings(&self, settings: &ManualSettings) -> MailboxResult<MailboxStatus> {
        self.in_turn(async { call_export!(self, |p, s| p.set_settings(s, settings)) })
            .await
    }

    /// Makes sure the mailbox has a valid access token, refreshing it when due or when `force`.
    pub async fn check_access(&self, force: bool) -> MailboxResult<AccessChecked> {
        self.in_turn(async { call_export!(self, |p, s| p.check_access(s, force)) })
            .await
    }

    /// "Edit folders": the folders the IMAP server lists.
    pub async fn list_folders(&self) -> MailboxResult<Vec<RemoteFolder>> {
        self.in_turn(async { call_export!(self, |p, s| p.list_remote(s)) })
            .await
    }

    /// The mapping the folders' special-use attributes suggest.
    pub async fn suggest_mapping(&self) -> MailboxResult<FolderMapping> {
        self.in_turn(async { call_export!(self, |p, s| p.suggest(s)) })
            .await
    }

    /// The saved mapping and what no longer holds in it.
    pub async fn mapping(&self) -> MailboxResult<MappingStatus> {
        call_export!(self, |p, s| p.get_mapping(s))
    }

    /// Validates `mapping` against the server's folders and saves it.
    pub async fn set_mapping(&self, mapping: &FolderMapping) -> MailboxResult<MappingStatus> {
        self.in_turn(async { call_export!(self, |p, s| p.set_mapping(s, mapping)) })
            .await
    }

    /// Syncs every mapped folder once, under the policy's sync time budget, and records the
    /// run's report (JSON) as the mailbox's last sync.
    pub async fn sync(&self) -> MailboxResult<SyncReport> {
        self.sync_holding(self.turn().await?).await
    }

    /// `sync` in a turn the caller already holds (from `free_turn`).
    pub async fn sync_holding(&self, turn: TurnGuard) -> MailboxResult<SyncReport> {
        self.holding(&turn, self.sync_in_turn()).await
    }

    async fn sync_in_turn(&self) -> MailboxResult<SyncReport> {
        // Messages with no place before the pass: if a complete pass, which looked at every
        // folder after they went, still finds them nowhere, they are gone, not moved.
        let before = self.unplaced().await?;
        let mut report = self.one_pass().await?;
        if let Ok(first) = &mut report
            && first.complete
        {
            self.remove_unplaced(&before, first).await?;
            self.pass_again_for_unplaced(first).await?;
        }
        let json = match &report {
            Ok(r) => serde_json::to_value(r),
            Err(e) => serde_json::to_value(serde_json::json!({ "error": e })),
        }
        .map_err(|e| CallError::Host {
            message: e.to_string(),
        })?;
        self.record_run(json).await?;
        Ok(report)
    }

    /// Messages that lost their place during a complete pass may have moved to a folder it had
    /// looked at already: one more pass (cheap: it finds only what changed) settles them, and
    /// its counts join `first`. A second pass that fails leaves them to the next pass; the first
    /// pass's report stands.
    async fn pass_again_for_unplaced(&self, first: &mut SyncReport) -> Result<(), CallError> {
        let during = self.unplaced().await?;
        if during.is_empty() {
            return Ok(());
        }
        match self.one_pass().await {
            Ok(Ok(mut second)) => {
                if second.complete {
                    self.remove_unplaced(&during, &mut second).await?;
                }
                crate::unplaced::merge(first, second);
            }
            Ok(Err(e)) => {
                tracing::info!(mailbox = %self.id, error = %e.message.en, "the pass after a message lost its place failed; the next pass settles it");
            }
            Err(e) => {
                tracing::info!(mailbox = %self.id, error = %e, "the pass after a message lost its place failed; the next pass settles it");
            }
        }
        Ok(())
    }

    /// One pass over every mapped folder, under the policy's sync time budget.
    async fn one_pass(&self) -> MailboxResult<SyncReport> {
        let budget_ms = self.host.shared().platform().policy.sync_time_budget_ms;
        call_export!(self, syncing budget_ms, |p, s| p.sync_once(s))
    }

    /// The mailbox's messages whose last place went, not yet removed.
    async fn unplaced(&self) -> Result<Vec<i64>, CallError> {
        let id = self.id.clone();
        self.host
            .shared()
            .db
            .run_blocking(move |db| db.inbox().inbox_unplaced(&id))
            .await
            .map_err(CallError::from)
    }

    /// Removes those of `ids` still without a place after a complete pass, counted in `report`.
    async fn remove_unplaced(&self, ids: &[i64], report: &mut SyncReport) -> Result<(), CallError> {
        if ids.is_empty() {
            return Ok(());
        }
        let (id, ids) = (self.id.clone(), ids.to_vec());
        let removed = self
            .host
            .shared()
            .db
            .run_blocking(move |db| db.inbox().inbox_settle_unplaced(&id, &ids))
            .await
            .map_err(CallError::from)?;
        crate::unplaced::count_removed(report, &removed);
        Ok(())
    }

    /// Whether a message of this mailbox has lost its last place and waits for a whole pass
    /// (push asks for one at once).
    pub async fn has_unplaced(&self) -> Result<bool, CallError> {
        Ok(!self.unplaced().await?.is_empty())
    }

    /// Records a sync's report (JSON) as the mailbox's last sync.
    async fn record_run(&self, report: serde_json::Value) -> Result<(), CallError> {
        let json = report.to_string();
        // The guest writes the report: past its cap only its size is kept.
        let json = if json.len() > MAX_STORED_REPORT_BYTES {
            serde_json::json!({ "oversized": json.len() }).to_string()
        } else {
            json
        };
        let id = self.id.clone();
        self.host
            .shared()
            .db
            .run_blocking(move |db| db.inbox().record_sync_run(&id, &json))
            .await
            .map_err(CallError::from)
    }

    /// Push for the mapped inbox folder: syncs what changed and parks the connection in IDLE
    /// with the host (see `capabilities::imap_parking`); with `stop`, logs the parked one out.
    pub async fn watch(&self, stop: bool) -> MailboxResult<WatchReport> {
        self.watch_holding(self.turn().await?, stop).await
    }

    /// `watch` in a turn the caller already holds (from `free_turn`).
    pub async fn watch_holding(&self, turn: TurnGuard, stop: bool) -> MailboxResult<WatchReport> {
        self.holding(&turn, self.watch_in_turn(stop)).await
    }

    async fn watch_in_turn(&self, stop: bool) -> MailboxResult<WatchReport> {
        let budget_ms = self.host.shared().platform().policy.sync_time_budget_ms;
        let report = call_export!(self, syncing budget_ms, |p, s| p.watch(s, stop))?;
        // A push that changed something, or failed, is the mailbox's last sync.
        if let Ok(WatchReport {
            inbox: Some(folder),
            ..
        }) = &report
            && (folder.created + folder.updated + folder.removed > 0 || folder.error.is_some())
        {
            let run = serde_json::json!({
                "folders": [folder],
                "complete": folder.error.is_none(),
                "pushed": true,
            });
            self.record_run(run).await?;
        }
        Ok(report)
    }

    /// Sends `draft`, the one message the platform asks for, from this mailbox: the call is
    /// lent a submission socket whose envelope must be the linked address to the draft's
    /// recipients, within the policy's caps, and IMAP connections that may write (for Sent).
    pub async fn send(&self, draft: &Draft) -> Result<Result<SendReceipt, SendError>, CallError> {
        self.in_turn(self.send_held(draft)).await
    }

    /// As `send`, in the mailbox's turn, which the caller holds.
    pub(crate) async fn send_held(
        &self,
        draft: &Draft,
    ) -> Result<Result<SendReceipt, SendError>, CallError> {
        let version = self.host.contract_version();
        if version == ContractVersion::V0_1 {
            return Err(CallError::NotInContract {
                export: "send",
                version: version.as_str(),
            });
        }
        async {
            // The linked address, as the panel shows it: the only sender the host lets through.
            let address = match call_export!(self, |p, s| p.status(s))? {
                Ok(status) => status.address.unwrap_or_default(),
                Err(e) => return Ok(Err(SendError::Mailbox(e))),
            };
            // Held to the address the host saw the link complete with; a mailbox linked before
            // the host kept it is held to the one it has now, from this send on.
            let id = self.id.clone();
            let recorded = self
                .host
                .shared()
                .db
                .run_blocking(move |db| db.linked_address(&id))
                .await?;
            match recorded {
                Some(linked) if !linked.eq_ignore_ascii_case(&address) => {
                    return Ok(Err(SendError::Mailbox(sender_changed(&linked))));
                }
                Some(_) => {}
                None if !address.is_empty() => self.record_linked_address(address.clone()).await?,
                None => {}
            }
            let policy = self.host.shared().platform().policy.clone();
            let rates = SendRates {
                per_minute: policy.send_per_minute,
                per_day: policy.send_per_day,
            };
            if let Some(wait) = self.send_wait(rates).await? {
                return Ok(Err(SendError::RateLimited(wait)));
            }
            let grant = SendGrant {
                rules: EnvelopeRules {
                    sender: address,
                    recipients: draft
                        .to
                        .iter()
                        .chain(&draft.cc)
                        .chain(&draft.bcc)
                        .map(|a| a.address.to_ascii_lowercase())
                        .collect(),
                    max_recipients: policy.send_max_recipients,
                    max_message_bytes: policy.send_max_message_bytes,
                },
                message_begun: false,
            };
            let budget_ms = self.host.budget_ms();
            let instantiate = async {
                let (mut store, plugin) = self.instantiate_recorded(budget_ms).await?;
                let state = store.data_mut();
                state.send_grant = Some(grant);
                state.may_write_mailbox = true;
                Ok::<_, CallError>((store, plugin))
            };
            let answer = call_export!(@call self, budget_ms, instantiate, |p, s| p.send(s, draft))?;
            if matches!(&answer, Ok(receipt) if receipt.outcome == SendOutcome::Sent) {
                self.record_send().await?;
            }
            Ok(answer)
        }
        .await
    }

    /// Makes `action` on `target` directly, outside the outbox (which is how the platform's
    /// actions go: `queue_action`), in the mailbox's turn.
    pub async fn act(
        &self,
        target: &Target,
        action: Action,
    ) -> Result<Result<ActionReceipt, ActionError>, CallError> {
        self.in_turn(self.act_held(target, action)).await
    }

    /// Makes `action` on `target`, one action the platform asked for, in the mailbox's turn,
    /// which the caller holds: the call is lent IMAP connections that may write, and no
    /// submission socket.
    pub(crate) async fn act_held(
        &self,
        target: &Target,
        action: Action,
    ) -> Result<Result<ActionReceipt, ActionError>, CallError> {
        let version = self.host.contract_version();
        if version == ContractVersion::V0_1 {
            return Err(CallError::NotInContract {
                export: "act",
                version: version.as_str(),
            });
        }
        let budget_ms = self.host.budget_ms();
        let instantiate = async {
            let (mut store, plugin) = self.instantiate_recorded(budget_ms).await?;
            store.data_mut().may_write_mailbox = true;
            Ok::<_, CallError>((store, plugin))
        };
        call_export!(@call self, budget_ms, instantiate, |p, s| p.act(s, target, action))
    }

    /// The host's time (the plugin's clock, which a test may move), in ms since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.host.now_ms()
    }

    /// The seconds until this mailbox may send again under `rates`, counted on its sends on
    /// every node; `None` when it may now.
    async fn send_wait(&self, rates: SendRates) -> Result<Option<u32>, CallError> {
        let shared = self.host.shared();
        let now_ms = self.now_ms();
        let id = self.id.clone();
        let sent = shared
            .db
            .run_blocking(move |db| db.sends_since(&id, now_ms - DAY_MS))
            .await?;
        Ok(rates.wait_before_next(&sent, now_ms))
    }

    /// Counts a message sent now against this mailbox's rates.
    async fn record_send(&self) -> Result<(), CallError> {
        let shared = self.host.shared();
        let now_ms = self.now_ms();
        let id = self.id.clone();
        shared
            .db
            .run_blocking(move |db| db.record_send(&id, now_ms, now_ms - DAY_MS))
            .await?;
        Ok(())
    }

    /// Normalises one raw message; `own_address` is this mailbox's address.
    pub async fn normalize(
        &self,
        bytes: &[u8],
        internal_date: Option<i64>,
        own_address: &str,
    ) -> Result<MessageRecord, CallError> {
        let raw = RawMessage {
            bytes: bytes.to_vec(),
            internal_date,
        };
        call_export!(self, |p, s| p.normalize(s, &raw, own_address))
    }
}

/// The plugin names another address than the one the mailbox was linked with: nothing is sent
/// until the mailbox is linked again.
fn sender_changed(linked: &str) -> MailboxError {
    MailboxError {
        kind: ErrorKind::NotLinked,
        message: UserMessage {
            key: "send.sender_changed".into(),
            params: vec![("address".into(), linked.to_string())],
            en: format!(
                "This mailbox was linked as {linked}, and now names another address: nothing was sent. Link the mailbox again."
            ),
            nl: format!(
                "Deze mailbox is gekoppeld als {linked} en noemt nu een ander adres: er is niets verstuurd. Koppel de mailbox opnieuw."
            ),
        },
    }
}
