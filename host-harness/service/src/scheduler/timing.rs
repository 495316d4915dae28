//! When a mailbox's next sync is due, from how its last one ended: the interval with jitter after
//! a success, exponential backoff with jitter by class of failure, and no retry at all for what
//! only a person can fix (a lapsed authorisation). Pure: no clock, no I/O, no IMAP.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a sync pass ended, in the terms timing cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything mapped was synced (a message that failed was skipped, not retried).
    Done,
    /// Linked but nothing to sync (no folder mapped): only keep the authorisation alive.
    Idle,
    /// The server or provider could not be reached, or the connection broke.
    Network,
    /// The provider asked us to slow down (IMAP `[THROTTLED]`, HTTP 429, too many connections).
    Throttled { retry_after: Option<Duration> },
    /// Only a person can fix it (re-authorisation needed, unlinked): stop until woken.
    Stop,
    /// Another call held the mailbox's turn, so the pass did not start (nor take a slot while
    /// it waited): tried again shortly, with no failure counted.
    Busy,
}

/// How soon a pass that found its mailbox's turn taken is tried again.
pub const BUSY_RETRY: Duration = Duration::from_secs(2);

/// The service's timing settings (`[service.schedule]` in the settings file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSettings {
    /// Seconds between two syncs of a mailbox.
    pub interval_secs: u64,
    /// How far each wait may stray from its nominal length, as a fraction (0.2 = ±20%), so
    /// mailboxes do not all start at once.
    pub jitter: f64,
    /// The first wait after a network failure; each further failure doubles it.
    pub network_backoff_secs: u64,
    /// The longest wait after network failures.
    pub network_backoff_max_secs: u64,
    /// The first wait after throttling; each further one doubles it.
    pub throttle_backoff_secs: u64,
    /// The longest wait after throttling.
    pub throttle_backoff_max_secs: u64,
    /// Seconds between two passes of a linked mailbox with nothing mapped, which keep its
    /// authorisation in use (Microsoft expires refresh tokens unused for 90 days).
    pub idle_interval_secs: u64,
    /// Syncs running at once, across every mailbox.
    pub max_concurrent_syncs: usize,
    /// Push calls (a woken inbox synced, IDLE started again) running at once, across every
    /// mailbox: a burst of mail in many mailboxes queues here instead of holding an instance
    /// for each.
    pub max_concurrent_pushes: usize,
    /// Seconds over which the first passes of the mailboxes a node starts watching (at its
    /// start, or when it takes them over) are spread, at most the jitter's share of an interval:
    /// every mapped folder, not only the pushed inbox, is current soon after a restart, and the
    /// cap on passes at once keeps a large node from starting them all together.
    pub first_pass_spread_secs: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            interval_secs: 5 * 60,
            jitter: 0.2,
            network_backoff_secs: 15,
            network_backoff_max_secs: 30 * 60,
            throttle_backoff_secs: 5 * 60,
            throttle_backoff_max_secs: 2 * 60 * 60,
            idle_interval_secs: 12 * 60 * 60,
            max_concurrent_syncs: 8,
            max_concurrent_pushes: 16,
            first_pass_spread_secs: 5,
        }
    }
}

impl ScheduleSettings {
    /// The first pass of a mailbox the service starts watching: within `first_pass_spread_secs`
    /// (5 s by default), and never past the jitter's share of one interval.
    pub fn first_wait(&self, random: f64) -> Duration {
        let share = Duration::from_secs(self.interval_secs).mul_f64(self.jitter.clamp(0.0, 1.0));
        let spread = share.min(Duration::from_secs(self.first_pass_spread_secs));
        spread.mul_f64(random.clamp(0.0, 1.0))
    }

    /// The wait after a pass that ended with `outcome`, the `failures`-th in a row when it
    /// failed (1 for the first). `None` means: do not run again until woken.
    pub fn wait_after(&self, outcome: Outcome, failures: u32, random: f64) -> Option<Duration> {
        let secs = Duration::from_secs;
        match outcome {
            Outcome::Done => Some(self.jittered(secs(self.interval_secs), random)),
            Outcome::Idle => Some(self.jittered(secs(self.idle_interval_secs), random)),
            Outcome::Network => Some(backoff(
                secs(self.network_backoff_secs),
                secs(self.network_backoff_max_secs),
                failures,
                random,
            )),
            Outcome::Throttled { retry_after } => {
                let wait = backoff(
                    secs(self.throttle_backoff_secs),
                    secs(self.throttle_backoff_max_secs),
                    failures,
                    random,
                );
                Some(wait.max(retry_after.unwrap_or_default()))
            }
            Outcome::Stop => None,
            Outcome::Busy => Some(self.jittered(BUSY_RETRY, random)),
        }
    }

    /// `nominal` moved by up to ±`jitter` of itself.
    fn jittered(&self, nominal: Duration, random: f64) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0);
        nominal.mul_f64(1.0 - jitter + 2.0 * jitter * random.clamp(0.0, 1.0))
    }
}

/// `first` doubled for each failure after the first, at most `max`, then spread over its upper
/// half ("equal jitter"): never shorter than half the step, so a broken server is not hammered.
fn backoff(first: Duration, max: Duration, failures: u32, random: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let step = first.saturating_mul(1u32 << doublings).min(max);
    step.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ScheduleSettings {
        ScheduleSettings::default()
    }

    #[test]
    fn after_a_success_the_wait_is_the_interval_within_its_jitter() {
        let s = settings();
        let low = s.wait_after(Outcome::Done, 0, 0.0).expect("runs again");
        let high = s.wait_after(Outcome::Done, 0, 1.0).expect("runs again");
        assert_eq!(low, Duration::from_secs(240));
        assert_eq!(high, Duration::from_secs(360));
    }

    #[test]
    fn network_failures_double_the_wait_up_to_the_cap() {
        let s = settings();
        let waits: Vec<u64> = (1..=10)
            .map(|n| s.wait_after(Outcome::Network, n, 1.0).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
        let least = s.wait_after(Outcome::Network, 3, 0.0).unwrap();
        assert_eq!(
            least,
            Duration::from_secs(30),
            "never less than half the step"
        );
    }

    #[test]
    fn throttling_waits_longer_than_a_network_failure_and_honours_retry_after() {
        let s = settings();
        let throttled = |retry_after| Outcome::Throttled { retry_after };
        for n in 1..6 {
            let t = s.wait_after(throttled(None), n, 0.0).unwrap();
            let net = s.wait_after(Outcome::Network, n, 1.0).unwrap();
            assert!(t > net, "failure {n}: throttled {t:?} vs network {net:?}");
        }
        let asked = Some(Duration::from_secs(3 * 60 * 60));
        assert_eq!(
            s.wait_after(throttled(asked), 1, 0.5),
            asked,
            "the provider's Retry-After wins when it is longer"
        );
    }

    #[test]
    fn what_only_a_person_can_fix_is_not_retried() {
        assert_eq!(settings().wait_after(Outcome::Stop, 1, 0.5), None);
    }

    #[test]
    fn the_first_pass_comes_within_seconds_and_never_past_the_jitters_share() {
        let s = settings();
        assert_eq!(s.first_wait(0.0), Duration::ZERO);
        assert_eq!(s.first_wait(0.5), Duration::from_millis(2500));
        assert_eq!(
            s.first_wait(7.0),
            Duration::from_secs(5),
            "the spread, at most"
        );
        let wide = ScheduleSettings {
            first_pass_spread_secs: 3600,
            ..s.clone()
        };
        assert_eq!(
            wide.first_wait(7.0),
            Duration::from_secs(60),
            "the jitter's share"
        );
        let exact = ScheduleSettings { jitter: 0.0, ..s };
        assert_eq!(exact.first_wait(0.9), Duration::ZERO, "no jitter: at once");
    }
}
