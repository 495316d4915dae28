//! Events for the CRM (`mailbox.linked`, `sync.failed`, ...): each is stored in the outbox
//! first, then announced to whoever listens now (the server-sent event stream). A listener that
//! falls behind, or reconnects, reads the rest from the outbox by the last id it saw.

use tokio::sync::broadcast;

use crate::bindings::panel::UserMessage;
use crate::db::Database;
use crate::event_store::StoredEvent;

/// An event before it is stored.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    pub mailbox: String,
    pub data: serde_json::Value,
}

fn message_json(message: &UserMessage) -> serde_json::Value {
    serde_json::json!({ "key": message.key, "en": message.en, "nl": message.nl })
}

impl Event {
    pub fn linked(mailbox: &str, address: Option<&str>) -> Self {
        let data = serde_json::json!({ "address": address });
        Event::new("mailbox.linked", mailbox, data)
    }

    pub fn unlinked(mailbox: &str) -> Self {
        Event::new("mailbox.unlinked", mailbox, serde_json::json!({}))
    }

    pub fn reauthorization_needed(mailbox: &str, why: &UserMessage) -> Self {
        let data = serde_json::json!({ "message": message_json(why) });
        Event::new("mailbox.reauthorization-needed", mailbox, data)
    }

    pub fn sync_failed(mailbox: &str, kind: &str, why: &UserMessage) -> Self {
        let data = serde_json::json!({ "kind": kind, "message": message_json(why) });
        Event::new("sync.failed", mailbox, data)
    }

    pub fn sync_call_failed(mailbox: &str, detail: &str) -> Self {
        let data = serde_json::json!({ "kind": "call", "detail": detail });
        Event::new("sync.failed", mailbox, data)
    }

    fn new(kind: &'static str, mailbox: &str, data: serde_json::Value) -> Self {
        Event {
            kind,
            mailbox: mailbox.to_string(),
            data,
        }
    }
}

/// Raises events and lets listeners follow them; cheap to clone.
#[derive(Clone)]
pub struct Events {
    db: Database,
    announce: broadcast::Sender<StoredEvent>,
}

impl Events {
    pub fn new(db: Database) -> Self {
        Events {
            db,
            announce: broadcast::channel(1024).0,
        }
    }

    /// Stores `event` in the outbox (off the async workers), then announces it.
    pub fn emit(&self, event: Event) {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.store_and_announce(event));
    }

    fn store_and_announce(&self, event: Event) {
        let body = event.data.to_string();
        match self.db.event_append(event.kind, &event.mailbox, &body) {
            Ok(id) => {
                // Read back, so listeners get exactly what the outbox holds.
                if let Ok(stored) = self.db.events_after(id - 1, 1)
                    && let Some(stored) = stored.into_iter().next()
                {
                    let _ = self.announce.send(stored);
                }
            }
            Err(e) => {
                tracing::error!(kind = event.kind, error = %e, "an event could not be stored")
            }
        }
    }

    /// Events announced from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StoredEvent> {
        self.announce.subscribe()
    }

    /// Stored events after id `after`, oldest first.
    pub async fn after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, String> {
        self.db
            .run_blocking(move |db| db.events_after(after, limit))
            .await
    }
}
