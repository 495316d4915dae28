//! The scheduler: decides when each watched mailbox's next pass runs (`timing`), runs at most one
//! pass per mailbox and a capped number overall, and on shutdown starts nothing new and waits for
//! what runs. It knows nothing of IMAP: a pass is a `Job` that reports an `Outcome`.

#[cfg(test)]
mod tests;
mod timing;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use timing::{Outcome, ScheduleSettings};

/// One pass over one mailbox (a sync, or keeping its authorisation alive).
pub trait Job: Send + Sync + 'static {
    fn run(&self, mailbox: String) -> Pin<Box<dyn Future<Output = Outcome> + Send>>;
}

enum Command {
    Watch(String),
    SyncNow(String),
    SyncOnce(String),
    Forget(String),
}

/// How the rest of the service talks to the running scheduler; cheap to clone.
#[derive(Clone)]
pub struct SchedulerHandle(mpsc::UnboundedSender<Command>);

impl SchedulerHandle {
    /// Starts watching `mailbox` (its first pass within one interval), or wakes one that was
    /// stopped (after it was linked again): its next pass runs now.
    pub fn watch(&self, mailbox: &str) {
        let _ = self.0.send(Command::Watch(mailbox.to_string()));
    }

    /// Runs a pass of `mailbox` now, or right after the one running ends.
    pub fn sync_now(&self, mailbox: &str) {
        let _ = self.0.send(Command::SyncNow(mailbox.to_string()));
    }

    /// Runs one pass of `mailbox` now without watching it (another node does), or, when it is
    /// watched here, as `sync_now`.
    pub fn sync_once(&self, mailbox: &str) {
        let _ = self.0.send(Command::SyncOnce(mailbox.to_string()));
    }

    /// Stops watching `mailbox` (it was unlinked); a pass running ends as it would.
    pub fn forget(&self, mailbox: &str) {
        let _ = self.0.send(Command::Forget(mailbox.to_string()));
    }
}

#[derive(Default)]
struct Entry {
    /// When the next pass is due; `None` while one runs, or when stopped.
    due: Option<Instant>,
    /// Failed passes in a row.
    failures: u32,
    running: bool,
    /// Asked to run again while running.
    again: bool,
    /// Stopped until woken (a pass ended in `Outcome::Stop`).
    stopped: bool,
    /// Not watched: forgotten after its pass (`sync_once`).
    once: bool,
    /// The end of a backoff (a failure's, or the provider's `Retry-After`): "sync now" waits
    /// for it too.
    not_before: Option<Instant>,
}

impl Entry {
    /// The earliest a pass asked for now may start: now, or when its backoff ends.
    fn earliest(&self, now: Instant) -> Instant {
        self.not_before.filter(|t| *t > now).unwrap_or(now)
    }
}

/// Starts the scheduler; it runs until `shutdown` is cancelled and its running passes end.
/// `seed` makes the jitter reproducible.
pub fn spawn(
    settings: ScheduleSettings,
    job: Arc<dyn Job>,
    seed: u64,
    shutdown: CancellationToken,
) -> (SchedulerHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let scheduler = Scheduler {
        settings,
        job,
        random: fastrand::Rng::with_seed(seed),
        entries: HashMap::new(),
        running: JoinSet::new(),
        running_ids: HashMap::new(),
    };
    let task = tokio::spawn(scheduler.run(rx, shutdown));
    (SchedulerHandle(tx), task)
}

struct Scheduler {
    settings: ScheduleSettings,
    job: Arc<dyn Job>,
    random: fastrand::Rng,
    entries: HashMap<String, Entry>,
    running: JoinSet<Outcome>,
    running_ids: HashMap<Id, String>,
}

impl Scheduler {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        stop: CancellationToken,
    ) {
        loop {
            self.start_due(Instant::now());
            let next_due = self.next_due();
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(finished) = self.running.join_next_with_id() => {
                    let (id, outcome) = match finished {
                        Ok((id, outcome)) => (id, outcome),
                        // A pass that panicked is a network-like failure: retried with backoff.
                        Err(e) => (e.id(), Outcome::Network),
                    };
                    self.finish(id, outcome, Instant::now());
                }
                Some(command) = commands.recv() => self.apply(command, Instant::now()),
                _ = sleep_until(next_due), if next_due.is_some() => {}
            }
        }
        // Shutting down: nothing new starts; what runs ends its pass.
        while self.running.join_next().await.is_some() {}
    }

    fn apply(&mut self, command: Command, now: Instant) {
        match command {
            Command::Watch(mailbox) => match self.entries.get_mut(&mailbox) {
                Some(entry) if entry.once => {
                    entry.once = false;
                    entry.stopped = false;
                    entry.due = entry.due.or(Some(now)).filter(|_| !entry.running);
                }
                Some(entry) if entry.stopped => {
                    entry.stopped = false;
                    entry.failures = 0;
                    entry.due = Some(now);
                }
                Some(_) => {}
                None => {
                    let wait = self.settings.first_wait(self.random.f64());
                    let entry = Entry {
                        due: Some(now + wait),
                        ..Entry::default()
                    };
                    self.entries.insert(mailbox, entry);
                }
            },
            Command::SyncNow(mailbox) => {
                let entry = self.entries.entry(mailbox).or_default();
                entry.stopped = false;
                if entry.running {
                    entry.again = true;
                } else {
                    entry.due = Some(entry.earliest(now));
                }
            }
            Command::SyncOnce(mailbox) if !self.entries.contains_key(&mailbox) => {
                let entry = Entry {
                    due: Some(now),
                    once: true,
                    ..Entry::default()
                };
                self.entries.insert(mailbox, entry);
            }
            Command::SyncOnce(mailbox) => self.apply(Command::SyncNow(mailbox), now),
            Command::Forget(mailbox) => {
                self.entries.remove(&mailbox);
            }
        }
    }

    /// Starts every due pass the global cap allows, the longest overdue first.
    fn start_due(&mut self, now: Instant) {
        while self.running.len() < self.settings.max_concurrent_syncs.max(1) {
            let Some(mailbox) = self
                .entries
                .iter()
                .filter(|(_, e)| e.due.is_some_and(|due| due <= now))
                .min_by_key(|(_, e)| e.due)
                .map(|(m, _)| m.clone())
            else {
                return;
            };
            if let Some(entry) = self.entries.get_mut(&mailbox) {
                entry.due = None;
                entry.running = true;
            }
            let pass = self.job.run(mailbox.clone());
            let id = self.running.spawn(pass).id();
            self.running_ids.insert(id, mailbox);
        }
    }

    fn finish(&mut self, id: Id, outcome: Outcome, now: Instant) {
        let Some(mailbox) = self.running_ids.remove(&id) else {
            return;
        };
        // A mailbox forgotten while its pass ran is not watched again.
        let Some(entry) = self.entries.get_mut(&mailbox) else {
            return;
        };
        entry.running = false;
        entry.failures = match outcome {
            Outcome::Done | Outcome::Idle => 0,
            // Another call had the turn: nothing failed.
            Outcome::Busy => entry.failures,
            _ => entry.failures.saturating_add(1),
        };
        let wait = self
            .settings
            .wait_after(outcome, entry.failures, self.random.f64());
        entry.not_before = match outcome {
            Outcome::Network | Outcome::Throttled { .. } => wait.map(|w| now + w),
            Outcome::Busy => entry.not_before,
            _ => None,
        };
        if std::mem::take(&mut entry.again) {
            entry.due = Some(entry.earliest(now));
            return;
        }
        if entry.once && outcome != Outcome::Busy {
            self.entries.remove(&mailbox);
            return;
        }
        entry.stopped = wait.is_none();
        entry.due = wait.map(|w| now + w);
    }

    /// The earliest due pass, if a slot is free to start it.
    fn next_due(&self) -> Option<Instant> {
        if self.running.len() >= self.settings.max_concurrent_syncs.max(1) {
            return None;
        }
        self.entries.values().filter_map(|e| e.due).min()
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}
