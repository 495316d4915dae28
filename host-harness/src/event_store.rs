//! The events the service raises for the CRM, as the outbox keeps them: every event is
//! appended there first, with an increasing id, so delivering it (webhooks, the event stream)
//! can resume after a restart and a reader can ask for what came after the last id it saw.

/// Events kept; older ones are pruned as new ones arrive.
pub const KEPT_EVENTS: i64 = 100_000;

/// One stored event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub mailbox: String,
    /// When it was raised (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The event's own data (JSON).
    pub data: serde_json::Value,
}
