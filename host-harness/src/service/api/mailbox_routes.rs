//! The panel's calls over HTTP, one route each: status, link start and completion, folders,
//! suggestion, mapping, unlink, "sync now", the last sync reports and the CRM's messages. Each
//! translates JSON to one mailbox call and back; the scheduler and events hear what changed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::bindings::folders::FolderMapping;
use crate::bindings::panel::{LinkRequest, LinkState};

use super::ServiceContext;
use super::errors::{ApiError, Lang, answer};
use crate::service::events::Event;

type Ctx = State<Arc<ServiceContext>>;
type ApiResult = Result<Json<serde_json::Value>, ApiError>;

#[derive(Deserialize, Default)]
pub struct LangQuery {
    lang: Option<String>,
}

fn json<T: serde::Serialize>(value: T) -> ApiResult {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A mailbox id from the path: letters, digits, `.`, `_`, `-`, `@`; at most 128 characters.
fn mailbox_id(id: &str) -> Result<&str, ApiError> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if id.is_empty() || id.len() > 128 || !id.chars().all(fine) {
        return Err(ApiError::BadRequest("the mailbox id is not valid".into()));
    }
    Ok(id)
}

pub async fn status(
    State(ctx): Ctx,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
) -> ApiResult {
    let lang = Lang::of(&h, q.lang.as_deref());
    let mailbox = ctx.host.mailbox(mailbox_id(&id)?);
    json(answer(mailbox.status().await, lang)?)
}

#[derive(Deserialize)]
pub struct LinkBody {
    user: String,
    provider: String,
    login_hint: Option<String>,
}

pub async fn link_start(
    State(ctx): Ctx,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
    Json(body): Json<LinkBody>,
) -> ApiResult {
    let lang = Lang::of(&h, q.lang.as_deref());
    let mailbox = ctx.host.mailbox(mailbox_id(&id)?);
    let request = LinkRequest {
        user: body.user,
        provider: body.provider,
        login_hint: body.login_hint,
        redirect_port: None,
    };
    json(answer(mailbox.link_start(&request).await, lang)?)
}

#[derive(Deserialize)]
pub struct CompleteBody {
    /// The CRM user whose browser brought the provider's redirect.
    user: String,
    /// The redirect's query, as pairs.
    query: Vec<(String, String)>,
}

/// Completes a link with the query of the provider's redirect, for a platform that receives the
/// redirect itself.
pub async fn link_complete(
    State(ctx): Ctx,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
    Json(body): Json<CompleteBody>,
) -> ApiResult {
    let lang = Lang::of(&h, q.lang.as_deref());
    let id = mailbox_id(&id)?;
    let status = answer(
        ctx.host
            .mailbox(id)
            .link_complete(&body.user, &body.query)
            .await,
        lang,
    )?;
    ctx.linked(id, &status);
    json(status)
}

pub async fn folders(
    State(ctx): Ctx,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
) -> ApiResult {
    let lang = Lang::of(&h, q.lang.as_deref());
    let mailbox = ctx.host.mailbox(mailbox_id(&id)?);
    json(answer(mailbox.list_folders().await, lang)?)
}

pub async fn suggestion(
    State(ctx): Ctx,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
) -> ApiResult {
    let lang = Lang::of(&h, q.lang.as_deref());
    let mailbox = ctx.host.mailbox(mailbox_id(&id)?);
    json(answer(mailbox.suggest_mapping().await, lang)?)
}

pub async fn mapping(
    State(ctx): Ctx,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
) -> ApiResult {
    let lang = Lang::of(&h, q.lang.as_deref());
    let mailbox = ctx.host.mailbox(mailbox_id(&id)?);
    json(answer(mailbox.mapping().await, lang)?)
}

pub async fn set_mapping(
    State(ctx): Ctx,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
    Json(mapping): Json<FolderMapping>,
) -> ApiResult {
    let lang = Lang::of(&h, q.lang.as_deref());
    let id = mailbox_id(&id)?;
    let saved = answer(ctx.host.mailbox(id).set_mapping(&mapping).await, lang)?;
    // A new mapping is synced at once, not at the next interval, and its inbox watched.
    ctx.scheduler.sync_now(id);
    ctx.push.watch(id);
    json(saved)
}

pub async fn unlink(
    State(ctx): Ctx,
    Path(id): Path<String>,
    q: Query<LangQuery>,
    h: HeaderMap,
) -> ApiResult {
    let lang = Lang::of(&h, q.lang.as_deref());
    let id = mailbox_id(&id)?;
    let unlinked = answer(ctx.host.mailbox(id).unlink().await, lang)?;
    ctx.scheduler.forget(id);
    ctx.push.forget(id);
    ctx.events.emit(Event::unlinked(id));
    json(unlinked)
}

/// "Sync now": the scheduler runs a pass at once, or right after the one running.
pub async fn sync_now(State(ctx): Ctx, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    ctx.scheduler.sync_now(mailbox_id(&id)?);
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
pub struct ReportsQuery {
    limit: Option<u32>,
}

/// The latest sync reports, newest first.
pub async fn reports(
    State(ctx): Ctx,
    Path(id): Path<String>,
    Query(q): Query<ReportsQuery>,
) -> ApiResult {
    let id = mailbox_id(&id)?.to_string();
    let limit = q.limit.unwrap_or(10).clamp(1, 100);
    let runs = ctx
        .host
        .services()
        .db
        .run_blocking(move |db| db.sync_runs(&id, limit))
        .await
        .map_err(ApiError::Internal)?;
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

/// The CRM's messages of a mailbox, newest delivery first, a page at a time.
pub async fn messages(
    State(ctx): Ctx,
    Path(id): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> ApiResult {
    let id = mailbox_id(&id)?.to_string();
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = q.before;
    let page = ctx
        .host
        .services()
        .db
        .run_blocking(move |db| db.inbox_page(&id, before, limit))
        .await
        .map_err(ApiError::Internal)?;
    let next = (page.len() as u32 == limit)
        .then(|| page.last().map(|m| m.id))
        .flatten();
    let items: Vec<serde_json::Value> = page
        .into_iter()
        .map(|m| {
            let record: serde_json::Value =
                serde_json::from_str(&m.record_json).unwrap_or_default();
            let from = record["record"]["from"].clone();
            let mut item = serde_json::to_value(&m).unwrap_or_default();
            item["from"] = from;
            item
        })
        .collect();
    json(serde_json::json!({ "messages": items, "next_before": next }))
}

impl ServiceContext {
    /// After a link completes: watch the mailbox (waking it if it was stopped), and tell the CRM.
    fn linked(&self, id: &str, status: &crate::bindings::panel::MailboxStatus) {
        if status.state == LinkState::Linked {
            self.scheduler.watch(id);
            self.push.watch(id);
            self.events
                .emit(Event::linked(id, status.address.as_deref()));
        }
    }
}
