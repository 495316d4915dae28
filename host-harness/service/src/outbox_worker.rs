//! Works the mailboxes' outboxes: a mailbox whose send was just queued on this node at once,
//! and every few seconds each due mailbox this node holds (retries, and entries a crash left).
//! Each mailbox is worked by one task at a time here; its turn keeps other nodes out. Hourly,
//! finished entries past their keeping time are forgotten.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::leases::Leases;
use crate::metrics::Metrics;
use mailsync_sandbox::outbox_store::KEPT_FINISHED_MS;
use mailsync_sandbox::plugin_host::PluginHost;

/// How often the due entries of the mailboxes this node holds are looked for.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// Mailboxes whose outboxes are worked at once, on this node.
const MAX_CONCURRENT: usize = 4;
/// The most mailboxes nudged and not yet looked at (a burst beyond waits for the poll).
const MAX_NUDGED: usize = 10_000;
/// How often finished entries past their keeping time are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(3600);

/// A handle that asks for a mailbox's outbox to be worked now.
pub struct OutboxWorker {
    nudged: Mutex<HashSet<String>>,
    wake: Notify,
}

impl OutboxWorker {
    /// Starts the worker; it ends with `shutdown` (an attempt under way ends first).
    pub fn spawn(
        host: PluginHost,
        leases: Arc<Leases>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let worker = Arc::new(OutboxWorker {
            nudged: Mutex::new(HashSet::new()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(worker.clone().run(host, leases, metrics, shutdown));
        (worker, task)
    }

    /// Works `mailbox`'s outbox now, on this node.
    pub fn nudge(&self, mailbox: &str) {
        {
            let mut nudged = self.nudged.lock().unwrap_or_else(|p| p.into_inner());
            if nudged.len() < MAX_NUDGED {
                nudged.insert(mailbox.to_string());
            }
        }
        self.wake.notify_one();
    }

    async fn run(
        self: Arc<Self>,
        host: PluginHost,
        leases: Arc<Leases>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(MAX_CONCURRENT));
        let working: Arc<Mutex<HashSet<String>>> = Arc::default();
        let tasks = tokio_util::task::TaskTracker::new();
        let mut forgotten_at: Option<std::time::Instant> = None;
        loop {
            if forgotten_at.is_none_or(|at| at.elapsed() >= FORGET_EVERY) {
                forgotten_at = Some(std::time::Instant::now());
                forget_finished(&host).await;
            }
            let mut chosen: HashSet<String> =
                std::mem::take(&mut *self.nudged.lock().unwrap_or_else(|p| p.into_inner()));
            let db = host.shared().db.clone();
            let now_ms = host.now_ms();
            match db
                .run_blocking(move |db| db.outbox_due_mailboxes(now_ms))
                .await
            {
                Ok(due) => chosen.extend(due.into_iter().filter(|m| leases.holds(m))),
                Err(e) => tracing::warn!(error = %e, "the outboxes' due entries cannot be read"),
            }
            let mut busy = Vec::new();
            for mailbox in chosen {
                if !working
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(mailbox.clone())
                {
                    // Its task may be past its last look at the outbox: the nudge waits for
                    // that task to end, which wakes this loop, rather than for the next poll.
                    busy.push(mailbox);
                    continue;
                }
                let (slots, working) = (slots.clone(), working.clone());
                let (host, metrics, worker) = (host.clone(), metrics.clone(), self.clone());
                tasks.spawn(async move {
                    if let Ok(_slot) = slots.acquire_owned().await {
                        work(&host, &metrics, &mailbox).await;
                    }
                    working
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&mailbox);
                    worker.wake.notify_one();
                });
            }
            if !busy.is_empty() {
                let mut nudged = self.nudged.lock().unwrap_or_else(|p| p.into_inner());
                nudged.extend(busy);
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_EVERY) => {}
            }
        }
        tasks.close();
        tasks.wait().await;
    }
}

/// Forgets the finished entries past `KEPT_FINISHED_MS` (their keys may be used anew).
async fn forget_finished(host: &PluginHost) {
    let before_ms = host.now_ms() - KEPT_FINISHED_MS;
    let db = host.shared().db.clone();
    match db.run_blocking(move |db| db.outbox_forget(before_ms)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            entries = n,
            "finished outbox entries forgotten after 7 days"
        ),
        Err(e) => tracing::warn!(error = %e, "finished outbox entries could not be forgotten"),
    }
}

/// Works one mailbox's outbox until nothing in it is due.
async fn work(host: &PluginHost, metrics: &Metrics, mailbox: &str) {
    match host.mailbox(mailbox).work_outbox().await {
        Ok(run) => {
            for entry in &run.worked {
                metrics.outbox_attempt(entry.state);
                tracing::info!(
                    mailbox,
                    entry = %entry.id,
                    state = entry.state.as_str(),
                    attempts = entry.attempts,
                    "outbox entry attempted"
                );
            }
        }
        Err(e) => {
            tracing::warn!(mailbox, error = %e, "the outbox could not be worked; it is tried again")
        }
    }
}
