//! How the API and the panel answer a failure: the plugin's typed mailbox error as JSON with an HTTP status
//! for its kind and its message in the request's language; a failed call as 500 or 503.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use mailsync_sandbox::bindings::mailbox::{ErrorKind, MailboxError};
use mailsync_sandbox::errors::CallError;

/// The language of messages for the user: `?lang=`, else `Accept-Language`, else English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    En,
    Nl,
}

impl Lang {
    pub fn of(headers: &HeaderMap, query_lang: Option<&str>) -> Lang {
        let asked = query_lang.map(str::to_string).or_else(|| {
            let header = headers.get(axum::http::header::ACCEPT_LANGUAGE)?;
            Some(header.to_str().ok()?.to_string())
        });
        match asked {
            Some(a) if a.trim_start().to_ascii_lowercase().starts_with("nl") => Lang::Nl,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }
}

/// How soon a caller refused for a mailbox's full queue should try again.
const TURN_RETRY_SECS: u64 = 5;

/// An API failure, ready to answer.
#[derive(Debug)]
pub enum ApiError {
    Mailbox(Box<MailboxError>, Lang),
    Call(CallError),
    Unauthorized,
    Forbidden(&'static str),
    BadRequest(String),
    Internal(String),
    /// Too much at once for this caller or mailbox: try again after so many seconds.
    Busy(&'static str, u64),
    /// A request refused as it is, with its status and a stable kind.
    Refused {
        status: StatusCode,
        kind: &'static str,
        message: String,
    },
}

/// A store call that failed: the service's own failure (500), with what the store said.
impl From<mailsync_sandbox::db::StoreError> for ApiError {
    fn from(e: mailsync_sandbox::db::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        ApiError::Call(e)
    }
}

/// The status for a mailbox error's kind: what the caller may do about it.
fn status_of(kind: &ErrorKind) -> StatusCode {
    use ErrorKind as K;
    match kind {
        K::LinkingDisabled | K::ProviderNotEnabled(_) | K::DestinationRefused(_) => {
            StatusCode::FORBIDDEN
        }
        K::StateInvalid(_)
        | K::InvalidSettings(_)
        | K::MappingInvalid(_)
        | K::AuthorizationCodeInvalid(_)
        | K::AccessDenied(_) => StatusCode::BAD_REQUEST,
        K::NotLinked | K::NothingMapped => StatusCode::CONFLICT,
        K::SettingsReadOnly | K::LinkedToOtherProvider(_) | K::DifferentAccount(_) => {
            StatusCode::CONFLICT
        }
        K::ProviderUnavailable(_) | K::ImapThrottled(_) => StatusCode::SERVICE_UNAVAILABLE,
        K::Network(_) | K::ImapUnreachable(_) | K::ImapTlsFailed(_) | K::ImapProtocol(_) => {
            StatusCode::BAD_GATEWAY
        }
        K::Storage(_) | K::InboxFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut retry_after = None;
        let (status, body) = match self {
            ApiError::Mailbox(e, lang) => {
                let message = match lang {
                    Lang::En => e.message.en.clone(),
                    Lang::Nl => e.message.nl.clone(),
                };
                let body = serde_json::json!({ "error": {
                    "kind": e.kind, "key": e.message.key, "message": message,
                }});
                (status_of(&e.kind), body)
            }
            ApiError::Call(CallError::TurnBusy { .. }) => {
                retry_after = Some(TURN_RETRY_SECS);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    serde_json::json!({ "error": { "kind": "busy", "message": "too many calls wait for this mailbox; try again shortly" }}),
                )
            }
            ApiError::Call(e) => {
                let status = match e {
                    CallError::TimeBudgetExceeded { .. } | CallError::TurnLost => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (
                    status,
                    serde_json::json!({ "error": { "kind": "call", "message": e.to_string() }}),
                )
            }
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({ "error": { "kind": "unauthorized", "message": "credentials are missing or wrong" }}),
            ),
            ApiError::Forbidden(why) => (
                StatusCode::FORBIDDEN,
                serde_json::json!({ "error": { "kind": "forbidden", "message": why }}),
            ),
            ApiError::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": { "kind": "bad-request", "message": why }}),
            ),
            ApiError::Internal(why) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "error": { "kind": "internal", "message": why }}),
            ),
            ApiError::Refused {
                status,
                kind,
                message,
            } => (
                status,
                serde_json::json!({ "error": { "kind": kind, "message": message }}),
            ),
            ApiError::Busy(why, after) => {
                retry_after = Some(after);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    serde_json::json!({ "error": { "kind": "busy", "message": why }}),
                )
            }
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(after) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(after),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// A mailbox call's answer as the API's: the value, or the typed error in `lang`.
pub fn answer<T>(
    result: mailsync_sandbox::mailbox::MailboxResult<T>,
    lang: Lang,
) -> Result<T, ApiError> {
    result?.map_err(|e| ApiError::Mailbox(Box::new(e), lang))
}
