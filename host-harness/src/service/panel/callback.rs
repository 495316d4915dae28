//! `GET /oauth/callback`: where the provider sends the user's browser after consent. The link is
//! completed for the user signed in to the panel in that browser (only they may complete what
//! they started), and the tab says what happened, in the user's language, and tells the panel.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::guarded;
use super::sessions::session_id;
use crate::service::ServiceContext;
use crate::service::api::{ApiError, Lang};

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
    let Some(session) = session_id(&headers).and_then(|id| ctx.sessions.get(&id)) else {
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
    // A session completes its own mailbox's link only: a `state` from another mailbox's
    // attempt is unknown there, and the plugin says so.
    let mailbox = session.who.mailbox.clone();
    let result = ctx
        .host
        .mailbox(&mailbox)
        .link_complete(&session.who.user, &query)
        .await;
    match crate::service::api::answer(result, lang) {
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

/// Text made safe to place in HTML, in an element or a quoted attribute.
fn escape(text: &str) -> String {
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
