//! Webhooks: every event in the outbox is POSTed to each webhook the settings name, in order,
//! at least once, signed with an HMAC-SHA256 over the timestamp and body. Each webhook has a
//! cursor in the database (the last id it acknowledged with a 2xx), so a restart or a receiver
//! that is down loses nothing: the same event is retried with backoff until it is taken.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use mailsync_sandbox::event_store::{DeadLetter, StoredEvent};
use mailsync_sandbox::settings::SecretText;

use super::events::Events;

/// One webhook of the `[[service.webhooks]]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: url::Url,
    /// The key of the `X-Mailsync-Signature` HMAC (at least 16 characters).
    pub secret: SecretText,
    /// Failed attempts after which an event is set aside as a dead letter and the next one
    /// goes out [default: 20, about an hour of retries; 0: never, the event waits until taken].
    #[serde(default = "default_dead_letter_after")]
    pub dead_letter_after: u32,
}

fn default_dead_letter_after() -> u32 {
    DEFAULT_DEAD_LETTER_AFTER
}

/// Failed attempts before an event is set aside: 0.5 s doubling to 5 min makes this about an hour.
pub const DEFAULT_DEAD_LETTER_AFTER: u32 = 20;

/// The first wait after a failed delivery, doubled each time up to `MAX_RETRY_WAIT`.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(500);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5 * 60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a delivering node marks a quiet webhook's cursor in use (see
/// `event_store::FORGOTTEN_CURSOR_MS`).
const CURSOR_SEEN_EVERY: Duration = Duration::from_secs(60 * 60);

/// Starts one delivery task per webhook; they end when `shutdown` is cancelled. A webhook seen
/// for the first time gets the events raised from now on: its cursor is set before this returns.
pub async fn start(
    webhooks: &[WebhookSettings],
    events: &Events,
    metrics: std::sync::Arc<super::metrics::Metrics>,
    turns: std::sync::Arc<dyn mailsync_sandbox::turns::MailboxTurns>,
    tls: std::sync::Arc<rustls::ClientConfig>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    for (index, webhook) in webhooks.iter().enumerate() {
        if webhook.secret.expose().len() < 16 {
            return Err(format!(
                "the secret of webhook {} is shorter than 16 characters",
                shown(&webhook.url)
            ));
        }
        let delivery = Delivery {
            webhook: webhook.clone(),
            client: client.clone(),
            events: events.clone(),
            stop: shutdown.clone(),
            turns: turns.clone(),
            metrics: metrics.clone(),
            index,
        };
        let key = webhook.url.to_string();
        let cursor = delivery.cursor(&key).await.ok_or_else(|| {
            format!(
                "the cursor of webhook {} cannot be read",
                shown(&webhook.url)
            )
        })?;
        tasks.spawn(delivery.run(cursor));
    }
    Ok(())
}

struct Delivery {
    webhook: WebhookSettings,
    client: reqwest::Client,
    events: Events,
    stop: CancellationToken,
    /// The webhook's turn: one node of a cluster delivers it at a time.
    turns: std::sync::Arc<dyn mailsync_sandbox::turns::MailboxTurns>,
    metrics: std::sync::Arc<super::metrics::Metrics>,
    /// Its place in the settings: how metrics name it.
    index: usize,
}

impl Delivery {
    async fn run(self, mut cursor: i64) {
        let key = self.webhook.url.to_string();
        let name = shown(&self.webhook.url);
        // Every node waits for the webhook's turn; the one that has it delivers, from the
        // shared cursor, so each event goes out once across the cluster. A node that dies, or
        // cannot renew the turn, lets it go, and another goes on where the cursor stands.
        let turn_name = format!("webhook:{key}");
        loop {
            let turn = tokio::select! {
                turn = self.turns.acquire(&turn_name) => match turn {
                    Ok(turn) => turn,
                    Err(e) => {
                        tracing::error!(webhook = %name, error = %e, "the webhook's turn is unavailable");
                        return;
                    }
                },
                _ = self.stop.cancelled() => return,
            };
            if let Some(shared) = self.cursor(&key).await {
                cursor = cursor.max(shared);
            }
            let delivering = self.deliver_from(&key, &name, &mut cursor);
            if mailsync_sandbox::turns::while_held(&turn, delivering)
                .await
                .is_some()
            {
                return;
            }
            tracing::warn!(webhook = %name, "the webhook's turn was lost; this node waits for it again");
        }
    }

    /// Delivers the events after `cursor`, in order, until the service stops.
    async fn deliver_from(&self, key: &str, name: &url::Url, cursor: &mut i64) {
        let mut seen = std::time::Instant::now();
        while !self.stop.is_cancelled() {
            // Quiet for long, the cursor does not move: it is marked in use now and then, so
            // it is never taken for a webhook no node delivers.
            if seen.elapsed() > CURSOR_SEEN_EVERY {
                seen = std::time::Instant::now();
                if let Err(e) = self.events.touch_webhook_cursor(key).await {
                    tracing::warn!(webhook = %name, error = %e, "the webhook's cursor could not be marked in use");
                }
            }
            let page = tokio::select! {
                page = self.events.next_after(None, *cursor, 100, Duration::from_secs(30)) => page,
                _ = self.stop.cancelled() => return,
            };
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(webhook = %name, error = %e, "the outbox cannot be read");
                    self.pause(MAX_RETRY_WAIT).await;
                    continue;
                }
            };
            for event in page {
                if !self.deliver(&event).await {
                    return;
                }
                if event.kind == mailsync_sandbox::event_store::DROPPED_KIND {
                    let span = |k: &str| event.data[k].as_i64().unwrap_or_default();
                    let (after, through) = (span("after"), span("through"));
                    tracing::warn!(webhook = %name, after, through, "events were dropped before this webhook took them");
                    self.metrics
                        .webhook_events_dropped(self.index, (through - after).max(0) as u64);
                }
                *cursor = event.id;
                if let Err(e) = self.events.set_webhook_cursor(key, *cursor).await {
                    tracing::warn!(webhook = %name, error = %e, "the webhook's cursor was not saved");
                }
            }
        }
    }

    /// The last id delivered; a webhook seen for the first time starts after the newest event.
    async fn cursor(&self, key: &str) -> Option<i64> {
        match self.events.webhook_cursor(key).await {
            Ok(Some(id)) => {
                // Seen again (a node starts delivering it): in use.
                if let Err(e) = self.events.touch_webhook_cursor(key).await {
                    tracing::warn!(webhook = %shown(&self.webhook.url), error = %e, "the webhook's cursor could not be marked in use");
                }
                Some(id)
            }
            Ok(None) => {
                let latest = self.events.latest_id().await.ok()?;
                self.events.set_webhook_cursor(key, latest).await.ok()?;
                Some(latest)
            }
            Err(e) => {
                tracing::error!(webhook = %shown(&self.webhook.url), error = %e, "the webhook's cursor cannot be read");
                None
            }
        }
    }

    /// Posts `event` until the receiver takes it, or sets it aside as a dead letter after
    /// `dead_letter_after` failed attempts; false when the service stops first.
    async fn deliver(&self, event: &StoredEvent) -> bool {
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(_) => return true,
        };
        let mut wait = FIRST_RETRY_WAIT;
        let mut failed = 0u64;
        loop {
            let error = match self.post(event, &body).await {
                None => {
                    self.metrics.webhook_attempts(self.index, 0);
                    return true;
                }
                Some(error) => error,
            };
            // A stuck event shows: its failed attempts, in the metrics and every tenth in the log.
            // Its cursor is still in use, though it does not move.
            failed += 1;
            let key = self.webhook.url.to_string();
            if let Err(e) = self.events.touch_webhook_cursor(&key).await {
                tracing::warn!(webhook = %shown(&self.webhook.url), error = %e, "the webhook's cursor could not be marked in use");
            }
            self.metrics.webhook_attempts(self.index, failed);
            if failed.is_multiple_of(10) {
                tracing::warn!(webhook = %shown(&self.webhook.url), event = event.id, attempts = failed, "an event keeps failing; later events wait behind it");
            }
            let limit = u64::from(self.webhook.dead_letter_after);
            if limit > 0 && failed >= limit && self.set_aside(event, failed, error).await {
                return true;
            }
            if !self.pause(wait.mul_f64(0.5 + 0.5 * fastrand::f64())).await {
                return false;
            }
            wait = (wait * 2).min(MAX_RETRY_WAIT);
        }
    }

    /// Posts `event` once: `None` when the receiver took it, else what went wrong.
    async fn post(&self, event: &StoredEvent, body: &[u8]) -> Option<String> {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let signature = sign(self.webhook.secret.expose(), timestamp, body);
        let sent = self
            .client
            .post(self.webhook.url.clone())
            .header("content-type", "application/json")
            .header("x-mailsync-event-id", event.id.to_string())
            .header("x-mailsync-event", &event.kind)
            .header(
                "x-mailsync-signature",
                format!("t={timestamp},v1={signature}"),
            )
            .body(body.to_vec())
            .send()
            .await;
        let error = match sent {
            Ok(r) if r.status().is_success() => return None,
            Ok(r) => format!("the receiver answered {}", r.status()),
            // reqwest's error names the URL: shown without its credentials.
            Err(e) => format!("the receiver could not be reached: {}", e.without_url()),
        };
        tracing::info!(webhook = %shown(&self.webhook.url), event = event.id, error = %error, "webhook delivery failed; retrying");
        Some(error)
    }

    /// Sets `event` aside as a dead letter and moves the cursor past it; false when the store
    /// could not (the event is then retried).
    async fn set_aside(&self, event: &StoredEvent, attempts: u64, error: String) -> bool {
        let letter = DeadLetter {
            event: event.clone(),
            attempts,
            error,
            set_aside_at: String::new(),
        };
        let key = self.webhook.url.to_string();
        match self.events.set_aside(&key, letter).await {
            Ok(()) => {
                tracing::warn!(webhook = %shown(&self.webhook.url), event = event.id, attempts, "an event was set aside as a dead letter; the next one goes out");
                self.metrics.webhook_dead_lettered(self.index);
                self.metrics.webhook_attempts(self.index, 0);
                true
            }
            Err(e) => {
                tracing::warn!(webhook = %shown(&self.webhook.url), error = %e, "a dead letter could not be stored; the event is retried");
                false
            }
        }
    }

    /// Waits `wait`; false when the service stops meanwhile.
    async fn pause(&self, wait: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = self.stop.cancelled() => false,
        }
    }
}

/// A webhook's URL as logs and errors show it: without its credentials.
pub(crate) fn shown(url: &url::Url) -> url::Url {
    mailsync_sandbox::redact::url_without_secrets(url.clone())
}

/// The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_hmac_sha256_over_the_timestamp_a_dot_and_the_body_in_hex() {
        // Computed independently: HMAC-SHA256, key "Jefe", message
        // `1700000000.{"id":1,"kind":"message.created"}`, as lowercase hex.
        let body = br#"{"id":1,"kind":"message.created"}"#;
        assert_eq!(
            super::sign("Jefe", 1_700_000_000, body),
            "6dbf9f7598bc7042c993e3c08daa9cd709c1a57469e694a63f1cc28e82aa6087"
        );
        assert_ne!(
            super::sign("Jefe", 1_700_000_001, body),
            super::sign("Jefe", 1_700_000_000, body),
            "the timestamp is signed"
        );
    }
}
