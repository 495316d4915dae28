//! Push: one small task per watched mailbox that calls the plugin's `watch`, then waits on the
//! connection the plugin parked (IMAP IDLE) until the server speaks, the IDLE is due for renewal,
//! or someone nudges it, and calls `watch` again. No instance lives while it waits; the protocol
//! stays in the plugin. Failures back off like the scheduler's; what only a person can fix ends
//! the watch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use mailsync_sandbox::bindings::sync::{WatchOutcome, WatchReport};
use mailsync_sandbox::capabilities::imap_parking;
use mailsync_sandbox::plugin_host::PluginHost;
use mailsync_sandbox::resources::imap_connection::Wake;

use super::metrics::Metrics;
use super::scheduler::{Outcome, ScheduleSettings, SchedulerHandle};
use super::sync_pass;

/// How long push waits before looking again at a mailbox whose turn another call holds: at
/// first, doubled while it stays busy up to the most (each look is a database query on
/// PostgreSQL, and a sync may hold the turn for minutes).
const TURN_BUSY_WAIT: Duration = Duration::from_millis(500);
const MOST_TURN_BUSY_WAIT: Duration = Duration::from_secs(8);

/// The push watchers of one service.
pub struct Push {
    host: PluginHost,
    metrics: Arc<Metrics>,
    timing: ScheduleSettings,
    enabled: bool,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    watchers: Mutex<HashMap<String, Watcher>>,
    /// The cap on push calls at once (`max_concurrent_pushes`).
    calls: tokio::sync::Semaphore,
    /// For a whole pass when a push saw a message's last place go (moved, or gone).
    scheduler: SchedulerHandle,
}

struct Watcher {
    nudge: Arc<Notify>,
    stop: CancellationToken,
}

impl Push {
    pub fn new(
        host: PluginHost,
        metrics: Arc<Metrics>,
        timing: ScheduleSettings,
        enabled: bool,
        shutdown: CancellationToken,
        scheduler: SchedulerHandle,
    ) -> Arc<Self> {
        Arc::new(Push {
            scheduler,
            calls: tokio::sync::Semaphore::new(timing.max_concurrent_pushes.max(1)),
            host,
            metrics,
            timing,
            enabled,
            shutdown,
            tasks: TaskTracker::new(),
            watchers: Mutex::default(),
        })
    }

    /// Starts watching `mailbox`, or, when it is watched, makes it look again now (after its
    /// mapping changed, say).
    pub fn watch(self: &Arc<Self>, mailbox: &str) {
        if !self.enabled {
            return;
        }
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = watchers.get(mailbox) {
            w.nudge.notify_one();
            return;
        }
        let watcher = Watcher {
            nudge: Arc::new(Notify::new()),
            stop: self.shutdown.child_token(),
        };
        let (this, id) = (self.clone(), mailbox.to_string());
        let (nudge, stop) = (watcher.nudge.clone(), watcher.stop.clone());
        watchers.insert(mailbox.to_string(), watcher);
        self.tasks.spawn(async move {
            this.run(&id, nudge, stop).await;
            this.watchers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        });
    }

    /// Stops watching `mailbox` (it was unlinked); its parked connection is closed.
    pub fn forget(&self, mailbox: &str) {
        let watcher = self
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(mailbox);
        if let Some(w) = watcher {
            w.stop.cancel();
        }
        drop(imap_parking::take(self.host.shared(), mailbox));
    }

    /// Waits until every watcher has logged out (after the shutdown token was cancelled).
    pub async fn stopped(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    async fn run(&self, id: &str, nudge: Arc<Notify>, stop: CancellationToken) {
        let mailbox = self.host.mailbox(id);
        let mut failures = 0u32;
        let mut busy_wait = TURN_BUSY_WAIT;
        let mut woke_at: Option<Instant> = None;
        loop {
            if stop.is_cancelled() {
                break;
            }
            // The mailbox's turn first, then a push slot: a mailbox busy with another call
            // (a long sync, the panel) holds no slot that other mailboxes' pushes need.
            let turn = match mailbox.free_turn().await {
                Ok(Some(turn)) => {
                    busy_wait = TURN_BUSY_WAIT;
                    Ok(turn)
                }
                Ok(None) => {
                    let wait = busy_wait;
                    busy_wait = (busy_wait * 2).min(MOST_TURN_BUSY_WAIT);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = nudge.notified() => {}
                        _ = stop.cancelled() => break,
                    }
                    continue;
                }
                Err(e) => Err(e),
            };
            let watched = match turn {
                Ok(turn) => {
                    let queued = self.metrics.push_call_queued();
                    let _slot = self.calls.acquire().await;
                    drop(queued);
                    mailbox.watch_holding(turn, false).await
                }
                Err(e) => Err(e),
            };
            let wait = match watched {
                Ok(Ok(report)) => {
                    failures = 0;
                    self.delivered(&report, woke_at.take());
                    // A message that left the inbox may have moved to another mapped folder,
                    // or be gone: a whole pass, now, tells which (never a removal for a move).
                    if mailbox.has_unplaced().await.unwrap_or(false) {
                        self.scheduler.sync_now(id);
                    }
                    match report.outcome {
                        WatchOutcome::Parked => match self.wait_parked(id, &nudge, &stop).await {
                            Some(wake) => {
                                woke_at = (wake == Wake::Data).then(Instant::now);
                                continue;
                            }
                            None => break,
                        },
                        // No IDLE here: the schedule polls; push is tried again after a while.
                        WatchOutcome::Unsupported => Duration::from_secs(self.timing.interval_secs),
                        WatchOutcome::Stopped => return,
                    }
                }
                Ok(Err(e)) => {
                    let outcome = sync_pass::classify(&e);
                    if outcome == Outcome::Stop || outcome == Outcome::Idle {
                        return;
                    }
                    failures += 1;
                    self.metrics.sync_failed(sync_pass::failure_kind(&e.kind));
                    self.backoff(outcome, failures)
                }
                Err(e) => {
                    tracing::warn!(mailbox = id, error = %e, "watch call failed");
                    failures += 1;
                    self.backoff(Outcome::Network, failures)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = nudge.notified() => {}
                _ = stop.cancelled() => break,
            }
        }
        // Shutting down: end the IDLE and log out, in the plugin.
        if self.shutdown.is_cancelled() {
            let _turn = self.calls.acquire().await;
            let _ = mailbox.watch(true).await;
        }
    }

    /// Waits on the parked connection; `None` when the watch is to stop.
    async fn wait_parked(
        &self,
        id: &str,
        nudge: &Notify,
        stop: &CancellationToken,
    ) -> Option<Wake> {
        let shared = self.host.shared();
        let mut parked = imap_parking::take(shared, id)?;
        let _waiting = self.metrics.push_waiting();
        let wake = tokio::select! {
            wake = parked.wait() => Some(wake),
            _ = nudge.notified() => Some(Wake::Timer),
            _ = stop.cancelled() => None,
        };
        match wake {
            Some(wake) => {
                if wake == Wake::Closed {
                    tracing::info!(mailbox = id, "the idle connection closed; reconnecting");
                }
                imap_parking::put(shared, id, parked);
                Some(wake)
            }
            // Shutting down: parked again, for the plugin to log out.
            None if self.shutdown.is_cancelled() => {
                imap_parking::put(shared, id, parked);
                None
            }
            // Forgotten (unlinked): dropping it closes it.
            None => None,
        }
    }

    fn backoff(&self, outcome: Outcome, failures: u32) -> Duration {
        let wait = self.timing.wait_after(outcome, failures, fastrand::f64());
        wait.unwrap_or(Duration::from_secs(self.timing.interval_secs))
    }

    fn delivered(&self, report: &WatchReport, woke_at: Option<Instant>) {
        let Some(inbox) = &report.inbox else { return };
        let changed = inbox.created + inbox.updated + inbox.removed;
        self.metrics.watch_finished(inbox);
        if changed > 0
            && let Some(at) = woke_at
        {
            self.metrics.push_delivered(at.elapsed());
        }
    }
}
