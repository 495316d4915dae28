//! Events for the CRM (`mailbox.linked`, `sync.failed`, ...; the inbox adds `message.*` in its
//! own transactions): each is stored in the outbox, then listeners (the event stream, the
//! webhooks) are told to read what came after the last id they saw.

use std::sync::Arc;

use tokio::sync::Notify;

use mailsync_sandbox::bindings::mailbox::UserMessage;
use mailsync_sandbox::db::{Database, StoreResult};
use mailsync_sandbox::event_store::{DeadLetter, StoredEvent};

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
    written: Arc<Notify>,
}

impl Events {
    /// Events over `db`'s outbox; `written` is told of every append (the inbox's too).
    pub fn new(db: Database, written: Arc<Notify>) -> Self {
        Events { db, written }
    }

    /// Stores `event` in the outbox, then tells the listeners, without waiting for it.
    pub fn emit(&self, event: Event) {
        let this = self.clone();
        tokio::spawn(async move { this.record(event).await });
    }

    /// Stores `event` in the outbox and tells the listeners, before it returns: an API answer
    /// that follows it can count on the event being there.
    pub async fn record(&self, event: Event) {
        let stored = self
            .db
            .run_blocking(move |db| {
                db.events()
                    .event_append(event.kind, &event.mailbox, &event.data)
            })
            .await;
        match stored {
            Ok(_) => self.written.notify_waiters(),
            Err(e) => tracing::error!(error = %e, "an event could not be stored"),
        }
    }

    /// Stored events after id `after`, oldest first; of `only` that mailbox when given.
    pub async fn after(
        &self,
        only: Option<&str>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let only = only.map(str::to_string);
        self.db
            .run_blocking(move |db| db.events().events_of(only.as_deref(), after, limit))
            .await
    }

    pub async fn webhook_cursor(&self, webhook: &str) -> StoreResult<Option<i64>> {
        let webhook = webhook.to_string();
        self.db
            .run_blocking(move |db| db.events().webhook_cursor(&webhook))
            .await
    }

    pub async fn set_webhook_cursor(&self, webhook: &str, last_id: i64) -> StoreResult<()> {
        let webhook = webhook.to_string();
        self.db
            .run_blocking(move |db| db.events().set_webhook_cursor(&webhook, last_id))
            .await
    }

    /// Marks `webhook`'s cursor seen: it is in use, though it did not move.
    pub async fn touch_webhook_cursor(&self, webhook: &str) -> StoreResult<()> {
        let webhook = webhook.to_string();
        self.db
            .run_blocking(move |db| db.events().touch_webhook_cursor(&webhook))
            .await
    }

    /// Sets `letter` aside for `webhook`, past its cursor.
    pub async fn set_aside(&self, webhook: &str, letter: DeadLetter) -> StoreResult<()> {
        let webhook = webhook.to_string();
        self.db
            .run_blocking(move |db| db.events().webhook_dead_letter(&webhook, &letter))
            .await
    }

    /// `webhook`'s dead letters, newest first.
    pub async fn dead_letters(&self, webhook: &str, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        let webhook = webhook.to_string();
        self.db
            .run_blocking(move |db| db.events().webhook_dead_letters(&webhook, limit))
            .await
    }

    /// The newest stored event's id (0 with none).
    pub async fn latest_id(&self) -> StoreResult<i64> {
        self.db
            .run_blocking(|db| db.events().events_latest_id())
            .await
    }

    /// The events after `after`, waiting (up to `patience`) for one when there is none yet.
    /// Of `only` that mailbox when given.
    pub async fn next_after(
        &self,
        only: Option<&str>,
        after: i64,
        limit: u32,
        patience: std::time::Duration,
    ) -> StoreResult<Vec<StoredEvent>> {
        let written = self.written.notified();
        tokio::pin!(written);
        written.as_mut().enable();
        let page = self.after(only, after, limit).await?;
        if !page.is_empty() {
            return Ok(page);
        }
        let _ = tokio::time::timeout(patience, written).await;
        self.after(only, after, limit).await
    }
}
