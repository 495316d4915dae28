//! Signing a browser in and out of the panel. A ticket link only shows whom it would sign in;
//! the browser is signed in by a same-origin `POST` from that page ("Continue as …"), so no other
//! site can sign a victim's browser in as someone else (login CSRF). Sign-out ends the session on
//! the server, for every node.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{escape, guarded, html_page, redirect};
use crate::context::ServiceContext;
use crate::http_errors::Lang;
use crate::sessions::{CSRF_HEADER, SESSION_LIFETIME, Session, same_secret, session_id};

#[derive(Deserialize)]
pub struct TicketParam {
    ticket: String,
}

/// `GET /panel/login?ticket=`: whom the ticket signs in, and a button to continue. Nothing is
/// signed in yet, and the ticket is not used.
pub async fn confirm(
    State(ctx): State<Arc<ServiceContext>>,
    headers: HeaderMap,
    Query(q): Query<TicketParam>,
) -> Response {
    let Some(ticket) = ctx.sessions.peek_ticket(&q.ticket).await else {
        return expired(Lang::of(&headers, None));
    };
    let lang = ticket.lang.unwrap_or_else(|| Lang::of(&headers, None));
    let current = ctx.session_of(&headers).await;
    let (user, mailbox) = (escape(&ticket.who.user), escape(&ticket.who.mailbox));
    let replaces = match &current {
        Some(s) if s.who != ticket.who => {
            let (was, was_mailbox) = (escape(&s.who.user), escape(&s.who.mailbox));
            match lang {
                Lang::En => format!(
                    "<p id=\"login-replaces\" class=\"problem\" role=\"alert\">This browser is signed in as <strong>{was}</strong> (mailbox {was_mailbox}). Continuing signs it out, and in as {user}.</p>"
                ),
                Lang::Nl => format!(
                    "<p id=\"login-replaces\" class=\"problem\" role=\"alert\">Deze browser is aangemeld als <strong>{was}</strong> (mailbox {was_mailbox}). Doorgaan meldt die af, en aan als {user}.</p>"
                ),
            }
        }
        _ => String::new(),
    };
    let (title, who, button, warning) = match lang {
        Lang::En => (
            "E-mail settings: sign in",
            format!(
                "Continue to the E-mail settings as <strong>{user}</strong>, for the mailbox <strong>{mailbox}</strong>?"
            ),
            format!("Continue as {user}"),
            "Did you not open the E-mail settings from the CRM yourself just now? Then close this tab.",
        ),
        Lang::Nl => (
            "E-mailinstellingen: aanmelden",
            format!(
                "Doorgaan naar de e-mailinstellingen als <strong>{user}</strong>, voor de mailbox <strong>{mailbox}</strong>?"
            ),
            format!("Doorgaan als {user}"),
            "Heeft u de e-mailinstellingen niet zelf zojuist vanuit het CRM geopend? Sluit dan dit tabblad.",
        ),
    };
    let body = format!(
        "<h1>{title}</h1><p id=\"login-who\">{who}</p>{replaces}\
         <form method=\"post\" action=\"/panel/login\">\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
         <button id=\"continue\" type=\"submit\">{button}</button></form>\
         <p class=\"hint\">{warning}</p>",
        title = escape(title),
        ticket = escape(&q.ticket),
    );
    html_page(StatusCode::OK, lang, title, &body)
}

/// `POST /panel/login`: from the page above only (same origin), trades the ticket for a session
/// cookie, ends the session this browser had, and shows the panel.
pub async fn sign_in(
    State(ctx): State<Arc<ServiceContext>>,
    headers: HeaderMap,
    Form(form): Form<TicketParam>,
) -> Response {
    let lang = Lang::of(&headers, None);
    if !from_own_origin(&ctx, &headers) {
        tracing::warn!("a sign-in posted from another origin; refused");
        let (title, text) = match lang {
            Lang::En => (
                "Sign-in refused",
                "This sign-in did not come from the E-mail settings' own page, so it was refused. Open the E-mail settings from the CRM.",
            ),
            Lang::Nl => (
                "Aanmelden geweigerd",
                "Deze aanmelding kwam niet van de eigen pagina van de e-mailinstellingen en is geweigerd. Open de e-mailinstellingen vanuit het CRM.",
            ),
        };
        let body = format!("<h1>{title}</h1><p id=\"login-refused\" role=\"alert\">{text}</p>");
        return html_page(StatusCode::FORBIDDEN, lang, title, &body);
    }
    let Some((id, session)) = ctx.sessions.redeem(&form.ticket).await else {
        return expired(lang);
    };
    if let Some(old) = session_id(&headers, ctx.session_cookie())
        && let Err(e) = ctx.sessions.end(&old).await
    {
        tracing::warn!(error = %e, "the browser's earlier session could not be ended");
    }
    let target = match session.lang {
        Some(lang) => format!("/panel/?lang={}", lang.code()),
        None => "/panel/".to_string(),
    };
    with_cookie(redirect(&target), &ctx, &id, SESSION_LIFETIME.as_secs())
}

/// `POST /panel/logout` (with the session's CSRF token): the session ends on the server, and the
/// browser forgets its cookie.
pub async fn sign_out(State(ctx): State<Arc<ServiceContext>>, headers: HeaderMap) -> Response {
    let Some(id) = session_id(&headers, ctx.session_cookie()) else {
        return guarded(StatusCode::UNAUTHORIZED.into_response());
    };
    let Some(session) = ctx.sessions.get(&id).await else {
        return with_cookie(
            guarded(StatusCode::UNAUTHORIZED.into_response()),
            &ctx,
            "",
            0,
        );
    };
    if !csrf_repeated(&headers, &session) {
        return guarded(StatusCode::FORBIDDEN.into_response());
    }
    match ctx.sessions.end(&id).await {
        Ok(()) => with_cookie(guarded(StatusCode::NO_CONTENT.into_response()), &ctx, "", 0),
        Err(e) => {
            tracing::warn!(error = %e, "a session could not be ended");
            guarded(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

fn csrf_repeated(headers: &HeaderMap, session: &Session) -> bool {
    let offered = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    same_secret(offered.as_bytes(), session.csrf.as_bytes())
}

/// Whether a request comes from a page of this service. A browser says so in `Sec-Fetch-Site`
/// (which no page can set); an `Origin` it sends must be the public URL's (or, without one, this
/// host's over plain HTTP). The panel's pages send no referrer, so a browser's `Origin` on their
/// form is `null`: then `Sec-Fetch-Site` alone decides. A request that says neither is refused.
fn from_own_origin(ctx: &ServiceContext, headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let expected = match &ctx.config.public_url {
        Some(url) => url.origin().ascii_serialization(),
        None => match text("host") {
            Some(host) => format!("http://{host}"),
            None => return false,
        },
    };
    match (text("sec-fetch-site"), text("origin")) {
        (Some(site), _) if site != "same-origin" => false,
        (_, Some(origin)) if origin != "null" => origin == expected,
        (Some(_), _) => true,
        (None, _) => false,
    }
}

/// `response` with the session cookie set to `id` for `max_age` seconds (0 forgets it).
fn with_cookie(mut response: Response, ctx: &ServiceContext, id: &str, max_age: u64) -> Response {
    // Lax, not Strict: the provider's redirect back to the callback is a top-level navigation
    // from another site, and must carry the session.
    let secure = if ctx.behind_https() { "; Secure" } else { "" };
    let cookie = format!(
        "{}={id}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        ctx.session_cookie()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn expired(lang: Lang) -> Response {
    let (title, text) = match lang {
        Lang::En => (
            "Sign-in link expired",
            "This sign-in link has expired or was already used. Open the E-mail settings from the CRM again.",
        ),
        Lang::Nl => (
            "Aanmeldlink verlopen",
            "Deze aanmeldlink is verlopen of al gebruikt. Open de e-mailinstellingen opnieuw vanuit het CRM.",
        ),
    };
    let body = format!("<h1>{title}</h1><p id=\"login-expired\" role=\"alert\">{text}</p>");
    html_page(StatusCode::UNAUTHORIZED, lang, title, &body)
}
