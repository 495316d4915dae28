//! The panel's sessions: the platform asks for a one-time login ticket for one of its users (and
//! the mailbox they may manage); the browser trades it for a session cookie and a CSRF token that
//! every state-changing request must repeat. Kept in the store, so any node serves any browser,
//! each under the SHA-256 of its token: whoever reads the database cannot sign in with it.

use std::time::Duration;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::db::{Database, StoreError};
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
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub who: PanelUser,
    pub csrf: String,
    /// The language the platform chose for the user, if it did.
    pub lang: Option<Lang>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Ticket {
    who: PanelUser,
    lang: Option<Lang>,
}

/// The panel's tickets and sessions, in the store.
pub struct Sessions {
    db: Database,
}

/// 32 random bytes from the operating system, URL-safe.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What a token is kept under.
fn hashed(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

impl Sessions {
    pub fn new(db: Database) -> Self {
        Sessions { db }
    }

    /// A one-time ticket that signs `who` in, valid for five minutes.
    pub fn issue_ticket(&self, who: PanelUser, lang: Option<Lang>) -> Result<String, StoreError> {
        self.issue_ticket_lasting(who, lang, TICKET_LIFETIME)
    }

    /// A one-time ticket valid for `lifetime` (the developer's own sign-in, printed by `serve`).
    pub fn issue_ticket_lasting(
        &self,
        who: PanelUser,
        lang: Option<Lang>,
        lifetime: Duration,
    ) -> Result<String, StoreError> {
        let ticket = random_token();
        let body = serde_json::to_string(&Ticket { who, lang }).expect("plain data serialises");
        self.db
            .panel_put("ticket", &hashed(&ticket), &body, lifetime)?;
        Ok(ticket)
    }

    /// Trades a ticket (once) for a new session: its id, for the cookie, and the session.
    pub fn redeem(&self, ticket: &str) -> Option<(String, Session)> {
        let body = self.read(self.db.panel_take("ticket", &hashed(ticket)))?;
        let Ticket { who, lang } = serde_json::from_str(&body).ok()?;
        let session = Session {
            who,
            lang,
            csrf: random_token(),
        };
        let id = random_token();
        let body = serde_json::to_string(&session).expect("plain data serialises");
        let kept = self
            .db
            .panel_put("session", &hashed(&id), &body, SESSION_LIFETIME);
        self.read(kept.map(Some))?;
        Some((id, session))
    }

    /// The live session a cookie names.
    pub fn get(&self, id: &str) -> Option<Session> {
        let body = self.read(self.db.panel_get("session", &hashed(id)))?;
        serde_json::from_str(&body).ok()
    }

    /// A store that cannot answer signs nobody in.
    fn read<T>(&self, answer: Result<Option<T>, StoreError>) -> Option<T> {
        answer.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "panel sessions unavailable");
            None
        })
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
    fn a_ticket_signs_in_once_and_the_store_keeps_no_token() {
        let db = Database::open_in_memory().unwrap();
        let sessions = Sessions::new(db.clone());
        let ticket = sessions.issue_ticket(anna(), Some(Lang::Nl)).unwrap();
        let (id, session) = sessions.redeem(&ticket).expect("signed in");
        assert_eq!(session.who, anna());
        assert_eq!(session.lang, Some(Lang::Nl));
        assert_ne!(session.csrf, id);
        assert!(sessions.redeem(&ticket).is_none(), "a ticket is single-use");
        assert_eq!(sessions.get(&id).unwrap().csrf, session.csrf);
        assert!(sessions.get(&ticket).is_none(), "a ticket is no session");
        assert!(sessions.redeem("forged").is_none());
        // Another node on the same store knows the session.
        assert_eq!(Sessions::new(db.clone()).get(&id).unwrap().who, anna());
        assert!(
            db.panel_get("session", &id).unwrap().is_none(),
            "kept hashed"
        );
    }

    #[test]
    fn an_expired_ticket_signs_nobody_in() {
        let sessions = Sessions::new(Database::open_in_memory().unwrap());
        let ticket = sessions
            .issue_ticket_lasting(anna(), None, Duration::ZERO)
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(sessions.redeem(&ticket).is_none());
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
