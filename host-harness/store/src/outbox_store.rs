//! The mailbox's outbox, as the store keeps it: every send or action the platform asks for is an
//! entry, stored (its draft sealed) under the platform's idempotency key before anything goes
//! out. States move queued → sending → sent | applied | failed; a temporary failure goes back.

/// What an entry does: send a message, or act on one (seen, flagged, a move).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxKind {
    Send,
    Action,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Send => "send",
            OutboxKind::Action => "action",
        }
    }

    /// The kind a stored name stands for; an unknown name reads as an action, whose draft a
    /// send would not read.
    pub fn parse(name: &str) -> Self {
        match name {
            "send" => OutboxKind::Send,
            _ => OutboxKind::Action,
        }
    }
}

/// Where an entry is on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Waiting for its turn (or, after a temporary failure, for `next_attempt_ms`).
    Queued,
    /// An attempt began and has not ended; after a crash the next attempt first looks for a
    /// copy the server accepted.
    Sending,
    /// The submission server accepted it (or a copy of an earlier attempt was found).
    Sent,
    /// The action was made in the mailbox (or the mailbox already had it so, or had changed
    /// the same thing since, and won: `outcome` says which).
    Applied,
    /// It will not be sent; `outcome` says why.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Applied => "applied",
            OutboxState::Failed => "failed",
        }
    }

    /// The state a stored name stands for; an unknown name reads as failed, never as work.
    pub fn parse(name: &str) -> Self {
        match name {
            "queued" => OutboxState::Queued,
            "sending" => OutboxState::Sending,
            "sent" => OutboxState::Sent,
            "applied" => OutboxState::Applied,
            _ => OutboxState::Failed,
        }
    }

    /// Whether the entry still has work to do.
    pub fn is_open(self) -> bool {
        matches!(self, OutboxState::Queued | OutboxState::Sending)
    }
}

/// One entry, without its draft (which stays sealed in the store).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxEntry {
    pub id: String,
    pub mailbox: String,
    pub kind: OutboxKind,
    pub idempotency_key: String,
    /// A send's Message-ID, fixed before the first attempt; an action's, the message acted on
    /// (without angle brackets).
    pub message_id: String,
    /// The SHA-256 of the request the entry was made from: the same key with another request
    /// is refused.
    #[serde(skip)]
    pub digest: String,
    pub state: OutboxState,
    pub attempts: u32,
    /// When the next attempt may start (ms since the epoch).
    #[serde(skip)]
    pub next_attempt_ms: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The receipt once sent; the error once failed, or the last one while it is retried.
    pub outcome: Option<serde_json::Value>,
}

/// An entry to add.
#[derive(Debug, Clone)]
pub struct NewOutboxEntry {
    pub id: String,
    pub mailbox: String,
    pub kind: OutboxKind,
    pub idempotency_key: String,
    pub message_id: String,
    pub digest: String,
    pub now_ms: i64,
}

/// A change of an entry's state, with the event the CRM hears of it, if any, written in the
/// same transaction.
#[derive(Debug, Clone)]
pub struct OutboxUpdate {
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub outcome: Option<serde_json::Value>,
    pub now_ms: i64,
    pub event: Option<(&'static str, serde_json::Value)>,
}

/// An attempt that never ended (its node died during it) is tried again this long after it
/// began: by then a provider that keeps the copy in Sent shows it, and the next attempt finds it
/// there rather than sending again.
pub const CRASHED_ATTEMPT_WAIT_MS: i64 = 5_000;

/// A finished entry (sent or failed) is kept this long, 7 days, so its idempotency key still
/// answers with it; its draft goes as soon as it is finished.
pub const KEPT_FINISHED_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// The attempts an entry gets before a temporary failure fails it for good.
pub const MAX_ATTEMPTS: u32 = 10;

/// How long to wait before attempt `attempts + 1`, after `attempts` failed for now: 30 s,
/// doubling, at most an hour, spread by `jitter` (0.0 to 1.0) over up to a quarter more.
pub fn retry_delay_ms(attempts: u32, jitter: f64) -> i64 {
    const FIRST_MS: i64 = 30_000;
    const CEILING_MS: i64 = 60 * 60 * 1000;
    let doublings = attempts.saturating_sub(1).min(20);
    let base = FIRST_MS.saturating_mul(1 << doublings).min(CEILING_MS);
    base + (base as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as i64
}

/// The prefix of the name an entry's sealed draft is bound to (beside its mailbox), so a
/// sealed draft cannot be passed off as a plugin's value, or the reverse.
pub const SEALED_DRAFT_PREFIX: &str = "\0outbox/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_thirty_seconds_then_double_up_to_an_hour() {
        assert_eq!(retry_delay_ms(1, 0.0), 30_000);
        assert_eq!(retry_delay_ms(2, 0.0), 60_000);
        assert_eq!(retry_delay_ms(4, 0.0), 240_000);
        assert_eq!(retry_delay_ms(9, 0.0), 3_600_000);
        assert_eq!(retry_delay_ms(u32::MAX, 0.0), 3_600_000);
        assert_eq!(retry_delay_ms(1, 1.0), 37_500);
        assert_eq!(retry_delay_ms(1, 7.0), 37_500);
    }

    #[test]
    fn states_read_back_and_an_unknown_one_is_no_work() {
        for state in [
            OutboxState::Queued,
            OutboxState::Sending,
            OutboxState::Sent,
            OutboxState::Applied,
            OutboxState::Failed,
        ] {
            assert_eq!(OutboxState::parse(state.as_str()), state);
        }
        assert_eq!(OutboxState::parse("resend"), OutboxState::Failed);
        assert!(!OutboxState::parse("resend").is_open());
        assert!(OutboxState::Sending.is_open());
    }
}
