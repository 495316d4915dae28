//! The scheduler's timing, checked on tokio's paused clock: time moves only when every task
//! waits, so each pass's start is exact and the tests take no real time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::*;

/// A pass that takes `length`, answers the scripted outcomes in turn (then `Done`), and records
/// when each pass ran.
struct ScriptedJob {
    length: Duration,
    outcomes: Mutex<HashMap<String, VecDeque<Outcome>>>,
    log: Mutex<Vec<(String, Duration, Duration)>>,
    origin: Instant,
}

impl ScriptedJob {
    fn new(length: Duration) -> Arc<Self> {
        Arc::new(ScriptedJob {
            length,
            outcomes: Mutex::default(),
            log: Mutex::default(),
            origin: Instant::now(),
        })
    }

    fn script(&self, mailbox: &str, outcomes: &[Outcome]) {
        let mut all = self.outcomes.lock().unwrap();
        all.insert(mailbox.to_string(), outcomes.iter().copied().collect());
    }

    /// When each pass of `mailbox` started, in seconds from the test's start.
    fn starts(&self, mailbox: &str) -> Vec<u64> {
        let log = self.log.lock().unwrap();
        let starts = log.iter().filter(|(m, _, _)| m == mailbox);
        starts.map(|(_, start, _)| start.as_secs()).collect()
    }

    /// The most passes that ever ran at once.
    fn most_at_once(&self) -> usize {
        let log = self.log.lock().unwrap();
        let at = |t: Duration| log.iter().filter(|(_, s, e)| *s <= t && t < *e).count();
        log.iter().map(|(_, s, _)| at(*s)).max().unwrap_or(0)
    }
}

impl Job for ScriptedJob {
    fn run(&self, mailbox: String) -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
        let outcome = self
            .outcomes
            .lock()
            .unwrap()
            .get_mut(&mailbox)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Outcome::Done);
        let start = self.origin.elapsed();
        let end = start + self.length;
        self.log.lock().unwrap().push((mailbox, start, end));
        let length = self.length;
        Box::pin(async move {
            tokio::time::sleep(length).await;
            outcome
        })
    }
}

fn settings() -> ScheduleSettings {
    ScheduleSettings {
        interval_secs: 300,
        jitter: 0.0,
        ..ScheduleSettings::default()
    }
}

async fn run_for(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn a_watched_mailbox_is_synced_every_interval() {
    let job = ScriptedJob::new(Duration::from_secs(10));
    let stop = CancellationToken::new();
    let (handle, task) = spawn(settings(), job.clone(), 7, stop.clone());
    handle.sync_now("a");
    run_for(1000).await;
    // The interval counts from the end of a pass: 0, 10+300, 320+300.
    assert_eq!(job.starts("a"), [0, 310, 620, 930]);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn first_passes_are_spread_over_their_window() {
    let job = ScriptedJob::new(Duration::from_secs(1));
    let stop = CancellationToken::new();
    let mut s = settings();
    s.jitter = 0.2;
    s.first_pass_spread_secs = 60;
    let (handle, task) = spawn(s, job.clone(), 42, stop.clone());
    for i in 0..20 {
        handle.watch(&format!("m{i}"));
    }
    run_for(61).await;
    let firsts: Vec<u64> = (0..20).map(|i| job.starts(&format!("m{i}"))[0]).collect();
    let distinct: std::collections::BTreeSet<_> = firsts.iter().collect();
    assert!(
        distinct.len() >= 12,
        "first passes bunch together: {firsts:?}"
    );
    assert!(firsts.iter().all(|&t| t <= 60), "{firsts:?}");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn network_failures_back_off_and_a_success_resets_the_interval() {
    let job = ScriptedJob::new(Duration::ZERO);
    job.script("a", &[Outcome::Network, Outcome::Network, Outcome::Network]);
    let stop = CancellationToken::new();
    let mut s = settings();
    s.network_backoff_secs = 10;
    let (handle, task) = spawn(s, job.clone(), 1, stop.clone());
    handle.sync_now("a");
    run_for(400).await;
    let starts = job.starts("a");
    // Waits of [5,10], [10,20], [20,40] after failures 1–3, then the interval after a success.
    let waits: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!((5..=10).contains(&waits[0]), "{waits:?}");
    assert!((10..=20).contains(&waits[1]), "{waits:?}");
    assert!((20..=40).contains(&waits[2]), "{waits:?}");
    assert_eq!(waits[3], 300, "{waits:?}");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn throttling_waits_at_least_what_the_provider_asked() {
    let job = ScriptedJob::new(Duration::ZERO);
    let retry_after = Some(Duration::from_secs(3600));
    job.script("a", &[Outcome::Throttled { retry_after }]);
    let stop = CancellationToken::new();
    let (handle, task) = spawn(settings(), job.clone(), 1, stop.clone());
    handle.sync_now("a");
    run_for(3599).await;
    assert_eq!(job.starts("a"), [0]);
    run_for(2).await;
    assert_eq!(job.starts("a"), [0, 3600]);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn sync_now_waits_out_the_providers_retry_after_and_a_failures_backoff() {
    let job = ScriptedJob::new(Duration::ZERO);
    let retry_after = Some(Duration::from_secs(600));
    job.script("a", &[Outcome::Throttled { retry_after }, Outcome::Network]);
    let stop = CancellationToken::new();
    let mut s = settings();
    s.network_backoff_secs = 100;
    let (handle, task) = spawn(s, job.clone(), 1, stop.clone());
    handle.sync_now("a");
    run_for(10).await;
    // "Sync now" during the provider's Retry-After: the pass waits for it still.
    handle.sync_now("a");
    run_for(580).await;
    assert_eq!(job.starts("a"), [0], "no pass before the provider's 600 s");
    run_for(20).await;
    assert_eq!(job.starts("a"), [0, 600]);
    // After a network failure (the second in a row): "sync now" waits out its backoff
    // ([100, 200] s), no longer.
    handle.sync_now("a");
    run_for(99).await;
    assert_eq!(job.starts("a"), [0, 600]);
    run_for(102).await;
    assert_eq!(job.starts("a").len(), 3);
    // After a success, "sync now" runs at once.
    handle.sync_now("a");
    run_for(1).await;
    assert_eq!(job.starts("a").len(), 4);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_pass_that_found_its_turn_taken_is_retried_shortly_and_counts_no_failure() {
    let job = ScriptedJob::new(Duration::ZERO);
    job.script(
        "a",
        &[
            Outcome::Network,
            Outcome::Busy,
            Outcome::Busy,
            Outcome::Network,
        ],
    );
    let stop = CancellationToken::new();
    let mut s = settings();
    s.network_backoff_secs = 10;
    let (handle, task) = spawn(s, job.clone(), 1, stop.clone());
    handle.sync_now("a");
    run_for(100).await;
    let starts = job.starts("a");
    let waits: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // A network failure's backoff, then two busy retries of 2 s, then the second failure's
    // backoff: the second, not the fourth ([10, 20] s, not [40, 80]).
    assert!((5..=10).contains(&waits[0]), "{waits:?}");
    assert_eq!(&waits[1..3], [2, 2], "{waits:?}");
    assert!((10..=20).contains(&waits[3]), "{waits:?}");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stopped_mailbox_is_not_retried_until_woken() {
    let job = ScriptedJob::new(Duration::ZERO);
    job.script("a", &[Outcome::Stop]);
    let stop = CancellationToken::new();
    let (handle, task) = spawn(settings(), job.clone(), 1, stop.clone());
    handle.sync_now("a");
    run_for(24 * 3600).await;
    assert_eq!(job.starts("a"), [0], "no retry of a lapsed authorisation");
    handle.watch("a");
    run_for(1).await;
    assert_eq!(job.starts("a").len(), 2, "linking again wakes it");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn no_more_passes_run_at_once_than_the_cap_and_each_mailbox_runs_once() {
    let job = ScriptedJob::new(Duration::from_secs(30));
    let stop = CancellationToken::new();
    let mut s = settings();
    s.max_concurrent_syncs = 2;
    let (handle, task) = spawn(s, job.clone(), 1, stop.clone());
    for m in ["a", "b", "c", "d", "e"] {
        handle.sync_now(m);
    }
    // "Sync now" while a's pass runs: one more pass after it, never two at once.
    handle.sync_now("a");
    run_for(5).await;
    handle.sync_now("a");
    run_for(200).await;
    assert_eq!(job.most_at_once(), 2);
    let a = job.starts("a");
    assert_eq!(
        a.len(),
        2,
        "two asks while it ran make one more pass: {a:?}"
    );
    assert!(
        a[1] >= 30,
        "the second pass starts after the first ends: {a:?}"
    );
    for m in ["b", "c", "d", "e"] {
        assert_eq!(job.starts(m).len(), 1, "{m}");
    }
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_starts_nothing_new_and_waits_for_the_running_pass() {
    let job = ScriptedJob::new(Duration::from_secs(60));
    let stop = CancellationToken::new();
    let mut s = settings();
    s.max_concurrent_syncs = 1;
    let (handle, task) = spawn(s, job.clone(), 1, stop.clone());
    handle.sync_now("a");
    handle.sync_now("b");
    run_for(10).await;
    stop.cancel();
    let started = Instant::now();
    task.await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(50),
        "a's pass ran to its end"
    );
    assert!(job.starts("b").is_empty(), "b never started");
}

#[tokio::test(start_paused = true)]
async fn a_forgotten_mailbox_is_not_synced_again() {
    let job = ScriptedJob::new(Duration::from_secs(10));
    let stop = CancellationToken::new();
    let (handle, task) = spawn(settings(), job.clone(), 1, stop.clone());
    handle.sync_now("a");
    run_for(5).await;
    handle.forget("a");
    run_for(3600).await;
    assert_eq!(job.starts("a"), [0]);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_pass_run_once_for_another_node_is_not_repeated_unless_watched_here() {
    let job = ScriptedJob::new(Duration::from_secs(10));
    let stop = CancellationToken::new();
    let (handle, task) = spawn(settings(), job.clone(), 1, stop.clone());
    handle.sync_once("a");
    run_for(1000).await;
    assert_eq!(
        job.starts("a"),
        [0],
        "one pass, at once, not on the interval"
    );
    // This node takes the mailbox's lease: from then on it is watched.
    handle.sync_once("b");
    run_for(5).await;
    handle.watch("b");
    run_for(400).await;
    assert_eq!(job.starts("b"), [1000, 1310]);
    stop.cancel();
    task.await.unwrap();
}
