//! The "E-mail settings" panel in a browser: a static page (HTML, CSS and script embedded in the
//! binary, nothing third-party) over the API, its sign-in by one-time ticket, and the OAuth
//! callback the provider redirects the user's browser to.

mod callback;
mod login;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::http_errors::{ApiError, Lang};
use crate::context::ServiceContext;

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
        .route("/panel/login", get(login::confirm).post(login::sign_in))
        .route("/panel/logout", post(login::sign_out))
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

/// Text made safe to place in HTML, in an element or a quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A small page of the panel's own (sign-in, its refusals), in `lang`.
fn html_page(status: StatusCode, lang: Lang, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/panel/panel.css\"></head><body><main>{body}</main></body></html>",
        lang = lang.code(),
        title = escape(title),
    );
    guarded(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response(),
    )
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    guarded(response)
}

/// Who the browser is signed in as, and the CSRF token its requests must repeat.
async fn session(
    State(ctx): State<Arc<ServiceContext>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = ctx
        .session_of(&headers)
        .await
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

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn text_from_anywhere_cannot_become_markup() {
        assert_eq!(
            escape("<img src=x onerror=\"a('b')\">&"),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
    }
}
