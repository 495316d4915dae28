//! `PluginHost`, what the CRM platform embeds: one compiled component, its policy and what its calls share.
//! A cheap handle (clone it freely): tasks own one, and every call runs in a fresh, capped instance.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use crate::admin_store::{AdminChoices, AdminChoicesStore};
use crate::db::Database;
use crate::engine::{EpochTicker, LoadedFrom, load_component, new_pooled_engine};
use crate::errors::{CallError, HostError};
use crate::plugin_versions::{ContractVersion, PluginInstance, PluginPre};
use crate::settings::HostSettings;
use crate::shared::Shared;
use crate::state::{HostState, MailboxScope};

/// The compiled component and what its calls share; clones share one of each.
#[derive(Clone)]
pub struct PluginHost(Arc<HostCore>);

struct HostCore {
    engine: Engine,
    component: Component,
    pre: PluginPre,
    /// The contract version the component was built against.
    version: ContractVersion,
    shared: Arc<Shared>,
    /// One permit per slot of the engine's pool: an instance holds one for its life.
    slots: Arc<tokio::sync::Semaphore>,
    /// One permit per normalisation worker the policy allows, all sync calls together.
    normalize_workers: Arc<tokio::sync::Semaphore>,
    loaded_from: LoadedFrom,
    _ticker: EpochTicker,
}

impl PluginHost {
    /// Loads the component at `wasm_path` (from `cache_dir` when compiled before) under
    /// `settings`, with storage and inbox in `db`.
    pub fn load(
        wasm_path: &Path,
        settings: &HostSettings,
        db: Database,
        cache_dir: Option<&Path>,
    ) -> Result<Self, HostError> {
        let wasm = std::fs::read(wasm_path).map_err(|source| HostError::ReadComponent {
            path: wasm_path.into(),
            source,
        })?;
        Self::from_bytes(&wasm, settings, db, cache_dir)
    }

    pub fn from_bytes(
        wasm: &[u8],
        settings: &HostSettings,
        db: Database,
        cache_dir: Option<&Path>,
    ) -> Result<Self, HostError> {
        settings.effective_policy().validate()?;
        let tls = crate::tls::client_config(&settings.tls.extra_roots)?;
        let slots = settings.effective_policy().instances_at_once;
        let workers = settings.effective_policy().normalize_workers();
        let engine = new_pooled_engine(slots).map_err(HostError::Component)?;
        let (component, loaded_from) =
            load_component(&engine, wasm, cache_dir).map_err(HostError::Component)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(HostError::Component)?;
        crate::plugin_versions::add_to_linker(&mut linker).map_err(HostError::Component)?;
        let version = ContractVersion::of(&component, &engine).ok_or_else(|| {
            HostError::Component(wasmtime::Error::msg(
                "the component exports no `crm:mail-sync/sync` of a version this host runs \
                 (0.1.0 or 0.2.0)",
            ))
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(|pre| PluginPre::new(pre, version))
            .map_err(HostError::Component)?;
        // The administrator's choices made in the panel override the settings file's.
        let choices = db.admin_choices()?;
        let shared = Shared::new(settings, db, tls);
        if let Some(choices) = choices {
            shared.set_platform(choices.applied_to(&settings.platform));
        }
        Ok(PluginHost(Arc::new(HostCore {
            _ticker: EpochTicker::start(&engine),
            engine,
            component,
            pre,
            version,
            shared: Arc::new(shared),
            slots: Arc::new(tokio::sync::Semaphore::new(slots as usize)),
            normalize_workers: Arc::new(tokio::sync::Semaphore::new(workers as usize)),
            loaded_from,
        })))
    }

    /// Makes an administrator's choices (enabled providers, the "Link mailbox" flag): saved, and
    /// in force for every call from now on, grants included.
    pub async fn set_admin_choices(&self, choices: AdminChoices) -> Result<(), CallError> {
        let shared = self.0.shared.clone();
        let saved = choices.clone();
        shared
            .db
            .run_blocking(move |db| db.set_admin_choices(&saved))
            .await
            .map_err(CallError::from)?;
        let current = shared.platform();
        shared.set_platform(choices.applied_to(&current.settings));
        Ok(())
    }

    /// Takes up the administrator's choices as the database holds them, when they differ from
    /// those in force (another node's administrator changed them); whether anything changed.
    pub async fn follow_admin_choices(&self) -> Result<bool, CallError> {
        let shared = self.0.shared.clone();
        let stored = shared
            .db
            .run_blocking(|db| db.admin_choices())
            .await
            .map_err(CallError::from)?;
        let current = shared.platform();
        match stored {
            Some(choices) if choices != AdminChoices::of(&current.settings) => {
                shared.set_platform(choices.applied_to(&current.settings));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Records that `mailbox` uses `provider`'s grants. Linking does this itself; a platform that
    /// knows the provider otherwise (or a test of the sandbox) may set it directly.
    pub async fn assign_provider(
        &self,
        mailbox: &str,
        provider: Option<&str>,
    ) -> Result<(), CallError> {
        let (mailbox, provider) = (mailbox.to_string(), provider.map(str::to_string));
        self.0
            .shared
            .db
            .run_blocking(move |db| db.set_mailbox_provider(&mailbox, provider.as_deref()))
            .await
            .map_err(CallError::from)
    }

    /// The plugin's wall clock, which a test may move forward.
    pub fn clock(&self) -> &crate::clock::PluginClock {
        &self.0.shared.clock
    }

    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    pub fn component(&self) -> &Component {
        &self.0.component
    }

    /// The contract version the component speaks: a `0.1.0` one runs, but cannot send.
    pub fn contract_version(&self) -> ContractVersion {
        self.0.version
    }

    pub fn loaded_from(&self) -> LoadedFrom {
        self.0.loaded_from
    }

    pub fn shared(&self) -> &Shared {
        &self.0.shared
    }

    /// The host's time (the plugin's clock, which a test may move), in ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        wasmtime_wasi::HostWallClock::now(&self.0.shared.clock).as_millis() as i64
    }

    /// What all calls share, for a part of the service that outlives one call.
    pub fn services_arc(&self) -> Arc<Shared> {
        self.0.shared.clone()
    }

    /// A fresh store and instance for one call, with the memory cap and the epoch deadline set.
    /// Public so that benchmarks can time instantiation alone.
    pub async fn instantiate(
        &self,
        scope: MailboxScope,
    ) -> Result<(Store<HostState>, PluginInstance), CallError> {
        self.instantiate_for(scope, self.budget_ms()).await
    }

    /// `instantiate` with a time budget of `budget_ms` (sync's is longer than other calls').
    pub(crate) async fn instantiate_for(
        &self,
        scope: MailboxScope,
        budget_ms: u64,
    ) -> Result<(Store<HostState>, PluginInstance), CallError> {
        // A slot of the pool first: past `instances_at_once`, calls queue here, not fail.
        let slot = self
            .0
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CallError::Host {
                message: "the host is shutting down".into(),
            })?;
        self.instantiate_in(slot, scope, budget_ms).await
    }

    /// `instantiate_for` when a slot of the pool is free now; `None` rather than waiting.
    pub(crate) async fn try_instantiate_for(
        &self,
        scope: MailboxScope,
        budget_ms: u64,
    ) -> Option<Result<(Store<HostState>, PluginInstance), CallError>> {
        let slot = self.0.slots.clone().try_acquire_owned().ok()?;
        Some(self.instantiate_in(slot, scope, budget_ms).await)
    }

    /// A normalisation worker's permit, when the policy's count is not all taken.
    pub(crate) fn try_normalize_worker(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.normalize_workers.clone().try_acquire_owned().ok()
    }

    async fn instantiate_in(
        &self,
        slot: tokio::sync::OwnedSemaphorePermit,
        scope: MailboxScope,
        budget_ms: u64,
    ) -> Result<(Store<HostState>, PluginInstance), CallError> {
        let mut state = HostState::new(scope, self.0.shared.clone());
        state.slot = Some(slot);
        let mut store = Store::new(&self.0.engine, state);
        store.limiter(|state| &mut state.memory);
        // What one import call may copy out of the guest, counted by wasmtime before it copies.
        let hostcall_cap = self.0.shared.platform().policy.hostcall_cap_bytes;
        store.set_hostcall_fuel(usize::try_from(hostcall_cap).unwrap_or(usize::MAX));
        // Guest code never yields by itself: at every epoch tick it gives its worker thread back
        // to the runtime, so a spinning guest cannot hold a worker that other mailboxes need; and
        // once the budget, counted from the call's start, is spent, it is stopped.
        let started = Instant::now();
        let budget = Duration::from_millis(budget_ms);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if started.elapsed() >= budget {
                Err(wasmtime::Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let instance = self
            .0
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| CallError::Instantiate {
                message: format!("{e:#}"),
            })?;
        Ok((store, instance))
    }

    pub(crate) fn budget_ms(&self) -> u64 {
        self.0.shared.platform().policy.call_time_budget_ms
    }

    /// Runs one call within the time budget: the epoch deadline stops guest code; this stops a
    /// call waiting on the host too long.
    pub(crate) async fn within_budget<T>(
        &self,
        budget_ms: u64,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        match tokio::time::timeout(Duration::from_millis(budget_ms), call).await {
            Ok(result) => result,
            Err(_) => Err(CallError::TimeBudgetExceeded { budget_ms }),
        }
    }
}
