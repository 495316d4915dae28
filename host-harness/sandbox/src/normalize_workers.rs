//! The instances a sync call hands messages to, normalising them on other cores while its own
//! instance goes on fetching: made on demand, lent nothing, bounded host-wide and in bytes.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};
use wasmtime::Store;

use crate::bindings::message::MessageRecord;
use crate::bindings::normalizer::{Job, JobFailure};
use crate::plugin_host::PluginHost;
use crate::plugin_versions::PluginInstance;
use crate::state::{HostState, JobOutcome, MailboxScope, NormalizeJobs, ProviderGrant};

/// Bytes of jobs handed on whose outcomes the call has not taken yet (queued, being normalised,
/// or finished and waiting in the host), per sync call: past it `submit` takes no more, and the
/// sync normalises the message itself.
pub const WAITING_BYTES: usize = 16 * 1024 * 1024;
/// What each job counts for besides its bytes and address, so many tiny jobs are bounded too.
const JOB_OVERHEAD_BYTES: usize = 1024;

pub type Outcome = JobOutcome;

struct Queued {
    ticket: u64,
    job: Job,
    /// Its share of `WAITING_BYTES`, given back once the call takes its outcome.
    share: OwnedSemaphorePermit,
}

/// A job's outcome, still holding the job's share of `WAITING_BYTES`.
type Finished = (u64, Outcome, OwnedSemaphorePermit);

/// One sync call's workers: their queue, their outcomes, and what is in flight.
pub struct NormalizeWorkers {
    host: PluginHost,
    scope: MailboxScope,
    jobs: mpsc::UnboundedSender<Queued>,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Queued>>>,
    outcomes_to: mpsc::UnboundedSender<Finished>,
    outcomes: mpsc::UnboundedReceiver<Finished>,
    waiting_bytes: Arc<Semaphore>,
    in_flight: usize,
    workers: usize,
}

impl NormalizeWorkers {
    /// Workers for a sync of mailbox `id`; none is made before the first job.
    pub fn new(host: PluginHost, id: &str) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let (outcomes_to, outcomes) = mpsc::unbounded_channel();
        NormalizeWorkers {
            host,
            // No provider: a worker is lent no grant.
            scope: MailboxScope {
                id: id.to_string(),
                provider: ProviderGrant::Known(None),
            },
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            outcomes_to,
            outcomes,
            waiting_bytes: Arc::new(Semaphore::new(WAITING_BYTES)),
            in_flight: 0,
            workers: 0,
        }
    }

    /// Queues `job` under `ticket`, with one more worker when all are busy and the policy's
    /// count allows; false (the job not taken) when this call has no worker at all, or its jobs
    /// not yet taken back hold `WAITING_BYTES`.
    pub async fn submit(&mut self, ticket: u64, job: Job) -> bool {
        if self.in_flight >= self.workers
            && let Some(permit) = self.host.try_normalize_worker()
        {
            self.workers += 1;
            let worker = Worker {
                host: self.host.clone(),
                scope: self.scope.clone(),
                queue: self.queue.clone(),
                outcomes: self.outcomes_to.clone(),
                _permit: permit,
            };
            tokio::spawn(worker.run());
        }
        if self.workers == 0 {
            return false;
        }
        // Never waited for: only `finished`, which the caller cannot call while it waits here,
        // gives shares back. A job larger than the whole allowance goes only alone.
        let counted = job.bytes.len() + job.mailbox_address.len() + JOB_OVERHEAD_BYTES;
        let share = counted.min(WAITING_BYTES) as u32;
        let Ok(share) = self.waiting_bytes.clone().try_acquire_many_owned(share) else {
            return false;
        };
        let queued = Queued { ticket, job, share };
        if self.jobs.send(queued).is_err() {
            return false;
        }
        self.in_flight += 1;
        true
    }

    /// The outcomes in so far; with `wait`, at least one when any job is in flight. Their
    /// shares of `WAITING_BYTES` are given back as they are taken.
    pub async fn finished(&mut self, wait: bool) -> Vec<(u64, Outcome)> {
        let mut out = Vec::new();
        if wait
            && self.in_flight > 0
            && let Some((ticket, outcome, _share)) = self.outcomes.recv().await
        {
            out.push((ticket, outcome));
        }
        while let Ok((ticket, outcome, _share)) = self.outcomes.try_recv() {
            out.push((ticket, outcome));
        }
        self.in_flight -= out.len().min(self.in_flight);
        out
    }
}

/// One worker: an instance that normalises the call's jobs one at a time, made again after one
/// stopped it, and before half its time budget is spent.
struct Worker {
    host: PluginHost,
    scope: MailboxScope,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Queued>>>,
    outcomes: mpsc::UnboundedSender<Finished>,
    _permit: OwnedSemaphorePermit,
}

type Instance = (Store<HostState>, PluginInstance, Instant);

/// Why a job came back without a record: `stopped` when it stopped the instance.
struct Failed {
    stopped: bool,
    reason: String,
}

impl NormalizeJobs for NormalizeWorkers {
    fn submit(&mut self, ticket: u64, job: Job) -> BoxFuture<'_, bool> {
        Box::pin(NormalizeWorkers::submit(self, ticket, job))
    }

    fn finished(&mut self, wait: bool) -> BoxFuture<'_, Vec<(u64, Outcome)>> {
        Box::pin(NormalizeWorkers::finished(self, wait))
    }
}

impl Worker {
    /// Runs until the call's queue closes (the call ended).
    async fn run(self) {
        let budget_ms = self.host.budget_ms();
        let mut instance: Option<Instance> = None;
        loop {
            let next = self.queue.lock().await.recv().await;
            let Some(Queued { ticket, job, share }) = next else {
                return;
            };
            // A panic in the host while it normalises (a bug of ours, not the message's) must
            // not leave the sync waiting for an outcome until its budget ends: the job comes
            // back not taken, and the sync normalises it itself.
            let done = AssertUnwindSafe(self.normalize(&mut instance, &job, budget_ms))
                .catch_unwind()
                .await;
            let outcome = match done {
                Ok(Ok(record)) => Ok(record),
                Ok(Err(Failed { stopped, reason })) => Err(JobFailure {
                    stopped,
                    reason,
                    bytes: job.bytes,
                }),
                Err(_) => {
                    instance = None;
                    Err(JobFailure {
                        stopped: false,
                        reason: "the host failed while a worker normalised it".into(),
                        bytes: job.bytes,
                    })
                }
            };
            if self.outcomes.send((ticket, outcome, share)).is_err() {
                return;
            }
        }
    }

    /// Normalises `job` in `instance`, made first when there is none or it has used half its
    /// time budget; after a trap it is dropped, for the next job to get a new one.
    async fn normalize(
        &self,
        instance: &mut Option<Instance>,
        job: &Job,
        budget_ms: u64,
    ) -> Result<MessageRecord, Failed> {
        let renew_after = Duration::from_millis(budget_ms / 2);
        if instance
            .as_ref()
            .is_some_and(|(_, _, made)| made.elapsed() >= renew_after)
        {
            *instance = None;
        }
        let (store, plugin, _) = match instance {
            Some(made) => made,
            None => {
                let made = self
                    .host
                    .try_instantiate_for(self.scope.clone(), budget_ms)
                    .await;
                let (store, plugin) = match made {
                    Some(Ok(made)) => made,
                    failed => {
                        let reason = match failed {
                            Some(Err(e)) => e.to_string(),
                            _ => "no slot of the pool was free".to_string(),
                        };
                        return Err(Failed {
                            stopped: false,
                            reason,
                        });
                    }
                };
                instance.insert((store, plugin, Instant::now()))
            }
        };
        let outcome = match self.host.shared().faults.before_normalizing(&job.bytes) {
            Ok(()) => plugin.normalize_job(&mut *store, job).await,
            Err(injected) => Err(injected),
        };
        outcome.map_err(|e| {
            // A trap leaves the instance unusable: the next job gets a new one.
            *instance = None;
            Failed {
                stopped: true,
                reason: stop_reason(&e),
            }
        })
    }
}

/// Why a worker's instance stopped, in a line: the trap's kind, not the guest's own text.
fn stop_reason(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("the instance stopped: {trap}"),
        None => format!("the instance stopped: {}", e.root_cause()),
    }
}
