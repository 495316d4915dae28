//! `GET /oauth/callback`: where the provider sends the user's browser after consent. The link is
//! completed only for the panel session in that browser that started it (not another browser's,
//! not even the same CRM user's), and the tab says what happened, in the user's language, and
//! tells the panel.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{escape, guarded};
use crate::context::ServiceContext;
use crate::http_errors::{ApiError, Lang};

pub async fn callback(
    State(ctx): State<Arc<ServiceContext>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let lang = Lang::of(&headers, None);
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let Some(session) = ctx.session_of(&headers).await else {
        let (en, nl) = (
            "Sign in to the CRM, open the E-mail settings and click \"Link mailbox\" again: this browser is not signed in.",
            "Meld u aan bij het CRM, open de e-mailinstellingen en klik opnieuw op \"Mailbox koppelen\": deze browser is niet aangemeld.",
        );
        return result_page(
            StatusCode::UNAUTHORIZED,
            lang,
            "not-signed-in",
            pick(lang, en, nl),
        );
    };
    let lang = session.lang.unwrap_or(lang);
    // A consent URL opened in a browser other than the one that asked for it (a login CSRF:
    // someone else's attempt, to link this browser's user's mailbox into their CRM mailbox) is
    // refused before anything is exchanged; the attempt stays for its own browser.
    if ctx.sessions.started_elsewhere(&session, &query).await {
        tracing::warn!(
            mailbox = %session.who.mailbox,
            "a callback for a link attempt another browser session started; refused"
        );
        let (en, nl) = (
            "This link was started in another browser or by another sign-in, so it was not completed here: nothing was linked. To link your mailbox, open the E-mail settings from the CRM and click \"Link mailbox\" there.",
            "Deze koppeling is in een andere browser of door een andere aanmelding gestart en is hier dus niet voltooid: er is niets gekoppeld. Open de e-mailinstellingen vanuit het CRM en klik daar op \"Mailbox koppelen\" om uw mailbox te koppelen.",
        );
        return result_page(
            StatusCode::FORBIDDEN,
            lang,
            "other-session",
            pick(lang, en, nl),
        );
    }
    // A session completes its own mailbox's link only: a `state` from another mailbox's
    // attempt is unknown there, and the plugin says so.
    let mailbox = session.who.mailbox.clone();
    let result = ctx
        .host
        .mailbox(&mailbox)
        .link_complete(&session.who.user, &query)
        .await;
    match crate::http_errors::answer(result, lang) {
        Ok(status) => {
            ctx.linked(&mailbox, &status).await;
            let address = status.address.unwrap_or_default();
            let text = match lang {
                Lang::En => format!(
                    "Mailbox {address} is linked. You can close this tab: the E-mail settings show it."
                ),
                Lang::Nl => format!(
                    "Mailbox {address} is gekoppeld. U kunt dit tabblad sluiten: de e-mailinstellingen tonen de koppeling."
                ),
            };
            result_page(StatusCode::OK, lang, "linked", &text)
        }
        Err(ApiError::Mailbox(e, _)) => {
            let text = pick(lang, &e.message.en, &e.message.nl).to_string();
            result_page(StatusCode::BAD_REQUEST, lang, &e.message.key, &text)
        }
        Err(other) => {
            tracing::warn!(error = ?other, "a link could not be completed");
            let (en, nl) = (
                "The link could not be completed. Click \"Link mailbox\" again; if it keeps happening, contact support.",
                "De koppeling kon niet worden voltooid. Klik opnieuw op \"Mailbox koppelen\"; blijft dit gebeuren, neem dan contact op met support.",
            );
            result_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang,
                "call",
                pick(lang, en, nl),
            )
        }
    }
}

fn pick<'a>(lang: Lang, en: &'a str, nl: &'a str) -> &'a str {
    match lang {
        Lang::En => en,
        Lang::Nl => nl,
    }
}

/// The tab's page: what happened, and (through `callback.js`) word to the panel's tab.
fn result_page(status: StatusCode, lang: Lang, outcome: &str, text: &str) -> Response {
    let title = match (status.is_success(), lang) {
        (true, Lang::En) => "Mailbox linked",
        (true, Lang::Nl) => "Mailbox gekoppeld",
        (false, Lang::En) => "The mailbox was not linked",
        (false, Lang::Nl) => "De mailbox is niet gekoppeld",
    };
    let body = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/panel/panel.css\"><script src=\"/panel/callback.js\" defer></script></head>\
         <body><main id=\"link-result\" data-outcome=\"{outcome}\" data-ok=\"{ok}\">\
         <h1>{title}</h1><p id=\"link-result-text\" role=\"{role}\">{text}</p></main></body></html>",
        lang = lang.code(),
        title = escape(title),
        outcome = escape(outcome),
        ok = status.is_success(),
        role = if status.is_success() {
            "status"
        } else {
            "alert"
        },
        text = escape(text),
    );
    guarded(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}
