//! What one call's store holds: the mailbox it serves, a WASI context that grants nothing, the
//! resource table, the memory cap, and a handle on what all calls share (`Shared`).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::message::MessageRecord;
use crate::bindings::normalizer::{Job, JobFailure};
use crate::errors::ProviderUnreadable;
use crate::limits::MemoryCap;
use crate::resources::envelope::SendGrant;
use crate::shared::Shared;
use crate::turns::Fence;

/// The mailbox a call serves: storage is scoped to `id`, the policy's grants to `provider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxScope {
    pub id: String,
    pub provider: ProviderGrant,
}

/// Whose grants a call has. Capabilities ask [`HostState::provider`], which reads a
/// `Recorded` provider when one first needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderGrant {
    /// This provider's grants; `None` for no grant at all (workers, a mailbox never linked).
    Known(Option<String>),
    /// The provider the host recorded for the mailbox, not read yet: no grant until it is.
    Recorded,
}

pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    /// The mailbox served; its provider is read through [`HostState::provider`].
    pub(crate) mailbox: MailboxScope,
    pub(crate) shared: Arc<Shared>,
    /// IMAP connections this call holds (capped by the policy).
    pub(crate) open_connections: u32,
    /// The pool slot this instance lives in, given back when the store is dropped.
    pub(crate) slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The instances a sync call hands messages to; `None` for every other call, and for the
    /// workers themselves. Dropped with the store, which ends the workers.
    pub(crate) normalize_workers: Option<Box<dyn NormalizeJobs>>,
    /// The mailbox's turn this call runs in, when the turn is kept in a shared database: the
    /// call's storage and inbox writes carry it, and are refused once another node took it.
    pub(crate) turn: Option<Fence>,
    /// Whether this call's IMAP connections may change the mailbox: only a `send` call's.
    /// Every other call's are read-only, by the host's reading of their commands.
    pub(crate) may_write_mailbox: bool,
    /// For a `send` call only: the one message the platform asked for, which its submission
    /// connections may carry. `None` lends no submission socket.
    pub(crate) send_grant: Option<SendGrant>,
    /// Submission connections this call opened (capped per call).
    pub(crate) submission_connections: u32,
}

tokio::task_local! {
    /// The turn (its fence) of the mailbox call running in this task (`Mailbox::holding`).
    static CALL_TURN: Option<Fence>;
}

/// Runs `call` as holding `turn`: the instances it makes carry its fence.
pub(crate) async fn in_call_turn<F: std::future::Future>(
    turn: Option<Fence>,
    call: F,
) -> F::Output {
    CALL_TURN.scope(turn, call).await
}

/// The fence of the turn the running call holds, if it has one.
pub(crate) fn call_turn() -> Option<Fence> {
    CALL_TURN.try_with(Clone::clone).ok().flatten()
}

/// What a normalisation job came to: its record, or why there is none.
pub type JobOutcome = Result<MessageRecord, JobFailure>;

/// Where a sync call hands messages to be normalised (the plugin host's workers, in
/// `normalize_workers`), named here so a call's state need not know the plugin host.
pub trait NormalizeJobs: Send {
    /// Queues `job` under `ticket`; false when it is not taken (the sync normalises it itself).
    fn submit(&mut self, ticket: u64, job: Job) -> BoxFuture<'_, bool>;
    /// The outcomes in so far; with `wait`, at least one when any job is in flight.
    fn finished(&mut self, wait: bool) -> BoxFuture<'_, Vec<(u64, JobOutcome)>>;
}

impl HostState {
    pub fn new(mailbox: MailboxScope, shared: Arc<Shared>) -> Self {
        HostState {
            wasi: deny_all_wasi(&shared),
            table: ResourceTable::new(),
            memory: MemoryCap::new(
                shared.platform().policy.memory_limit_bytes,
                shared.memory_high_water_hook(),
            ),
            mailbox,
            shared,
            open_connections: 0,
            slot: None,
            normalize_workers: None,
            turn: call_turn(),
            may_write_mailbox: false,
            send_grant: None,
            submission_connections: 0,
        }
    }
}

impl HostState {
    /// The provider whose grants this call has: every capability that checks a grant asks
    /// here. A `Recorded` provider is read from the host's record the first time, and kept for
    /// the rest of the call; a call that needs no grant (such as `normalize`) never reads it.
    pub(crate) async fn provider(&mut self) -> wasmtime::Result<Option<String>> {
        let recorded = match &self.mailbox.provider {
            ProviderGrant::Known(provider) => return Ok(provider.clone()),
            ProviderGrant::Recorded => self
                .shared
                .recorded_provider(&self.mailbox.id)
                .await
                .map_err(|e| ProviderUnreadable {
                    message: e.to_string(),
                })?,
        };
        self.mailbox.provider = ProviderGrant::Known(recorded.clone());
        Ok(recorded)
    }
}

/// WASI linked deny-by-default: no preopened directories, no environment or arguments, no
/// sockets or name lookup; stdin closed and stdout/stderr discarded. The wall clock is the host's.
fn deny_all_wasi(shared: &Shared) -> WasiCtx {
    WasiCtx::builder()
        .wall_clock(shared.clock.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
