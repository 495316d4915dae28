//! The panel's sessions: the platform asks for a one-time login ticket for one of its users (and
//! the mailbox they may manage); the browser trades it for a session cookie and a CSRF token that
//! every state-changing request must repeat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::service::api::Lang;

/// The cookie that carries a panel session.
pub const COOKIE: &str = "mailsync_session";
/// The header a state-changing panel request repeats the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

const TICKET_LIFETIME: Duration = Duration::from_secs(5 * 60);
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// Who a panel session is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PanelUser {
    /// The CRM user: links the mailbox and alone may complete its link.
    pub user: String,
    /// The one mailbox this user manages.
    pub mailbox: String,
    /// Whether the user may change the administrator's settings ("Imap oAuth2").
    #[serde(default)]
    pub admin: bool,
}

/// A signed-in browser.
#[derive(Debug)]
pub struct Session {
    pub who: PanelUser,
    pub csrf: String,
    /// The language the platform chose for the user, if it did.
    pub lang: Option<Lang>,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    tickets: Mutex<HashMap<String, Ticket>>,
    live: Mutex<HashMap<String, Arc<Session>>>,
}

struct Ticket {
    who: PanelUser,
    lang: Option<Lang>,
    expires: Instant,
}

/// 32 random bytes from the operating system, URL-safe.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sessions {
    /// A one-time ticket that signs `who` in, valid for five minutes.
    pub fn issue_ticket(&self, who: PanelUser, lang: Option<Lang>) -> String {
        self.issue_ticket_lasting(who, lang, TICKET_LIFETIME)
    }

    /// A one-time ticket valid for `lifetime` (the developer's own sign-in, printed by `serve`).
    pub fn issue_ticket_lasting(
        &self,
        who: PanelUser,
        lang: Option<Lang>,
        lifetime: Duration,
    ) -> String {
        let ticket = random_token();
        let now = Instant::now();
        let mut tickets = lock(&self.tickets);
        tickets.retain(|_, t| t.expires > now);
        let expires = now + lifetime;
        tickets.insert(ticket.clone(), Ticket { who, lang, expires });
        ticket
    }

    /// Trades a ticket (once) for a new session: its id, for the cookie, and the session.
    pub fn redeem(&self, ticket: &str) -> Option<(String, Arc<Session>)> {
        let Ticket { who, lang, expires } = lock(&self.tickets).remove(ticket)?;
        let now = Instant::now();
        if expires <= now {
            return None;
        }
        let session = Arc::new(Session {
            who,
            lang,
            csrf: random_token(),
            expires: now + SESSION_LIFETIME,
        });
        let id = random_token();
        let mut live = lock(&self.live);
        live.retain(|_, s| s.expires > now);
        live.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session a cookie names.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let session = lock(&self.live).get(id).cloned()?;
        (session.expires > Instant::now()).then_some(session)
    }

    /// Ends the session a cookie names.
    pub fn end(&self, id: &str) {
        lock(&self.live).remove(id);
    }
}

/// The session id in a request's `Cookie` header, if any.
pub fn session_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anna() -> PanelUser {
        PanelUser {
            user: "anna".into(),
            mailbox: "anna".into(),
            admin: false,
        }
    }

    #[test]
    fn a_ticket_signs_in_once() {
        let sessions = Sessions::default();
        let ticket = sessions.issue_ticket(anna(), Some(Lang::Nl));
        let (id, session) = sessions.redeem(&ticket).expect("signed in");
        assert_eq!(session.who, anna());
        assert_eq!(session.lang, Some(Lang::Nl));
        assert_ne!(session.csrf, id);
        assert!(sessions.redeem(&ticket).is_none(), "a ticket is single-use");
        assert_eq!(sessions.get(&id).unwrap().csrf, session.csrf);
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        assert!(sessions.redeem("forged").is_none());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "theme=dark; mailsync_session=abc; x=1".parse().unwrap(),
        );
        assert_eq!(session_id(&headers).as_deref(), Some("abc"));
        assert_eq!(session_id(&axum::http::HeaderMap::new()), None);
    }
}
