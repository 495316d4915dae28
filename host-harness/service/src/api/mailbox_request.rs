//! What every mailbox route starts from, taken from the request once: the service, the mailbox
//! the path names (its id checked), and the language the answer's messages are in.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::Deserialize;

use super::auth::Caller;
use crate::context::ServiceContext;
use crate::http_errors::{ApiError, Lang, answer};
use mailsync_sandbox::mailbox::{Mailbox, MailboxResult};

pub struct MailboxRequest {
    pub ctx: Arc<ServiceContext>,
    pub caller: Caller,
    pub id: String,
    pub mailbox: Mailbox,
    pub lang: Lang,
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

impl MailboxRequest {
    /// A mailbox call's answer: its value, or its typed error in the request's language.
    pub fn answer<T>(&self, result: MailboxResult<T>) -> Result<T, ApiError> {
        answer(result, self.lang)
    }
}

impl FromRequestParts<Arc<ServiceContext>> for MailboxRequest {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &Arc<ServiceContext>,
    ) -> Result<Self, ApiError> {
        let bad = |e: &dyn std::fmt::Display| ApiError::BadRequest(e.to_string());
        // Routes under a mailbox name more than it (`{id}/outbox/{entry}`): only `id` here.
        let Path(path) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, ctx)
                .await
                .map_err(|e| bad(&e))?;
        let id = path.get("id").cloned().unwrap_or_default();
        let Query(query) = Query::<LangQuery>::from_request_parts(parts, ctx)
            .await
            .map_err(|e| bad(&e))?;
        let lang = Lang::of(&parts.headers, query.lang.as_deref());
        let id = mailbox_id(&id)?.to_string();
        let caller = Caller::from_request_parts(parts, ctx).await?;
        caller.may_manage(&id)?;
        Ok(MailboxRequest {
            caller,
            mailbox: ctx.host.mailbox(&id),
            ctx: ctx.clone(),
            id,
            lang,
        })
    }
}

/// A mailbox id from the path: letters, digits, `.`, `_`, `-`, `@`; at most 128 characters.
pub(super) fn mailbox_id(id: &str) -> Result<&str, ApiError> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if id.is_empty() || id.len() > 128 || !id.chars().all(fine) {
        return Err(ApiError::BadRequest("the mailbox id is not valid".into()));
    }
    Ok(id)
}
