//! One scheduled pass over a mailbox: sync every mapped folder (or, with nothing mapped, keep the
//! authorisation in use), record the run, and tell the scheduler how it ended. The only part of
//! the service that reads the plugin's errors, to sort them into the scheduler's classes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mailsync_sandbox::bindings::mailbox::{ErrorKind, MailboxError};
use mailsync_sandbox::bindings::sync::SyncReport;
use mailsync_sandbox::errors::CallError;
use mailsync_sandbox::plugin_host::PluginHost;

use super::events::{Event, Events};
use super::metrics::Metrics;
use super::scheduler::{Job, Outcome};

pub struct SyncPass {
    pub host: PluginHost,
    pub metrics: Arc<Metrics>,
    pub events: Events,
}

impl Job for SyncPass {
    fn run(&self, mailbox: String) -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
        let (host, metrics, events) =
            (self.host.clone(), self.metrics.clone(), self.events.clone());
        Box::pin(async move {
            let handle = host.mailbox(&mailbox);
            // The pass holds its slot only with the mailbox's turn in hand: a mailbox busy with
            // another call is tried again shortly, and the slot serves another mailbox meanwhile.
            let turn = match handle.free_turn().await {
                Ok(Some(turn)) => turn,
                Ok(None) => return Outcome::Busy,
                Err(e) => return call_failed(&mailbox, &e, &metrics, &events),
            };
            let outcome = match handle.sync_holding(turn).await {
                Ok(Ok(report)) => {
                    metrics.sync_finished(&report);
                    outcome_of_report(&report)
                }
                Ok(Err(e)) if matches!(e.kind, ErrorKind::NothingMapped) => {
                    // Nothing to sync: still use the refresh token, so it never lapses unused.
                    match handle.check_access(false).await {
                        Ok(Ok(_)) => Outcome::Idle,
                        Ok(Err(e)) => failed(&mailbox, &e, &metrics, &events),
                        Err(e) => call_failed(&mailbox, &e, &metrics, &events),
                    }
                }
                Ok(Err(e)) => failed(&mailbox, &e, &metrics, &events),
                Err(e) => call_failed(&mailbox, &e, &metrics, &events),
            };
            tracing::debug!(mailbox, ?outcome, "sync pass ended");
            outcome
        })
    }
}

/// A pass that ran: done, unless a folder broke off for a reason worth retrying sooner.
fn outcome_of_report(report: &SyncReport) -> Outcome {
    let retry = report
        .folders
        .iter()
        .filter_map(|f| f.error.as_ref())
        .map(classify)
        .find(|o| matches!(o, Outcome::Network | Outcome::Throttled { .. }));
    retry.unwrap_or(Outcome::Done)
}

fn failed(mailbox: &str, e: &MailboxError, metrics: &Metrics, events: &Events) -> Outcome {
    let outcome = classify(e);
    metrics.sync_failed(failure_kind(&e.kind));
    if matches!(e.kind, ErrorKind::ReauthorizationNeeded(_)) {
        events.emit(Event::reauthorization_needed(mailbox, &e.message));
    }
    if !matches!(e.kind, ErrorKind::NotLinked) {
        events.emit(Event::sync_failed(
            mailbox,
            failure_kind(&e.kind),
            &e.message,
        ));
    }
    outcome
}

/// The call itself failed (a trap, the time budget): retried with backoff like a network error.
fn call_failed(mailbox: &str, e: &CallError, metrics: &Metrics, events: &Events) -> Outcome {
    tracing::warn!(mailbox, error = %e, "sync call failed");
    metrics.sync_failed("call");
    events.emit(Event::sync_call_failed(mailbox, &e.to_string()));
    Outcome::Network
}

/// The scheduler's class of a plugin error.
pub fn classify(e: &MailboxError) -> Outcome {
    match &e.kind {
        ErrorKind::NotLinked
        | ErrorKind::ReauthorizationNeeded(_)
        | ErrorKind::SettingsChanged
        | ErrorKind::LinkingDisabled
        | ErrorKind::ProviderNotEnabled(_) => Outcome::Stop,
        ErrorKind::NothingMapped => Outcome::Idle,
        ErrorKind::ProviderUnavailable(r) if r.status == 429 => Outcome::Throttled {
            retry_after: r.retry_after_seconds.map(|s| Duration::from_secs(s.into())),
        },
        ErrorKind::ImapThrottled(_) => Outcome::Throttled { retry_after: None },
        _ => Outcome::Network,
    }
}

/// A short name for a failure's kind, for metrics and events.
pub fn failure_kind(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ReauthorizationNeeded(_) => "reauthorization-needed",
        ErrorKind::ProviderUnavailable(_) | ErrorKind::ImapThrottled(_) => "throttled",
        ErrorKind::ImapUnreachable(_) | ErrorKind::Network(_) => "network",
        ErrorKind::ImapTlsFailed(_) => "tls",
        ErrorKind::ImapProtocol(_) => "protocol",
        ErrorKind::InboxFailed(_) | ErrorKind::Storage(_) => "storage",
        ErrorKind::NotLinked | ErrorKind::NothingMapped => "not-ready",
        ErrorKind::FolderMissing(_) | ErrorKind::MappingInvalid(_) => "mapping",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailsync_sandbox::bindings::mailbox::{ProviderSaid, RetryLater, UserMessage};

    fn error(kind: ErrorKind) -> MailboxError {
        MailboxError {
            kind,
            message: UserMessage {
                key: "k".into(),
                params: Vec::new(),
                en: String::new(),
                nl: String::new(),
            },
        }
    }

    #[test]
    fn each_failure_is_retried_as_its_class_says() {
        let retry = |status, after: Option<u32>| {
            ErrorKind::ProviderUnavailable(RetryLater {
                status,
                retry_after_seconds: after,
            })
        };
        let secs = |s| Some(Duration::from_secs(s));
        let table = [
            // What only a person can fix: not retried until woken.
            (ErrorKind::NotLinked, Outcome::Stop),
            (
                ErrorKind::ReauthorizationNeeded(ProviderSaid {
                    code: "invalid_grant".into(),
                    description: None,
                }),
                Outcome::Stop,
            ),
            (ErrorKind::SettingsChanged, Outcome::Stop),
            (ErrorKind::LinkingDisabled, Outcome::Stop),
            (
                ErrorKind::ProviderNotEnabled("google".into()),
                Outcome::Stop,
            ),
            // Nothing to sync: the daily pass that keeps the authorisation in use.
            (ErrorKind::NothingMapped, Outcome::Idle),
            // The provider asked to slow down, with or without saying how long.
            (
                retry(429, Some(120)),
                Outcome::Throttled {
                    retry_after: secs(120),
                },
            ),
            (retry(429, None), Outcome::Throttled { retry_after: None }),
            (
                ErrorKind::ImapThrottled("[THROTTLED]".into()),
                Outcome::Throttled { retry_after: None },
            ),
            // A provider's 5xx, and the transport's failures: the network backoff.
            (retry(503, Some(60)), Outcome::Network),
            (ErrorKind::Network("reset".into()), Outcome::Network),
            (
                ErrorKind::ImapUnreachable("refused".into()),
                Outcome::Network,
            ),
            (ErrorKind::InboxFailed("full".into()), Outcome::Network),
        ];
        for (kind, expected) in table {
            assert_eq!(classify(&error(kind.clone())), expected, "{kind:?}");
        }
    }
}
