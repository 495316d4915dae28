//! The mailbox's outbox over HTTP: `POST …/outbox` takes a send under the caller's
//! `Idempotency-Key` (202 with the entry and its Message-ID; the same key again answers the same
//! entry), `POST …/messages/{message}/actions` an action, and `GET …/outbox/{entry}` shows either.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use mailsync_sandbox::actions::ActionRequest;
use mailsync_sandbox::outbox::{QueueError, Queued, SendRequest};

use super::mailbox_request::MailboxRequest;
use crate::http_errors::{ApiError, Lang};

/// The header that names a send, so that sending it again sends nothing new.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn refusal(e: QueueError, lang: Lang) -> ApiError {
    let status = match e {
        QueueError::Mailbox(m) => return ApiError::Mailbox(m, lang),
        QueueError::Store(e) => return ApiError::Internal(e.to_string()),
        QueueError::Call(call) => return ApiError::Call(call),
        QueueError::KeyReused { .. } => StatusCode::CONFLICT,
        QueueError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        QueueError::RepliedUnknown(_) => StatusCode::UNPROCESSABLE_ENTITY,
        QueueError::MessageUnknown(_) => StatusCode::NOT_FOUND,
        QueueError::OutboxFull { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::Refused {
        status,
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// Takes a send into the outbox and has it worked at once.
pub async fn queue(
    r: MailboxRequest,
    headers: HeaderMap,
    Json(request): Json<SendRequest>,
) -> Response {
    let Some(key) = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|k| k.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        return ApiError::BadRequest("a send needs an Idempotency-Key header".into())
            .into_response();
    };
    let queued = r.mailbox.queue_send(key, request).await;
    answer(&r, queued)
}

/// Takes an action on one of the mailbox's messages into the outbox and has it worked at once.
/// The `Idempotency-Key` header is optional here: without it, each request is an action of its
/// own (marking read twice changes nothing the second time).
pub async fn act(
    r: MailboxRequest,
    Path((_, message)): Path<(String, i64)>,
    headers: HeaderMap,
    Json(action): Json<ActionRequest>,
) -> Response {
    let key = match headers.get(IDEMPOTENCY_KEY).map(|k| k.to_str()) {
        None => format!("action-{}", mailsync_sandbox::outbox::random_hex(12)),
        Some(Ok(key)) if !key.trim().is_empty() => key.trim().to_string(),
        Some(_) => {
            return ApiError::BadRequest(
                "the Idempotency-Key header is empty or unreadable".into(),
            )
            .into_response();
        }
    };
    let queued = r.mailbox.queue_action(&key, message, action).await;
    answer(&r, queued)
}

/// 202 with a new entry (worked at once), 200 with the one the key made before.
fn answer(r: &MailboxRequest, queued: Result<Queued, QueueError>) -> Response {
    match queued {
        Ok(queued) => {
            if queued.entry.state.is_open() {
                r.ctx.outbox.nudge(&r.id);
            }
            let status = if queued.added {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            (status, Json(queued.entry)).into_response()
        }
        Err(e) => refusal(e, r.lang).into_response(),
    }
}

/// One entry: its state, attempts, and the receipt or the error.
pub async fn entry(
    r: MailboxRequest,
    Path((_, entry)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    match r.mailbox.outbox_entry(&entry).await? {
        Some(entry) => Ok(Json(entry).into_response()),
        None => Err(ApiError::Refused {
            status: StatusCode::NOT_FOUND,
            kind: "not-found",
            message: "no such entry in this mailbox's outbox".into(),
        }),
    }
}
