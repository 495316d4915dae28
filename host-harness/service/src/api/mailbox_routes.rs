//! The panel's calls over HTTP, one route each: status, link start and completion, folders,
//! suggestion, mapping, unlink, "sync now", the last sync reports and the CRM's messages. Each
//! translates JSON to one mailbox call and back; the scheduler and events hear what changed.

use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use serde::Deserialize;

use mailsync_sandbox::bindings::folders::FolderMapping;
use mailsync_sandbox::bindings::mailbox::{LinkRequest, LinkState};

use super::auth::Caller;
use super::mailbox_request::MailboxRequest;
use crate::context::ServiceContext;
use crate::events::Event;
use crate::http_errors::ApiError;

type ApiResult = Result<Json<serde_json::Value>, ApiError>;

fn json<T: serde::Serialize>(value: T) -> ApiResult {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub async fn status(r: MailboxRequest) -> ApiResult {
    json(r.answer(r.mailbox.status().await)?)
}

#[derive(Deserialize)]
pub struct LinkBody {
    /// The CRM user who links (the platform names them; a panel session is its own user).
    user: Option<String>,
    provider: String,
    login_hint: Option<String>,
}

impl MailboxRequest {
    /// The CRM user a link call is for: the panel session's own, or the one the platform names.
    fn linking_user(&self, named: Option<String>) -> Result<String, ApiError> {
        match &self.caller {
            Caller::Panel(session) => Ok(session.who.user.clone()),
            Caller::Platform => named
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| ApiError::BadRequest("the request names no user".into())),
        }
    }
}

pub async fn link_start(r: MailboxRequest, Json(body): Json<LinkBody>) -> ApiResult {
    let request = LinkRequest {
        user: r.linking_user(body.user)?,
        provider: body.provider,
        login_hint: body.login_hint,
        redirect_port: r.ctx.redirect_port(),
    };
    let started = r.answer(r.mailbox.link_start(&request).await)?;
    // A panel's attempt is bound to its browser session: only that session's callback may
    // complete it (RFC 6749, 10.12). The platform's attempts it completes itself.
    if let Caller::Panel(session) = &r.caller {
        let state = url::Url::parse(&started.authorization_url)
            .ok()
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "state")
                    .map(|(_, v)| v.into_owned())
            })
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::Internal("the consent URL carries no state".into()))?;
        r.ctx
            .sessions
            .bind_link(&state, session)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    json(started)
}

#[derive(Deserialize)]
pub struct CompleteBody {
    /// The CRM user whose browser brought the provider's redirect (the platform names them).
    user: Option<String>,
    /// The redirect's query, as pairs.
    query: Vec<(String, String)>,
}

/// Completes a link with the query of the provider's redirect, for a platform that receives the
/// redirect itself.
pub async fn link_complete(r: MailboxRequest, Json(body): Json<CompleteBody>) -> ApiResult {
    let user = r.linking_user(body.user)?;
    if let Caller::Panel(session) = &r.caller
        && r.ctx.sessions.started_elsewhere(session, &body.query).await
    {
        return Err(ApiError::Forbidden(
            "this link was started in another browser session",
        ));
    }
    let status = r.answer(r.mailbox.link_complete(&user, &body.query).await)?;
    r.ctx.linked(&r.id, &status).await;
    json(status)
}

pub async fn folders(r: MailboxRequest) -> ApiResult {
    json(r.answer(r.mailbox.list_folders().await)?)
}

pub async fn suggestion(r: MailboxRequest) -> ApiResult {
    json(r.answer(r.mailbox.suggest_mapping().await)?)
}

pub async fn mapping(r: MailboxRequest) -> ApiResult {
    json(r.answer(r.mailbox.mapping().await)?)
}

pub async fn set_mapping(r: MailboxRequest, Json(mapping): Json<FolderMapping>) -> ApiResult {
    let saved = r.answer(r.mailbox.set_mapping(&mapping).await)?;
    // A new mapping is synced at once, not at the next interval, and its inbox watched.
    r.ctx.sync_now(&r.id);
    json(saved)
}

pub async fn unlink(r: MailboxRequest) -> ApiResult {
    let unlinked = r.answer(r.mailbox.unlink().await)?;
    r.ctx.scheduler.forget(&r.id);
    r.ctx.push.forget(&r.id);
    r.ctx.events.record(Event::unlinked(&r.id)).await;
    json(unlinked)
}

/// "Sync now": the scheduler runs a pass at once, or right after the one running.
pub async fn sync_now(r: MailboxRequest) -> StatusCode {
    r.ctx.sync_now(&r.id);
    StatusCode::ACCEPTED
}

#[derive(Deserialize)]
pub struct ReportsQuery {
    limit: Option<u32>,
}

/// The latest sync reports, newest first.
pub async fn reports(r: MailboxRequest, Query(q): Query<ReportsQuery>) -> ApiResult {
    let (id, limit) = (r.id.clone(), q.limit.unwrap_or(10).clamp(1, 100));
    let runs = r
        .ctx
        .host
        .shared()
        .db
        .run_blocking(move |db| db.inbox().sync_runs(&id, limit))
        .await
        .map_err(ApiError::from)?;
    let runs: Vec<serde_json::Value> = runs
        .into_iter()
        .map(|(at, report)| {
            let report: serde_json::Value = serde_json::from_str(&report).unwrap_or_default();
            serde_json::json!({ "at": at, "report": report })
        })
        .collect();
    json(runs)
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    /// Messages delivered before this one (its id): the next page.
    before: Option<i64>,
    limit: Option<u32>,
}

/// The CRM's messages of a mailbox, newest delivery first, a page at a time: each message's
/// columns and first senders (never its record, so a page's memory stays small).
pub async fn messages(r: MailboxRequest, Query(q): Query<MessagesQuery>) -> ApiResult {
    let (id, before) = (r.id.clone(), q.before);
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let page = r
        .ctx
        .host
        .shared()
        .db
        .run_blocking(move |db| db.inbox().inbox_page(&id, before, limit))
        .await
        .map_err(ApiError::from)?;
    let next = (page.len() as u32 == limit)
        .then(|| page.last().map(|m| m.message.id))
        .flatten();
    let items = page;
    json(serde_json::json!({ "messages": items, "next_before": next }))
}

impl ServiceContext {
    /// Syncs `mailbox` now and makes its push look again. On the node that holds its lease the
    /// scheduler runs the pass; on another, this node runs one pass itself (the mailbox's turn,
    /// kept by the database, keeps it from overlapping the holder's) and nudges the holder,
    /// whose push looks again at its next heartbeat.
    pub(crate) fn sync_now(&self, mailbox: &str) {
        if self.leases.holds(mailbox) {
            self.scheduler.sync_now(mailbox);
            self.push.watch(mailbox);
        } else {
            self.scheduler.sync_once(mailbox);
            self.nudge_holder(mailbox);
        }
    }

    /// Asks the node holding `mailbox` to watch it anew at its next heartbeat: its schedule
    /// woken if stopped, its push started again.
    fn nudge_holder(&self, mailbox: &str) {
        let (db, id) = (self.host.shared().db.clone(), mailbox.to_string());
        tokio::spawn(async move {
            if let Err(e) = db
                .run_blocking(move |db| db.leases().lease_nudge(&id))
                .await
            {
                tracing::warn!(error = %e, "the holder was not nudged; its next pass finds the change");
            }
        });
    }

    /// After a link completes: watch the mailbox (waking it if it was stopped), and tell the CRM.
    pub(crate) async fn linked(
        &self,
        id: &str,
        status: &mailsync_sandbox::bindings::mailbox::MailboxStatus,
    ) {
        if status.state == LinkState::Linked {
            if self.leases.holds(id) {
                // Linked again: woken where it was stopped.
                self.scheduler.watch(id);
                self.push.watch(id);
            } else {
                // A new lease: this node, or another, claims it at once. Linked again: the
                // node holding it wakes it.
                self.nudge_holder(id);
                self.leases.round_now();
            }
            self.events
                .record(Event::linked(id, status.address.as_deref()))
                .await;
        }
    }
}
