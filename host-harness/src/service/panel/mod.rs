//! The "E-mail settings" panel in a browser: a static page (HTML, CSS and script embedded in the
//! binary, nothing third-party) over the API, its sign-in by one-time ticket, and the OAuth
//! callback the provider redirects the user's browser to.

mod callback;
pub mod sessions;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::ServiceContext;
use super::api::{ApiError, Lang};
use sessions::session_id;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/panel.js");
const STYLE: &str = include_str!("assets/panel.css");
const CALLBACK_SCRIPT: &str = include_str!("assets/callback.js");

/// The panel's routes (they authenticate with the session cookie themselves).
pub fn router() -> Router<Arc<ServiceContext>> {
    Router::new()
        .route(
            "/panel/",
            get(|| async { page(INDEX, "text/html; charset=utf-8") }),
        )
        .route("/panel", get(|| async { redirect("/panel/") }))
        .route(
            "/panel/panel.js",
            get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/panel/panel.css",
            get(|| async { page(STYLE, "text/css; charset=utf-8") }),
        )
        .route(
            "/panel/callback.js",
            get(|| async { page(CALLBACK_SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route("/panel/login", get(login))
        .route("/panel/session", get(session))
        .route("/oauth/callback", get(callback::callback))
}

/// Every panel answer: only the panel's own resources, never framed, never cached, and no
/// referrer (a callback's URL holds an authorization code).
pub(crate) fn guarded(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    guarded(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    guarded(response)
}

#[derive(Deserialize)]
pub struct LoginQuery {
    ticket: String,
}

/// Trades a one-time ticket for a session cookie, then shows the panel.
async fn login(State(ctx): State<Arc<ServiceContext>>, Query(q): Query<LoginQuery>) -> Response {
    let Some((id, session)) = ctx.sessions.redeem(&q.ticket) else {
        let body = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Sign-in link expired</title>\
            <p>This sign-in link has expired or was already used. Open the E-mail settings from the CRM again.</p>\
            <p lang=\"nl\">Deze aanmeldlink is verlopen of al gebruikt. Open de e-mailinstellingen opnieuw vanuit het CRM.</p>";
        return guarded(
            (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response(),
        );
    };
    let target = match session.lang {
        Some(lang) => format!("/panel/?lang={}", lang.code()),
        None => "/panel/".to_string(),
    };
    let mut response = redirect(&target);
    // Lax, not Strict: the provider's redirect back to the callback is a top-level navigation
    // from another site, and must carry the session.
    let cookie = format!("{}={id}; Path=/; HttpOnly; SameSite=Lax", sessions::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Who the browser is signed in as, and the CSRF token its requests must repeat.
async fn session(
    State(ctx): State<Arc<ServiceContext>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = session_id(&headers)
        .and_then(|id| ctx.sessions.get(&id))
        .ok_or(ApiError::Unauthorized)?;
    let body = serde_json::json!({
        "user": session.who.user,
        "mailbox": session.who.mailbox,
        "admin": session.who.admin,
        "csrf": session.csrf,
        "lang": session.lang.map(Lang::code),
    });
    Ok(guarded(Json(body).into_response()))
}
