//! The administrator's settings ("Imap oAuth2": enabled providers, the "Link mailbox" flag),
//! changed at run time and kept in the database; and the platform's request for a panel login
//! for one of its users.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use crate::context::ServiceContext;
use crate::http_errors::{ApiError, Lang};
use crate::sessions::PanelUser;
use mailsync_sandbox::admin_store::AdminChoices;

#[derive(Serialize)]
pub struct ProviderView {
    id: String,
    display_name: String,
    enabled: bool,
    /// Whether the settings hold a client id for it: without one it cannot link.
    configured: bool,
}

#[derive(Serialize)]
pub struct SettingsView {
    link_mailbox: bool,
    providers: Vec<ProviderView>,
}

fn view(ctx: &ServiceContext) -> SettingsView {
    let platform = ctx.host.shared().platform();
    let choices = AdminChoices::of(&platform.settings);
    SettingsView {
        link_mailbox: choices.link_mailbox,
        providers: platform
            .settings
            .providers
            .iter()
            .map(|p| ProviderView {
                id: p.id.clone(),
                display_name: p.display_name(),
                enabled: p.enabled,
                configured: p.client_id.is_some(),
            })
            .collect(),
    }
}

pub async fn settings(
    State(ctx): State<Arc<ServiceContext>>,
    caller: Caller,
) -> Result<Json<SettingsView>, ApiError> {
    caller.must_be_admin()?;
    Ok(Json(view(&ctx)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    link_mailbox: bool,
    /// Provider id to enabled; providers the settings do not name are refused.
    providers: BTreeMap<String, bool>,
}

pub async fn set_settings(
    State(ctx): State<Arc<ServiceContext>>,
    caller: Caller,
    Json(change): Json<SettingsChange>,
) -> Result<Json<SettingsView>, ApiError> {
    caller.must_be_admin()?;
    let known = AdminChoices::of(&ctx.host.shared().platform().settings);
    if let Some(unknown) = change
        .providers
        .keys()
        .find(|id| !known.providers.contains_key(*id))
    {
        return Err(ApiError::BadRequest(format!(
            "no provider {unknown:?} in the settings"
        )));
    }
    let mut providers = known.providers;
    providers.extend(change.providers);
    let choices = AdminChoices {
        link_mailbox: change.link_mailbox,
        providers,
    };
    ctx.host.set_admin_choices(choices).await?;
    tracing::info!("the administrator's settings changed");
    Ok(Json(view(&ctx)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    #[serde(flatten)]
    who: PanelUser,
    /// The panel's language (`en` or `nl`) [default: the browser's].
    lang: Option<String>,
}

#[derive(Serialize)]
pub struct LoginLink {
    /// Open this (relative to the service) in the user's browser within five minutes.
    login_path: String,
}

/// The platform signs one of its users in to the panel: a one-time login link for the browser.
pub async fn panel_session(
    State(ctx): State<Arc<ServiceContext>>,
    caller: Caller,
    headers: HeaderMap,
    Json(request): Json<SessionRequest>,
) -> Result<Json<LoginLink>, ApiError> {
    caller.must_be_platform()?;
    super::mailbox_request::mailbox_id(&request.who.mailbox)?;
    if request.who.user.trim().is_empty() || request.who.user.len() > 256 {
        return Err(ApiError::BadRequest("the user is not valid".into()));
    }
    let lang = request.lang.map(|l| Lang::of(&headers, Some(&l)));
    let ticket = ctx
        .sessions
        .issue_ticket(request.who, lang)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(LoginLink {
        login_path: format!("/panel/login?ticket={ticket}"),
    }))
}
