//! The service's figures in Prometheus text (`/metrics`): syncs, failures by kind, messages by
//! change, push latency and open IMAP connections. Counted where they happen; encoded on request.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use mailsync_sandbox::bindings::sync::SyncReport;
use mailsync_sandbox::shared::Shared;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Change {
    change: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Attempt {
    /// How an outbox attempt ended: sent, applied (an action), failed, or retry (failed for now).
    ended: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Webhook {
    /// Its place in the settings (`[[service.webhooks]]`, from 0): never its address.
    webhook: String,
}

pub struct Metrics {
    registry: Registry,
    webhook_attempts: Family<Webhook, Gauge>,
    webhook_dropped: Family<Webhook, Counter>,
    webhook_dead_letters: Family<Webhook, Counter>,
    syncs: Counter,
    failures: Family<Kind, Counter>,
    messages: Family<Change, Counter>,
    push_latency: Histogram,
    imap_connections: Gauge,
    push_waiting: Gauge,
    push_calls_queued: Gauge,
    leases_held: Gauge,
    lease_rounds_failed: Counter,
    outbox_attempts: Family<Attempt, Counter>,
    shared: Arc<Shared>,
}

impl Metrics {
    pub fn new(shared: Arc<Shared>) -> Self {
        let mut registry = Registry::with_prefix("mailsync");
        let syncs = Counter::default();
        let failures = Family::<Kind, Counter>::default();
        let messages = Family::<Change, Counter>::default();
        // From 10 ms to about 20 s.
        let buckets = prometheus_client::metrics::histogram::exponential_buckets(0.01, 2.0, 12);
        let push_latency = Histogram::new(buckets);
        let imap_connections = Gauge::default();
        let push_waiting = Gauge::default();
        let push_calls_queued = Gauge::default();
        let leases_held = Gauge::default();
        let lease_rounds_failed = Counter::default();
        let webhook_attempts = Family::<Webhook, Gauge>::default();
        let outbox_attempts = Family::<Attempt, Counter>::default();
        registry.register(
            "outbox_attempts",
            "Attempts at the outboxes' entries, by how they ended (sent, failed, retry)",
            outbox_attempts.clone(),
        );
        let webhook_dropped = Family::<Webhook, Counter>::default();
        let webhook_dead_letters = Family::<Webhook, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Failed attempts so far at the event each webhook is delivering (0: none failing)",
            webhook_attempts.clone(),
        );
        registry.register(
            "webhook_events_dropped",
            "Events dropped from the outbox before each webhook took them (told as events.dropped)",
            webhook_dropped.clone(),
        );
        registry.register(
            "webhook_dead_letters",
            "Events each webhook's receiver never took, set aside after their attempts (see GET /api/webhooks/{index}/dead-letters)",
            webhook_dead_letters.clone(),
        );
        registry.register(
            "leases_held",
            "Mailboxes this node holds the lease of, and keeps in sync",
            leases_held.clone(),
        );
        registry.register(
            "lease_rounds_failed",
            "Heartbeats whose lease round the database did not answer",
            lease_rounds_failed.clone(),
        );
        registry.register(
            "push_waiting",
            "Mailboxes whose idle connection the host is waiting on, with no instance running",
            push_waiting.clone(),
        );
        registry.register(
            "push_calls_queued",
            "Push calls waiting for one of the max_concurrent_pushes slots",
            push_calls_queued.clone(),
        );
        registry.register("syncs", "Sync passes that ran to their end", syncs.clone());
        registry.register(
            "sync_failures",
            "Sync passes that failed, by kind",
            failures.clone(),
        );
        registry.register(
            "messages",
            "Messages created, updated or removed in the CRM",
            messages.clone(),
        );
        registry.register(
            "push_latency_seconds",
            "From a push's arrival to its mail in the CRM",
            push_latency.clone(),
        );
        registry.register(
            "imap_connections",
            "IMAP connections open now",
            imap_connections.clone(),
        );
        Metrics {
            registry,
            webhook_attempts,
            webhook_dropped,
            webhook_dead_letters,
            syncs,
            failures,
            messages,
            push_latency,
            imap_connections,
            push_waiting,
            push_calls_queued,
            leases_held,
            lease_rounds_failed,
            outbox_attempts,
            shared,
        }
    }

    pub fn sync_finished(&self, report: &SyncReport) {
        self.syncs.inc();
        for (change, n) in [
            (
                "created",
                report.folders.iter().map(|f| f.created).sum::<u32>(),
            ),
            ("updated", report.folders.iter().map(|f| f.updated).sum()),
            ("removed", report.folders.iter().map(|f| f.removed).sum()),
        ] {
            self.messages
                .get_or_create(&Change { change })
                .inc_by(n.into());
        }
    }

    /// An attempt at an outbox entry ended in `state`.
    pub fn outbox_attempt(&self, state: mailsync_sandbox::outbox_store::OutboxState) {
        use mailsync_sandbox::outbox_store::OutboxState as S;
        let ended = match state {
            S::Sent => "sent",
            S::Applied => "applied",
            S::Failed => "failed",
            S::Queued | S::Sending => "retry",
        };
        self.outbox_attempts.get_or_create(&Attempt { ended }).inc();
    }

    /// A push's sync of the inbox folder.
    pub fn watch_finished(&self, inbox: &mailsync_sandbox::bindings::sync::FolderReport) {
        for (change, n) in [
            ("created", inbox.created),
            ("updated", inbox.updated),
            ("removed", inbox.removed),
        ] {
            self.messages
                .get_or_create(&Change { change })
                .inc_by(n.into());
        }
    }

    /// Failed attempts at the event webhook `index` is delivering now.
    pub fn webhook_attempts(&self, index: usize, attempts: u64) {
        let label = Webhook {
            webhook: index.to_string(),
        };
        self.webhook_attempts
            .get_or_create(&label)
            .set(attempts as i64);
    }

    /// Webhook `index` was told that `count` events were dropped before it took them.
    pub fn webhook_events_dropped(&self, index: usize, count: u64) {
        let label = Webhook {
            webhook: index.to_string(),
        };
        self.webhook_dropped.get_or_create(&label).inc_by(count);
    }

    /// Webhook `index` set an event aside as a dead letter.
    pub fn webhook_dead_lettered(&self, index: usize) {
        let label = Webhook {
            webhook: index.to_string(),
        };
        self.webhook_dead_letters.get_or_create(&label).inc();
    }

    pub fn sync_failed(&self, kind: &str) {
        let kind = Kind { kind: kind.into() };
        self.failures.get_or_create(&kind).inc();
    }

    /// Counts a push call as queued for a slot until the guard drops.
    pub fn push_call_queued(&self) -> impl Drop + use<> {
        CountedWhileHeld::new(&self.push_calls_queued)
    }

    /// Counts a mailbox as waiting on its idle connection until the guard drops.
    pub fn push_waiting(&self) -> impl Drop + use<> {
        CountedWhileHeld::new(&self.push_waiting)
    }

    /// After a lease round: how many mailboxes this node holds, or that the round failed.
    pub fn lease_round(&self, held: Option<usize>) {
        match held {
            Some(n) => {
                self.leases_held.set(n as i64);
            }
            None => {
                self.lease_rounds_failed.inc();
            }
        }
    }

    pub fn push_delivered(&self, latency: std::time::Duration) {
        self.push_latency.observe(latency.as_secs_f64());
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let open = self.shared.imap_slots.open();
        self.imap_connections.set(open);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// One more on a gauge for as long as it is held.
struct CountedWhileHeld(Gauge);

impl CountedWhileHeld {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        CountedWhileHeld(gauge.clone())
    }
}

impl Drop for CountedWhileHeld {
    fn drop(&mut self) {
        self.0.dec();
    }
}
