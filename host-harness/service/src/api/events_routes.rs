//! Events over HTTP: a page of stored events after an id (`GET /api/v1/events?after=`), and a
//! server-sent event stream read from the outbox after `Last-Event-ID` (or `?after=`), so a
//! stream that reconnects with the last id it saw misses nothing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use crate::context::ServiceContext;
use crate::http_errors::ApiError;
use crate::stream_slots::StreamSlot;
use mailsync_sandbox::event_store::{DeadLetter, StoredEvent};

#[derive(Deserialize)]
pub struct AfterQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

pub async fn list(
    State(ctx): State<Arc<ServiceContext>>,
    caller: Caller,
    Query(q): Query<AfterQuery>,
) -> Result<Json<Vec<StoredEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    // A panel session reads its own mailbox's events only: the others never leave the store.
    let only = caller.mailbox_filter();
    let events = ctx
        .events
        .after(only.as_deref(), q.after.unwrap_or(0), limit)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(events))
}

#[derive(Deserialize)]
pub struct LimitQuery {
    limit: Option<u32>,
}

/// One webhook's dead letters, as `GET /api/v1/webhooks/{index}/dead-letters` shows them.
#[derive(Serialize)]
pub struct DeadLettersView {
    /// Its place in the settings (`[[service.webhooks]]`, from 0), as the metrics name it.
    webhook: usize,
    /// Its address, without credentials.
    url: String,
    /// Newest first.
    dead_letters: Vec<DeadLetter>,
}

/// The events a webhook's receiver never took, set aside after their attempts (the platform's
/// token only: they hold every mailbox's events).
pub async fn dead_letters(
    State(ctx): State<Arc<ServiceContext>>,
    caller: Caller,
    Path(index): Path<usize>,
    Query(q): Query<LimitQuery>,
) -> Result<Json<DeadLettersView>, ApiError> {
    caller.must_be_admin()?;
    let webhook = ctx
        .config
        .webhooks
        .get(index)
        .ok_or_else(|| ApiError::BadRequest(format!("no webhook {index} in the settings")))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let dead_letters = ctx
        .events
        .dead_letters(webhook.url.as_str(), limit)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(DeadLettersView {
        webhook: index,
        url: crate::webhooks::shown(&webhook.url).to_string(),
        dead_letters,
    }))
}

pub async fn stream(
    State(ctx): State<Arc<ServiceContext>>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<AfterQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let asked = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .or(q.after);
    // Without a starting point: what is raised from now on.
    let start = match asked {
        Some(id) => id,
        None => ctx.events.latest_id().await.map_err(ApiError::from)?,
    };
    let session = match &caller {
        Caller::Panel(s) => Some(s.key.clone()),
        Caller::Platform => None,
    };
    let slot = ctx.streams.take(session.as_deref()).ok_or(ApiError::Busy(
        "too many event streams are open; close one, or try again shortly",
        STREAM_RETRY_SECS,
    ))?;
    let follow = Follow {
        ctx,
        only: caller.mailbox_filter(),
        last_sent: start,
        backlog: std::collections::VecDeque::new(),
        session,
        session_checked: tokio::time::Instant::now(),
        _slot: slot,
    };
    let events = futures_util::stream::unfold(follow, |mut f| async move {
        let event = f.next().await?;
        let sse = SseEvent::default()
            .id(event.id.to_string())
            .event(event.kind.clone())
            .json_data(&event)
            .unwrap_or_else(|_| SseEvent::default().comment("unencodable"));
        Some((Ok(sse), f))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// How soon a client refused a stream should try again.
const STREAM_RETRY_SECS: u64 = 10;
/// How often a panel session's stream checks that the session is still live.
const SESSION_RECHECK: Duration = Duration::from_secs(15);

/// One stream's place in the outbox.
struct Follow {
    ctx: Arc<ServiceContext>,
    /// The one mailbox whose events a panel session sees.
    only: Option<String>,
    last_sent: i64,
    backlog: std::collections::VecDeque<StoredEvent>,
    /// The panel session the stream is for (its key): the stream ends with it.
    session: Option<String>,
    session_checked: tokio::time::Instant,
    _slot: StreamSlot,
}

impl Follow {
    async fn next(&mut self) -> Option<StoredEvent> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last_sent = event.id;
                return Some(event);
            }
            if !self.session_live().await {
                return None;
            }
            let page = self.ctx.events.next_after(
                self.only.as_deref(),
                self.last_sent,
                500,
                Duration::from_secs(5),
            );
            // The stream ends with the service, so a shutdown does not wait for its client.
            self.backlog = tokio::select! {
                page = page => page.ok()?.into(),
                _ = self.ctx.shutdown.cancelled() => return None,
            };
        }
    }
}

impl Follow {
    /// Whether the stream's session (if any) is still live: it expires, or signs out, and its
    /// stream ends within `SESSION_RECHECK`.
    async fn session_live(&mut self) -> bool {
        let Some(key) = &self.session else {
            return true;
        };
        if self.session_checked.elapsed() < SESSION_RECHECK {
            return true;
        }
        self.session_checked = tokio::time::Instant::now();
        self.ctx.sessions.by_key(key.clone()).await.is_some()
    }
}
