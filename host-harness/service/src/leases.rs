//! Which mailboxes this node keeps in sync: a heartbeat renews its leases and claims its fair
//! share (`db::LeaseStore`), and the mailboxes it gains, or that another node nudged, are
//! watched here (scheduled and pushed) while those it loses are let go. On SQLite a lone node
//! holds every mailbox.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::push::Push;
use super::scheduler::SchedulerHandle;
use mailsync_sandbox::db::Database;

/// The `[service.cluster]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// This node's name among the others [default: the host name, the process id and a random
    /// suffix].
    pub node: Option<String>,
    /// How long after a node falls silent its mailboxes are taken over by others.
    pub lease_secs: u64,
    /// How often a node renews its leases and looks for its share.
    pub heartbeat_secs: u64,
    /// Leases a node claims in one round at most while other nodes live, so a node that joins
    /// does not move every mailbox at once (a node alone claims everything).
    pub max_claims_per_round: u32,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            node: None,
            lease_secs: 15,
            heartbeat_secs: 3,
            max_claims_per_round: 1000,
        }
    }
}

impl ClusterSettings {
    /// How long a renewed lease lasts: a silent node's leases expire, and the next heartbeat of
    /// another node takes them, within `lease_secs` of its last renewal.
    pub fn lease_ttl(&self) -> Duration {
        let heartbeat = self.heartbeat().as_millis() as u64;
        Duration::from_millis((self.lease_secs * 1000).saturating_sub(heartbeat).max(1000))
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.clamp(1, self.lease_secs.max(2) / 2))
    }

    /// The node's name: the settings', else made from the host name and process.
    pub fn node_name(&self) -> String {
        self.node.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default();
            let host = if host.is_empty() { "node".into() } else { host };
            format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
        })
    }
}

/// This node's leases, as its last round left them.
pub struct Leases {
    pub node: String,
    settings: ClusterSettings,
    metrics: Arc<Metrics>,
    held: Mutex<BTreeSet<String>>,
    /// Wakes the heartbeat for a round now (a mailbox was just linked).
    round_now: Notify,
}

impl Leases {
    pub fn new(settings: ClusterSettings, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Leases {
            node: settings.node_name(),
            settings,
            metrics,
            held: Mutex::default(),
            round_now: Notify::new(),
        })
    }

    /// Whether this node keeps `mailbox` in sync now.
    pub fn holds(&self, mailbox: &str) -> bool {
        self.held().contains(mailbox)
    }

    /// How many mailboxes this node holds.
    pub fn count(&self) -> usize {
        self.held().len()
    }

    /// Runs a round now rather than at the next heartbeat.
    pub fn round_now(&self) {
        self.round_now.notify_one();
    }

    fn held(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One round: renew, claim or shed in the database, then watch what was gained and let go
    /// of what was lost. A failed round keeps what is held until the leases would have expired:
    /// then this node lets go of everything, since others may have taken it.
    pub async fn round(
        &self,
        db: &Database,
        scheduler: &SchedulerHandle,
        push: &Arc<Push>,
        last_success: &mut Instant,
    ) {
        let (node, ttl) = (self.node.clone(), self.settings.lease_ttl());
        let max = self.settings.max_claims_per_round;
        let (now_held, nudged): (BTreeSet<String>, Vec<String>) = match db
            .run_blocking(move |db| db.leases().lease_round(&node, ttl, max))
            .await
        {
            Ok(round) => {
                *last_success = Instant::now();
                (round.held.into_iter().collect(), round.nudged)
            }
            Err(e) if last_success.elapsed() < ttl => {
                self.metrics.lease_round(None);
                tracing::warn!(node = %self.node, error = %e, "lease round failed; keeping what is held");
                return;
            }
            Err(e) => {
                self.metrics.lease_round(None);
                tracing::error!(node = %self.node, error = %e, "leases lapsed; letting every mailbox go");
                (BTreeSet::new(), Vec::new())
            }
        };
        let (gained, lost) = {
            let mut held = self.held();
            let gained: Vec<String> = now_held.difference(&held).cloned().collect();
            let lost: Vec<String> = held.difference(&now_held).cloned().collect();
            *held = now_held;
            (gained, lost)
        };
        self.metrics.lease_round(Some(self.count()));
        for mailbox in &lost {
            scheduler.forget(mailbox);
            push.forget(mailbox);
        }
        // Gained, or nudged by a node that changed it (its mapping, its link): watched anew,
        // woken if stopped, and its push started again.
        for mailbox in gained.iter().chain(&nudged) {
            scheduler.watch(mailbox);
            push.watch(mailbox);
        }
        if !gained.is_empty() || !lost.is_empty() {
            tracing::info!(node = %self.node, gained = gained.len(), lost = lost.len(), held = self.count(), "leases moved");
        }
    }

    /// Rounds every heartbeat (or when asked) until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        db: Database,
        scheduler: SchedulerHandle,
        push: Arc<Push>,
        shutdown: CancellationToken,
        mut last_success: Instant,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.settings.heartbeat()) => {}
                _ = self.round_now.notified() => {}
            }
            self.round(&db, &scheduler, &push, &mut last_success).await;
        }
    }

    /// Lets go of every lease at once (a clean shutdown), so others take over without waiting
    /// for them to expire.
    pub async fn release_all(&self, db: &Database) {
        let node = self.node.clone();
        if let Err(e) = db
            .run_blocking(move |db| db.leases().lease_release_all(&node))
            .await
        {
            tracing::warn!(node = %self.node, error = %e, "leases not released; they expire");
        }
        self.held().clear();
    }
}
