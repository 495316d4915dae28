//! What every call of every mailbox shares: the policy, the platform's settings, the database,
//! the TLS configuration, the log redactor and the plugin's clock. Built once per host process.

use std::sync::{Arc, Mutex, RwLock};

use rustls::ClientConfig;

use crate::clock::PluginClock;
use crate::connection_slots::ConnectionSlots;
use crate::db::Database;
use crate::lease::MailboxLease;
use crate::policy::Policy;
use crate::progress::ProgressObserver;
use crate::redact::Redactor;
use crate::settings::{HostSettings, PlatformSettings};

pub struct Services {
    /// The administrator's settings and the policy they make; an administrator may change them
    /// while the host runs (enabled providers, feature flags), so each use reads the current one.
    platform: RwLock<Arc<Platform>>,
    /// The policy as the settings file gives it, before the providers' grants are added.
    base_policy: Policy,
    pub db: Database,
    pub tls: Arc<ClientConfig>,
    pub redactor: Redactor,
    pub clock: PluginClock,
    /// Whose turn it is to change a mailbox: in this process on SQLite, across every node on
    /// PostgreSQL (the database keeps the turns).
    pub mailbox_lease: Arc<dyn MailboxLease>,
    /// The calls waiting for each mailbox's turn (bounded: see `mailbox::MAX_WAITING_FOR_TURN`).
    pub turn_waiters: crate::lease::TurnWaiters,
    pub progress: ProgressObserver,
    /// Set when the host shuts down: deliveries are refused, so running syncs stop at their
    /// last checkpoint.
    pub draining: std::sync::atomic::AtomicBool,
    /// Told whenever events were appended to the outbox (by the inbox, or the service).
    pub outbox_written: Arc<tokio::sync::Notify>,
    /// Connections the plugin parked (IMAP IDLE) until its next call.
    pub parked: crate::parking::Parking,
    /// IMAP connections open per mailbox, across calls.
    pub imap_slots: Arc<ConnectionSlots>,
    pub faults: Faults,
    /// The largest linear memory any instance grew to (bytes); benchmarks read and reset it.
    pub memory_high_water: Arc<std::sync::atomic::AtomicU64>,
}

/// Crash injection for resilience tests: after the armed number of acknowledged deliveries,
/// the call traps as if the host had died between the inbox's commit and the plugin's checkpoint.
/// Disarmed unless a test arms it.
#[derive(Default)]
pub struct Faults {
    crash_after_deliveries: std::sync::atomic::AtomicU32,
    trap_after_writing: Mutex<Option<String>>,
    normalizing: Mutex<Option<(String, NormalizingFault)>>,
    provider_reads_fail: std::sync::atomic::AtomicBool,
}

/// What an armed marker does to the worker that takes a message holding it.
#[derive(Clone, Copy)]
enum NormalizingFault {
    /// The instance traps, as if the message had killed it.
    Trap,
    /// The host's task panics, as a bug of the host would.
    Panic,
}

impl Faults {
    /// Arms a crash after `deliveries` more acknowledged deliveries (0 disarms).
    pub fn crash_after_deliveries(&self, deliveries: u32) {
        self.crash_after_deliveries
            .store(deliveries, std::sync::atomic::Ordering::SeqCst);
    }

    /// Arms a trap right after the next storage write of a key starting with `prefix`, as if
    /// the instance died in what the plugin does next (normalising a suspect message, say).
    pub fn trap_after_writing(&self, prefix: &str) {
        *self
            .trap_after_writing
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(prefix.to_string());
    }

    pub(crate) fn after_storage_write<'k>(
        &self,
        mut keys: impl Iterator<Item = &'k str>,
    ) -> wasmtime::Result<()> {
        let mut armed = self
            .trap_after_writing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(prefix) = armed.as_deref()
            && keys.any(|k| k.starts_with(prefix))
        {
            *armed = None;
            return Err(wasmtime::Error::msg("injected trap after a storage write"));
        }
        Ok(())
    }

    /// Arms a trap in the worker instance that normalises the next message handed on holding
    /// `marker`, as if that message had killed it.
    pub fn trap_normalizing(&self, marker: &str) {
        self.arm_normalizing(marker, NormalizingFault::Trap);
    }

    /// Arms a panic in the host's worker task that takes the next message handed on holding
    /// `marker`, as a bug of the host would (not the message's doing).
    pub fn panic_normalizing(&self, marker: &str) {
        self.arm_normalizing(marker, NormalizingFault::Panic);
    }

    /// Whether the panic `panic_normalizing` armed is still to come.
    pub fn panic_normalizing_armed(&self) -> bool {
        matches!(*self.normalizing(), Some((_, NormalizingFault::Panic)))
    }

    fn arm_normalizing(&self, marker: &str, fault: NormalizingFault) {
        *self.normalizing() = Some((marker.to_string(), fault));
    }

    fn normalizing(&self) -> std::sync::MutexGuard<'_, Option<(String, NormalizingFault)>> {
        self.normalizing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checked before each job a worker takes (one uncontended lock); disarms what fires.
    pub(crate) fn before_normalizing(&self, bytes: &[u8]) -> wasmtime::Result<()> {
        let fired = {
            let mut armed = self.normalizing();
            let hit = armed.as_ref().is_some_and(|(marker, _)| {
                bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
            });
            if hit {
                armed.take().map(|(_, fault)| fault)
            } else {
                None
            }
        };
        match fired {
            Some(NormalizingFault::Panic) => panic!("injected panic in a normalising worker"),
            Some(NormalizingFault::Trap) => {
                Err(wasmtime::Error::msg("injected trap while normalising"))
            }
            None => Ok(()),
        }
    }

    /// Makes every read of a mailbox's recorded provider fail, as if the database were down.
    pub fn fail_provider_reads(&self, fail: bool) {
        self.provider_reads_fail
            .store(fail, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn after_delivery(&self) -> wasmtime::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let armed = self
            .crash_after_deliveries
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        if armed == Ok(1) {
            return Err(wasmtime::Error::msg("injected crash after a delivery"));
        }
        Ok(())
    }
}

/// The platform's settings at one moment, and the policy they make (the settings' grants plus
/// each enabled provider's).
pub struct Platform {
    pub settings: PlatformSettings,
    pub policy: Policy,
}

impl Platform {
    fn new(base_policy: &Policy, settings: PlatformSettings) -> Self {
        let policy =
            crate::providers::policy_with_provider_grants(base_policy, &settings.providers);
        Platform { settings, policy }
    }
}

impl Services {
    /// The platform's settings and policy as they are now.
    pub fn platform(&self) -> Arc<Platform> {
        self.platform
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the platform's settings (an administrator's change); the policy follows, so a
    /// provider switched off loses its grants for every call from now on.
    pub fn set_platform(&self, settings: PlatformSettings) {
        let next = Arc::new(Platform::new(&self.base_policy, settings));
        *self.platform.write().unwrap_or_else(|p| p.into_inner()) = next;
    }

    pub fn new(settings: &HostSettings, db: Database, tls: Arc<ClientConfig>) -> Self {
        let mailbox_lease = db.mailbox_turns();
        Services {
            platform: RwLock::new(Arc::new(Platform::new(
                &settings.policy,
                settings.platform.clone(),
            ))),
            base_policy: settings.policy.clone(),
            db,
            tls,
            redactor: Redactor::new(settings.secrets()),
            clock: PluginClock::default(),
            mailbox_lease,
            progress: ProgressObserver::default(),
            draining: Default::default(),
            imap_slots: Arc::default(),
            turn_waiters: Default::default(),
            parked: Default::default(),
            outbox_written: Arc::default(),
            faults: Faults::default(),
            memory_high_water: Arc::default(),
        }
    }

    /// The provider the host recorded for `mailbox` (read on a blocking thread): whose grants
    /// the mailbox's calls get. Read by `Mailbox::provider`, and by `HostState::provider` for a
    /// call's capabilities.
    pub async fn recorded_provider(&self, mailbox: &str) -> Result<Option<String>, String> {
        if self
            .faults
            .provider_reads_fail
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err("injected failure reading a mailbox's provider".into());
        }
        let id = mailbox.to_string();
        self.db
            .run_blocking(move |db| db.mailbox_provider(&id))
            .await
    }
}
