//! Who is calling: the CRM platform with its bearer token, or a browser signed in to the panel
//! (session cookie, and on every state-changing request the session's CSRF token in a header).
//! A panel session manages its own mailbox only; the administrator's settings need an admin.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::context::ServiceContext;
use crate::http_errors::ApiError;
use crate::sessions::{CSRF_HEADER, Session, same_secret};

/// The authenticated caller of an `/api` request.
#[derive(Clone)]
pub enum Caller {
    Platform,
    Panel(Arc<Session>),
}

impl Caller {
    /// Refuses a panel session that tries another user's mailbox.
    pub fn may_manage(&self, mailbox: &str) -> Result<(), ApiError> {
        match self {
            Caller::Panel(s) if s.who.mailbox != mailbox => {
                Err(ApiError::Forbidden("this session manages another mailbox"))
            }
            _ => Ok(()),
        }
    }

    /// Refuses a panel session of a user who is not an administrator.
    pub fn must_be_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Panel(s) if !s.who.admin => Err(ApiError::Forbidden(
                "only an administrator may change these settings",
            )),
            _ => Ok(()),
        }
    }

    /// Refuses anything but the platform itself.
    pub fn must_be_platform(&self) -> Result<(), ApiError> {
        match self {
            Caller::Platform => Ok(()),
            Caller::Panel(_) => Err(ApiError::Forbidden("only the platform may do this")),
        }
    }

    /// The only mailbox whose events this caller may see (all, for the platform).
    pub fn mailbox_filter(&self) -> Option<String> {
        match self {
            Caller::Platform => None,
            Caller::Panel(s) => Some(s.who.mailbox.clone()),
        }
    }
}

/// Lets a request through with the platform's bearer token, or with a panel session (whose CSRF
/// token a state-changing request must repeat); records who called.
pub async fn authenticate(
    State(ctx): State<Arc<ServiceContext>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = identify(&ctx, request.method(), request.headers()).await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

async fn identify(
    ctx: &ServiceContext,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    if let Some(authorization) = headers.get(AUTHORIZATION) {
        let offered = authorization
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "));
        // Without a token in the settings, no bearer gets through.
        return match (offered, ctx.config.api_token.as_ref()) {
            (Some(offered), Some(token))
                if same_secret(offered.as_bytes(), token.expose().as_bytes()) =>
            {
                Ok(Caller::Platform)
            }
            _ => Err(ApiError::Unauthorized),
        };
    }
    let session = ctx
        .session_of(headers)
        .await
        .ok_or(ApiError::Unauthorized)?;
    if !matches!(*method, Method::GET | Method::HEAD) {
        let offered = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !same_secret(offered.as_bytes(), session.csrf.as_bytes()) {
            return Err(ApiError::Forbidden(
                "the request's CSRF token is missing or wrong",
            ));
        }
    }
    Ok(Caller::Panel(Arc::new(session)))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}
