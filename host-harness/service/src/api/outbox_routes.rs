//! The mailbox's outbox over HTTP: `POST …/outbox` takes a send under the caller's
//! `Idempotency-Key` (202 with the entry and its Message-ID; the same key again answers the same
//! entry), and `GET …/outbox/{entry}` shows where it is.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use mailsync_sandbox::outbox::{QueueError, SendRequest};

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
    match r.mailbox.queue_send(key, request).await {
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
