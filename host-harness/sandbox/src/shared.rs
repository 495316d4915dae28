//! What every call of every mailbox shares: the policy, the platform's settings, the database,
//! the TLS configuration, the log redactor and the plugin's clock. Built once per host process.

use std::sync::{Arc, RwLock};

use rustls::ClientConfig;

use crate::clock::PluginClock;
use crate::connection_slots::ConnectionSlots;
use crate::db::Database;
use crate::faults::Faults;
use crate::policy::Policy;
use crate::progress::ProgressObserver;
use crate::redact::Redactor;
use crate::settings::{HostSettings, PlatformSettings};
use crate::turns::MailboxTurns;

pub struct Shared {
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
    pub mailbox_turns: Arc<dyn MailboxTurns>,
    /// The calls waiting for each mailbox's turn (bounded: see `mailbox::MAX_WAITING_FOR_TURN`).
    pub turn_waiters: crate::turns::TurnWaiters,
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
    /// Faults a resilience test arms (`test-hooks` only; otherwise every check passes).
    pub faults: Faults,
    /// The largest linear memory any instance grew to (bytes); benchmarks read and reset it
    /// (`test-hooks` only).
    #[cfg(feature = "test-hooks")]
    pub memory_high_water: Arc<std::sync::atomic::AtomicU64>,
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

impl Shared {
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
        let mailbox_turns = db.mailbox_turns();
        Shared {
            platform: RwLock::new(Arc::new(Platform::new(
                &settings.policy,
                settings.platform.clone(),
            ))),
            base_policy: settings.policy.clone(),
            db,
            tls,
            redactor: Redactor::new(settings.secrets()),
            clock: PluginClock::default(),
            mailbox_turns,
            progress: ProgressObserver::default(),
            draining: Default::default(),
            imap_slots: Arc::default(),
            turn_waiters: Default::default(),
            parked: Default::default(),
            outbox_written: Arc::default(),
            faults: Faults::default(),
            #[cfg(feature = "test-hooks")]
            memory_high_water: Arc::default(),
        }
    }

    /// Where instances keep the largest memory they reached (`test-hooks` only).
    pub(crate) fn memory_high_water_hook(&self) -> Option<Arc<std::sync::atomic::AtomicU64>> {
        #[cfg(feature = "test-hooks")]
        return Some(self.memory_high_water.clone());
        #[cfg(not(feature = "test-hooks"))]
        None
    }

    /// The provider the host recorded for `mailbox` (read on a blocking thread): whose grants
    /// the mailbox's calls get. Read by `Mailbox::provider`, and by `HostState::provider` for a
    /// call's capabilities.
    pub async fn recorded_provider(&self, mailbox: &str) -> crate::db::StoreResult<Option<String>> {
        self.faults.before_provider_read()?;
        let id = mailbox.to_string();
        self.db
            .run_blocking(move |db| db.mailbox_provider(&id))
            .await
    }
}
