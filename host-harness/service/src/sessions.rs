//! The panel's sessions: the platform asks for a one-time login ticket for one of its users (and
//! the mailbox they may manage); the browser trades it for a session cookie and a CSRF token that
//! every state-changing request must repeat. Kept in the store, so any node serves any browser,
//! each under the SHA-256 of its token: whoever reads the database cannot sign in with it. Each
//! link attempt a session starts is bound to it, so only that browser's callback completes it.
//! Every store call runs on the blocking pool, never on the async workers.

use std::time::Duration;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::http_errors::Lang;
use mailsync_sandbox::db::{Database, StoreError, StoreResult};

/// The cookie that carries a panel session over plain HTTP (a developer's loopback).
pub const COOKIE: &str = "mailsync_session";
/// The cookie behind HTTPS: `__Host-` makes the browser keep it to this origin, `Secure` and
/// `Path=/` (no subdomain or path can plant or shadow it).
pub const SECURE_COOKIE: &str = "__Host-mailsync_session";
/// The header a state-changing panel request repeats the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

const TICKET_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// How long a link attempt stays bound to its session: longer than the plugin keeps the attempt
/// (10 minutes), so the plugin's own expiry is what the user is told of.
const LINK_BINDING_LIFETIME: Duration = Duration::from_secs(15 * 60);

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
    /// What the session is kept under (the hash of its id): names it without revealing it.
    #[serde(skip)]
    pub key: String,
}

/// A ticket not yet used: whom it signs in, and in what language.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Ticket {
    pub who: PanelUser,
    pub lang: Option<Lang>,
}

/// What a browser's callback may do with a link attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkBinding {
    /// This session started it.
    Ours,
    /// Another session started it, or none did (the platform, or nobody).
    NotOurs,
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
    pub async fn issue_ticket(&self, who: PanelUser, lang: Option<Lang>) -> StoreResult<String> {
        self.issue_ticket_lasting(who, lang, TICKET_LIFETIME).await
    }

    /// A one-time ticket valid for `lifetime` (the developer's own sign-in, printed by `serve`).
    pub async fn issue_ticket_lasting(
        &self,
        who: PanelUser,
        lang: Option<Lang>,
        lifetime: Duration,
    ) -> StoreResult<String> {
        let ticket = random_token();
        let body = serde_json::to_string(&Ticket { who, lang }).expect("plain data serialises");
        let key = hashed(&ticket);
        self.blocking(move |db| db.panel().panel_put("ticket", &key, &body, lifetime))
            .await?;
        Ok(ticket)
    }

    /// Whom a ticket would sign in, without using it (the page that asks to continue).
    pub async fn peek_ticket(&self, ticket: &str) -> Option<Ticket> {
        let key = hashed(ticket);
        let body = self.read(
            self.blocking(move |db| db.panel().panel_get("ticket", &key))
                .await,
        )?;
        serde_json::from_str(&body).ok()
    }

    /// Trades a ticket (once) for a new session: its id, for the cookie, and the session.
    pub async fn redeem(&self, ticket: &str) -> Option<(String, Session)> {
        let key = hashed(ticket);
        let body = self.read(
            self.blocking(move |db| db.panel().panel_take("ticket", &key))
                .await,
        )?;
        let Ticket { who, lang } = serde_json::from_str(&body).ok()?;
        let id = random_token();
        let session = Session {
            who,
            lang,
            csrf: random_token(),
            key: hashed(&id),
        };
        let body = serde_json::to_string(&session).expect("plain data serialises");
        let key = session.key.clone();
        let kept = self
            .blocking(move |db| {
                db.panel()
                    .panel_put("session", &key, &body, SESSION_LIFETIME)
            })
            .await;
        self.read(kept.map(Some))?;
        Some((id, session))
    }

    /// The live session a cookie names.
    pub async fn get(&self, id: &str) -> Option<Session> {
        self.by_key(hashed(id)).await
    }

    /// The live session kept under `key` (a stream checks its own is still live).
    pub async fn by_key(&self, key: String) -> Option<Session> {
        let lookup = key.clone();
        let body = self.read(
            self.blocking(move |db| db.panel().panel_get("session", &lookup))
                .await,
        )?;
        let mut session: Session = serde_json::from_str(&body).ok()?;
        session.key = key;
        Some(session)
    }

    /// Ends the session a cookie names (sign-out): no node knows it afterwards.
    pub async fn end(&self, id: &str) -> StoreResult<()> {
        let key = hashed(id);
        self.blocking(move |db| db.panel().panel_take("session", &key))
            .await
            .map(|_| ())
    }

    /// Binds a link attempt (its OAuth `state`) to the session that started it.
    pub async fn bind_link(&self, state: &str, session: &Session) -> StoreResult<()> {
        let (key, owner) = (hashed(state), session.key.clone());
        self.blocking(move |db| {
            db.panel()
                .panel_put("link", &key, &owner, LINK_BINDING_LIFETIME)
        })
        .await
    }

    /// Whether `session` started the link attempt of `state`.
    pub async fn link_binding(&self, state: &str, session: &Session) -> LinkBinding {
        let key = hashed(state);
        let owner = self.read(
            self.blocking(move |db| db.panel().panel_get("link", &key))
                .await,
        );
        match owner {
            Some(owner) if same_secret(owner.as_bytes(), session.key.as_bytes()) => {
                LinkBinding::Ours
            }
            _ => LinkBinding::NotOurs,
        }
    }

    /// Whether a callback's query names a link attempt (by its `state`) that `session` did not
    /// start. (A query with no `state` is the plugin's to refuse, saying so.)
    pub async fn started_elsewhere(&self, session: &Session, query: &[(String, String)]) -> bool {
        match query.iter().find(|(k, _)| k == "state") {
            Some((_, state)) if !state.is_empty() => {
                self.link_binding(state, session).await == LinkBinding::NotOurs
            }
            _ => false,
        }
    }

    /// Runs a store call on the blocking pool (`Database::run_blocking`): a store that waits
    /// (SQLite's one writer, a busy PostgreSQL pool) never holds up the async workers that push,
    /// heartbeats and streams need. A failure comes back as its text.
    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreResult<T> {
        self.db.run_blocking(op).await
    }

    /// A store that cannot answer signs nobody in.
    fn read<T>(&self, answer: StoreResult<Option<T>>) -> Option<T> {
        answer.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "panel sessions unavailable");
            None
        })
    }
}

/// The session id in a request's `Cookie` header under `cookie` (`COOKIE` or `SECURE_COOKIE`:
/// behind HTTPS only the latter, which no other origin can set), if any.
pub fn session_id(headers: &axum::http::HeaderMap, cookie: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie)
        .map(|(_, value)| value.to_string())
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
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

    #[tokio::test]
    async fn a_ticket_signs_in_once_and_the_store_keeps_no_token() {
        let db = Database::open_in_memory().unwrap();
        let sessions = Sessions::new(db.clone());
        let ticket = sessions.issue_ticket(anna(), Some(Lang::Nl)).await.unwrap();
        let peeked = sessions.peek_ticket(&ticket).await.expect("a live ticket");
        assert_eq!(peeked.who, anna(), "looking does not use it");
        let (id, session) = sessions.redeem(&ticket).await.expect("signed in");
        assert_eq!(session.who, anna());
        assert_eq!(session.lang, Some(Lang::Nl));
        assert_ne!(session.csrf, id);
        assert!(
            sessions.redeem(&ticket).await.is_none(),
            "a ticket is single-use"
        );
        assert!(sessions.peek_ticket(&ticket).await.is_none());
        assert_eq!(sessions.get(&id).await.unwrap().csrf, session.csrf);
        assert!(
            sessions.get(&ticket).await.is_none(),
            "a ticket is no session"
        );
        assert!(sessions.redeem("forged").await.is_none());
        // Another node on the same store knows the session.
        assert_eq!(
            Sessions::new(db.clone()).get(&id).await.unwrap().who,
            anna()
        );
        assert!(
            db.panel().panel_get("session", &id).unwrap().is_none(),
            "kept hashed"
        );
    }

    #[tokio::test]
    async fn an_ended_session_is_known_nowhere() {
        let db = Database::open_in_memory().unwrap();
        let sessions = Sessions::new(db.clone());
        let ticket = sessions.issue_ticket(anna(), None).await.unwrap();
        let (id, session) = sessions.redeem(&ticket).await.unwrap();
        sessions.end(&id).await.unwrap();
        assert!(sessions.get(&id).await.is_none());
        assert!(Sessions::new(db).by_key(session.key).await.is_none());
    }

    #[tokio::test]
    async fn a_link_attempt_belongs_to_the_session_that_started_it_only() {
        let sessions = Sessions::new(Database::open_in_memory().unwrap());
        let mut signed_in = Vec::new();
        for _ in 0..2 {
            let ticket = sessions.issue_ticket(anna(), None).await.unwrap();
            signed_in.push(sessions.redeem(&ticket).await.unwrap().1);
        }
        let (ours, another) = (&signed_in[0], &signed_in[1]);
        sessions.bind_link("state-1", ours).await.unwrap();
        assert_eq!(
            sessions.link_binding("state-1", ours).await,
            LinkBinding::Ours
        );
        // The same CRM user in another browser is another session.
        assert_eq!(
            sessions.link_binding("state-1", another).await,
            LinkBinding::NotOurs
        );
        assert_eq!(
            sessions.link_binding("state-2", ours).await,
            LinkBinding::NotOurs,
            "an attempt no session started"
        );
    }

    #[tokio::test]
    async fn an_expired_ticket_signs_nobody_in() {
        let sessions = Sessions::new(Database::open_in_memory().unwrap());
        let ticket = sessions
            .issue_ticket_lasting(anna(), None, Duration::ZERO)
            .await
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(sessions.redeem(&ticket).await.is_none());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "theme=dark; mailsync_session=abc; x=1".parse().unwrap(),
        );
        assert_eq!(session_id(&headers, COOKIE).as_deref(), Some("abc"));
        assert_eq!(
            session_id(&headers, SECURE_COOKIE),
            None,
            "behind HTTPS, only __Host-"
        );
        headers.insert(
            axum::http::header::COOKIE,
            "__Host-mailsync_session=def".parse().unwrap(),
        );
        assert_eq!(session_id(&headers, SECURE_COOKIE).as_deref(), Some("def"));
        assert_eq!(session_id(&axum::http::HeaderMap::new(), COOKIE), None);
    }
}
