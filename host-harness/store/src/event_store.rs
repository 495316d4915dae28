//! The events the service raises for the CRM, as the outbox keeps them: every event is
//! appended there first, with an increasing id, so delivering it (webhooks, the event stream)
//! can resume after a restart and a reader can ask for what came after the last id it saw.

/// Events kept; older ones are pruned as new ones arrive, but never one a webhook has not
/// acknowledged yet (its cursor), up to `MAX_KEPT_EVENTS`.
pub const KEPT_EVENTS: i64 = 100_000;
/// The most events kept for a webhook that does not take them: past it the oldest go even
/// unread, and an `events.dropped` event says which (`after`, `through`), so the receiver and
/// the logs learn of the gap.
pub const MAX_KEPT_EVENTS: i64 = 1_000_000;
/// A webhook cursor that no node has moved or tried to move for this long (7 days) belongs
/// to a webhook taken out of every node's settings: it no longer holds events back, and goes.
pub const FORGOTTEN_CURSOR_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// The kind of the event that tells of events dropped unread.
pub const DROPPED_KIND: &str = "events.dropped";

/// Where the outbox is cut when its newest id is `last` and the slowest webhook's cursor is
/// `slowest`: the id up to which events go, and the unread ones dropped, if any (`after`,
/// `through`).
pub fn prune_point(last: i64, slowest: Option<i64>) -> (i64, Option<(i64, i64)>) {
    let kept = last - KEPT_EVENTS;
    let bound = last - MAX_KEPT_EVENTS;
    match slowest {
        Some(cursor) if cursor < kept => {
            let cut = cursor.max(bound);
            (cut, (cut > cursor).then_some((cursor, cut)))
        }
        _ => (kept, None),
    }
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub mailbox: String,
    /// When it was raised (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The event's own data (JSON).
    pub data: serde_json::Value,
}

/// An event a webhook's receiver never took: after its attempts it is set aside, kept with why,
/// and the webhook goes on with the next event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeadLetter {
    pub event: StoredEvent,
    /// The failed attempts before it was set aside.
    pub attempts: u64,
    /// What the last attempt got: the receiver's status, or why it could not be reached.
    pub error: String,
    /// When it was set aside (RFC 3339, UTC); empty before it is stored.
    pub set_aside_at: String,
}

impl DeadLetter {
    /// A stored dead letter read back from its columns (the event as JSON, the attempts, the
    /// error, when); one whose event no longer reads is left out.
    pub(crate) fn read_back(
        (event, attempts, error, at): (String, i64, String, String),
    ) -> Option<Self> {
        Some(DeadLetter {
            event: serde_json::from_str(&event).ok()?,
            attempts: attempts.max(0) as u64,
            error,
            set_aside_at: at,
        })
    }
}

/// The dead letters kept per webhook: the newest this many.
pub const MAX_DEAD_LETTERS: i64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_is_cut_behind_the_slowest_webhook_and_past_the_bound_says_so() {
        let last = 2_000_000;
        // No webhook, or all caught up: the newest `KEPT_EVENTS` stay.
        assert_eq!(prune_point(last, None), (last - KEPT_EVENTS, None));
        assert_eq!(
            prune_point(last, Some(last - 5)),
            (last - KEPT_EVENTS, None)
        );
        // A webhook behind: nothing it has not read goes.
        let behind = last - 500_000;
        assert_eq!(prune_point(last, Some(behind)), (behind, None));
        // Past the bound: the oldest go unread, and which is told.
        let far = last - 1_500_000;
        let cut = last - MAX_KEPT_EVENTS;
        assert_eq!(prune_point(last, Some(far)), (cut, Some((far, cut))));
    }
}
