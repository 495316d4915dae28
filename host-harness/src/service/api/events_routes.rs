//! Events over HTTP: a page of stored events after an id (`GET /api/v1/events?after=`), and a
//! server-sent event stream that starts after `Last-Event-ID` (or `?after=`) and from then on
//! never skips one: what it missed while lagging it reads again from the outbox.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::errors::ApiError;
use crate::event_store::StoredEvent;
use crate::service::ServiceContext;

#[derive(Deserialize)]
pub struct AfterQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

pub async fn list(
    State(ctx): State<Arc<ServiceContext>>,
    Query(q): Query<AfterQuery>,
) -> Result<Json<Vec<StoredEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let events = ctx.events.after(q.after.unwrap_or(0), limit).await;
    events.map(Json).map_err(ApiError::Internal)
}

pub async fn stream(
    State(ctx): State<Arc<ServiceContext>>,
    headers: HeaderMap,
    Query(q): Query<AfterQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .or(q.after);
    // Subscribe before reading the backlog, so nothing raised in between is missed.
    let announced = ctx.events.subscribe();
    let state = Follow {
        ctx,
        announced,
        last_sent: last_seen,
        backlog: Vec::new(),
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        let event = s.next().await?;
        let sse = SseEvent::default()
            .id(event.id.to_string())
            .event(event.kind.clone())
            .json_data(&event)
            .unwrap_or_else(|_| SseEvent::default().comment("unencodable"));
        Some((Ok(sse), s))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

struct Follow {
    ctx: Arc<ServiceContext>,
    announced: tokio::sync::broadcast::Receiver<StoredEvent>,
    /// The last id sent; `None` means: only what is raised from now on.
    last_sent: Option<i64>,
    backlog: Vec<StoredEvent>,
}

impl Follow {
    async fn next(&mut self) -> Option<StoredEvent> {
        loop {
            if self.backlog.is_empty()
                && let Some(after) = self.last_sent
            {
                let mut page = self.ctx.events.after(after, 500).await.ok()?;
                page.reverse();
                self.backlog = page;
            }
            if let Some(event) = self.backlog.pop() {
                self.last_sent = Some(event.id);
                return Some(event);
            }
            match self.announced.recv().await {
                Ok(event) if self.last_sent.is_none_or(|last| event.id > last) => {
                    self.last_sent = Some(event.id);
                    return Some(event);
                }
                Ok(_) => {}
                // Fell behind: the outbox has what was missed since the last one sent (a
                // stream that has sent nothing yet, and was asked for nothing old, goes on).
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
