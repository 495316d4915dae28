//! The fake provider's state and rules, free of HTTP: clients, accounts, codes and tokens, and
//! what the tests inject. Each endpoint is one function from a request to a `Reply`, as strict as
//! Google's and Microsoft's: exact redirect URIs, PKCE S256, client authentication, single-use
//! codes that expire, refresh-token rotation and revocation.

use std::collections::{BTreeMap, HashMap, VecDeque};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::jwt;
use crate::secrets;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Google,
    Microsoft,
}

pub struct Client {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
}

#[derive(Clone)]
pub struct Account {
    pub sub: String,
    pub email: String,
}

/// What the user does on the consent page.
#[derive(Clone)]
pub enum Consent {
    Allow { email: String },
    Refuse { error: String, description: String },
}

/// A failure the next token request gets instead of its answer.
#[derive(Clone)]
pub enum Injected {
    /// An OAuth error JSON with HTTP 400.
    Error { error: String, description: String },
    /// A bare status (429, 503, ...) with an optional Retry-After and an HTML body.
    Status {
        status: u16,
        retry_after: Option<u32>,
    },
    /// HTTP 200 with this body and content type.
    Raw { content_type: String, body: String },
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    offline: bool,
    account: Account,
    issued_at: i64,
    used: bool,
    refresh_token: Option<String>,
}

struct RefreshGrant {
    client_id: String,
    account: Account,
    scopes: Vec<String>,
    active: bool,
}

struct AccessGrant {
    account: Account,
    expires_at: i64,
    active: bool,
    refresh_token: Option<String>,
}

/// An HTTP answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    fn json(status: u16, value: serde_json::Value) -> Self {
        Reply {
            status,
            headers: vec![
                (
                    "Content-Type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("Cache-Control".into(), "no-store".into()),
            ],
            body: value.to_string(),
        }
    }

    fn oauth_error(status: u16, error: &str, description: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({ "error": error, "error_description": description }),
        )
    }

    fn page(status: u16, text: &str) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: format!("<html><body><h1>{text}</h1></body></html>"),
        }
    }

    fn redirect(location: String) -> Self {
        Reply {
            status: 302,
            headers: vec![("Location".into(), location)],
            body: String::new(),
        }
    }
}

pub struct World {
    pub flavour: Flavour,
    pub issuer: String,
    pub clients: Vec<Client>,
    pub accounts: Vec<Account>,
    pub consents: VecDeque<Consent>,
    pub token_failures: VecDeque<Injected>,
    pub revoke_failures: VecDeque<u16>,
    pub rotate_refresh_tokens: bool,
    pub access_token_seconds: i64,
    pub code_seconds: i64,
    pub issue_id_token: bool,
    pub reject_userinfo: u32,
    pub clock_offset: i64,
    /// For each refresh request, whether it repeated `scope`.
    pub refresh_scope_shapes: Vec<bool>,
    /// Tokens revoked through the revocation endpoint.
    pub revoked: Vec<String>,
    /// Where token requests wait, when a test holds them.
    pub token_gate: Option<super::TokenGate>,
    /// Show a consent page (choose an account, Allow or Cancel) as the real providers do,
    /// instead of answering with the queued consent at once.
    pub interactive: bool,
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    access_tokens: HashMap<String, AccessGrant>,
}

fn random_token(prefix: &str) -> String {
    let bytes: [u8; 24] = rand::random();
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    secrets::issued(&token);
    token
}

/// Whether `asked` is the registered redirect URI: exactly, or, for an `http` loopback address,
/// on any port (as Google and Microsoft allow native apps, RFC 8252 7.3).
fn same_redirect(registered: &str, asked: &str) -> bool {
    if registered == asked {
        return true;
    }
    let (Ok(mut registered), Ok(mut asked)) = (url::Url::parse(registered), url::Url::parse(asked))
    else {
        return false;
    };
    let loopback = matches!(
        registered.host_str(),
        Some("127.0.0.1" | "[::1]" | "localhost")
    );
    if registered.scheme() != "http" || !loopback {
        return false;
    }
    let _ = registered.set_port(None);
    let _ = asked.set_port(None);
    registered == asked
}

/// One parameter of a form or query, refusing repeats (RFC 6749 3.1, 3.2).
fn single(params: &[(String, String)], name: &str) -> Result<Option<String>, String> {
    let mut values = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone());
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("parameter {name} repeated"));
    }
    Ok(first)
}

impl World {
    pub fn new(flavour: Flavour, issuer: String) -> Self {
        World {
            flavour,
            issuer,
            clients: Vec::new(),
            accounts: Vec::new(),
            consents: VecDeque::new(),
            token_failures: VecDeque::new(),
            revoke_failures: VecDeque::new(),
            rotate_refresh_tokens: flavour == Flavour::Microsoft,
            access_token_seconds: 3600,
            code_seconds: 60,
            issue_id_token: true,
            reject_userinfo: 0,
            clock_offset: 0,
            refresh_scope_shapes: Vec::new(),
            revoked: Vec::new(),
            token_gate: None,
            interactive: false,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
        }
    }

    pub fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
            + self.clock_offset
    }

    fn required_scopes(&self) -> &'static [&'static str] {
        match self.flavour {
            Flavour::Google => &["https://mail.google.com/"],
            Flavour::Microsoft => &["https://outlook.office.com/IMAP.AccessAsUser.All"],
        }
    }

    /// `GET /authorize`: a redirect with a code or an error, or an error page when the client or
    /// redirect URI is wrong (the provider must not redirect to an unregistered URI).
    pub fn authorize(&mut self, query: &[(String, String)]) -> Reply {
        self.authorize_after(query, false)
    }

    /// `POST /authorize/decide`: the consent page's answer (`account`, `choice` allow or cancel,
    /// and the original request's `query`).
    pub fn decide(&mut self, form: &[(String, String)]) -> Reply {
        let get = |n: &str| single(form, n).ok().flatten().unwrap_or_default();
        let query: Vec<(String, String)> = url::form_urlencoded::parse(get("query").as_bytes())
            .into_owned()
            .collect();
        let consent = match get("choice").as_str() {
            "allow" => Consent::Allow {
                email: get("account"),
            },
            _ => Consent::Refuse {
                error: "access_denied".into(),
                description: "The user cancelled.".into(),
            },
        };
        self.consents.push_front(consent);
        self.authorize_after(&query, true)
    }

    fn authorize_after(&mut self, query: &[(String, String)], decided: bool) -> Reply {
        let get = |n: &str| single(query, n).ok().flatten().unwrap_or_default();
        let Some(client) = self.clients.iter().find(|c| c.id == get("client_id")) else {
            return Reply::page(400, "Error 401: invalid_client");
        };
        let redirect_uri = get("redirect_uri");
        if !client
            .redirect_uris
            .iter()
            .any(|r| same_redirect(r, &redirect_uri))
        {
            return Reply::page(400, "Error 400: redirect_uri_mismatch");
        }
        let state = get("state");
        let back = |pairs: Vec<(&str, String)>| {
            let mut url = url::Url::parse(&redirect_uri).expect("registered URIs parse");
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, &v);
                }
                if !state.is_empty() {
                    q.append_pair("state", &state);
                }
                // Google names itself in authorization responses (RFC 9207); Microsoft does not.
                if self.flavour == Flavour::Google {
                    q.append_pair("iss", &self.issuer);
                }
            }
            Reply::redirect(url.to_string())
        };
        let refuse = |error: &str, description: &str| {
            back(vec![
                ("error", error.to_string()),
                ("error_description", description.to_string()),
            ])
        };
        if query
            .iter()
            .map(|(k, _)| k)
            .collect::<std::collections::HashSet<_>>()
            .len()
            != query.len()
        {
            return refuse("invalid_request", "A parameter was repeated.");
        }
        if get("response_type") != "code" {
            return refuse("unsupported_response_type", "Only code is supported.");
        }
        let challenge = get("code_challenge");
        if get("code_challenge_method") != "S256" || challenge.len() != 43 {
            return refuse("invalid_request", "PKCE with S256 is required.");
        }
        let scopes: Vec<String> = get("scope").split(' ').map(str::to_string).collect();
        if let Some(missing) = self
            .required_scopes()
            .iter()
            .find(|s| !scopes.iter().any(|g| g == *s))
        {
            return refuse("invalid_scope", &format!("Missing scope {missing}."));
        }
        let offline = match self.flavour {
            Flavour::Google => get("access_type") == "offline",
            Flavour::Microsoft => scopes.iter().any(|s| s == "offline_access"),
        };
        // A queued refusal is the provider's own verdict (a domain policy, say), shown at once.
        let refusal_queued = matches!(self.consents.front(), Some(Consent::Refuse { .. }));
        if self.interactive && !decided && !refusal_queued {
            return Reply {
                status: 200,
                headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
                body: super::consent_page::render(self.flavour, &self.accounts, query),
            };
        }
        let hinted = self
            .accounts
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(&get("login_hint")))
            .or(self.accounts.first())
            .cloned();
        let consent = self.consents.pop_front().unwrap_or(Consent::Allow {
            email: hinted.map(|a| a.email).unwrap_or_default(),
        });
        let account = match consent {
            Consent::Refuse { error, description } => return refuse(&error, &description),
            Consent::Allow { email } => match self.accounts.iter().find(|a| a.email == email) {
                Some(a) => a.clone(),
                None => return refuse("access_denied", "No such account."),
            },
        };
        let code = random_token("fake-code-");
        self.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: client.id.clone(),
                redirect_uri: redirect_uri.clone(),
                challenge,
                scopes,
                offline,
                account,
                issued_at: self.now(),
                used: false,
                refresh_token: None,
            },
        );
        back(vec![("code", code)])
    }

    /// The client a token or revocation request authenticated as: HTTP Basic (with form-encoded
    /// id and secret, RFC 6749 2.3.1) or the body's `client_id` and `client_secret`.
    fn authenticate(
        &self,
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Option<String> {
        let (id, secret) = match authorization.and_then(|h| h.strip_prefix("Basic ")) {
            Some(encoded) => {
                let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
                let (id, secret) = decoded.split_once(':')?;
                let unescape = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                };
                (unescape(id)?, Some(unescape(secret)?))
            }
            None => (
                single(form, "client_id").ok()??,
                single(form, "client_secret").ok()?,
            ),
        };
        let client = self.clients.iter().find(|c| c.id == id)?;
        match (&client.secret, secret) {
            (Some(expected), Some(given)) if *expected == given => Some(id),
            (None, None) => Some(id),
            _ => None,
        }
    }

    /// `POST /token`.
    pub fn token(
        &mut self,
        content_type: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Reply {
        if let Some(injected) = self.token_failures.pop_front() {
            return match injected {
                Injected::Error { error, description } => {
                    Reply::oauth_error(400, &error, &description)
                }
                Injected::Status {
                    status,
                    retry_after,
                } => {
                    let mut reply = Reply::page(status, "Try again later");
                    if let Some(seconds) = retry_after {
                        reply
                            .headers
                            .push(("Retry-After".into(), seconds.to_string()));
                    }
                    reply
                }
                Injected::Raw { content_type, body } => Reply {
                    status: 200,
                    headers: vec![("Content-Type".into(), content_type)],
                    body,
                },
            };
        }
        if !content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
            return Reply::oauth_error(400, "invalid_request", "Form body required.");
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let Some(client_id) = self.authenticate(authorization, &form) else {
            return Reply::oauth_error(401, "invalid_client", "The OAuth client was not found.");
        };
        let grant_type = single(&form, "grant_type");
        match grant_type.as_ref().map(|g| g.as_deref()) {
            Ok(Some("authorization_code")) => self.exchange_code(&client_id, &form),
            Ok(Some("refresh_token")) => self.refresh(&client_id, &form),
            _ => Reply::oauth_error(400, "unsupported_grant_type", "Invalid grant_type."),
        }
    }

    fn exchange_code(&mut self, client_id: &str, form: &[(String, String)]) -> Reply {
        let bad = |d: &str| Reply::oauth_error(400, "invalid_grant", d);
        let Ok(Some(code)) = single(form, "code") else {
            return Reply::oauth_error(400, "invalid_request", "Missing code.");
        };
        let now = self.now();
        let code_seconds = self.code_seconds;
        let Some(grant) = self.codes.get_mut(&code) else {
            return bad("Malformed auth code.");
        };
        if grant.used {
            // A code replayed: what it issued is revoked (RFC 6749 10.5).
            if let Some(rt) = grant.refresh_token.clone() {
                self.revoke_refresh(&rt);
            }
            return bad("Code was already redeemed.");
        }
        grant.used = true;
        if now > grant.issued_at + code_seconds {
            return bad("Code expired.");
        }
        if grant.client_id != client_id {
            return bad("Code was issued to another client.");
        }
        if single(form, "redirect_uri").ok().flatten().as_deref()
            != Some(grant.redirect_uri.as_str())
        {
            return bad("redirect_uri does not match the authorization request.");
        }
        let verifier = single(form, "code_verifier")
            .ok()
            .flatten()
            .unwrap_or_default();
        // The client's PKCE verifier is a secret too: it must never show.
        if !verifier.is_empty() {
            secrets::issued(&verifier);
        }
        let valid_verifier = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !valid_verifier
            || URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge
        {
            return bad("Invalid code verifier.");
        }
        let (account, scopes, offline) =
            (grant.account.clone(), grant.scopes.clone(), grant.offline);
        let refresh_token = offline.then(|| random_token("fake-rt-"));
        if let Some(grant) = self.codes.get_mut(&code) {
            grant.refresh_token = refresh_token.clone();
        }
        if let Some(rt) = &refresh_token {
            self.refresh_tokens.insert(
                rt.clone(),
                RefreshGrant {
                    client_id: client_id.to_string(),
                    account: account.clone(),
                    scopes: scopes.clone(),
                    active: true,
                },
            );
        }
        let id_token = (self.issue_id_token && scopes.iter().any(|s| s == "openid"))
            .then(|| jwt::id_token(self.flavour, &self.issuer, client_id, &account, now));
        self.token_answer(&account, refresh_token, id_token, &scopes)
    }

    fn refresh(&mut self, client_id: &str, form: &[(String, String)]) -> Reply {
        let Ok(Some(token)) = single(form, "refresh_token") else {
            return Reply::oauth_error(400, "invalid_request", "Missing refresh_token.");
        };
        let asked = single(form, "scope").ok().flatten();
        self.refresh_scope_shapes.push(asked.is_some());
        let Some(grant) = self.refresh_tokens.get(&token).filter(|g| g.active) else {
            return Reply::oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
        };
        if grant.client_id != client_id {
            return Reply::oauth_error(400, "invalid_grant", "Token was issued to another client.");
        }
        if let Some(asked) = &asked
            && asked
                .split(' ')
                .any(|s| !grant.scopes.iter().any(|g| g == s))
        {
            return Reply::oauth_error(400, "invalid_scope", "Scope exceeds the original grant.");
        }
        let (account, scopes) = (grant.account.clone(), grant.scopes.clone());
        let rotated = self.rotate_refresh_tokens.then(|| {
            let new = random_token("fake-rt-");
            if let Some(old) = self.refresh_tokens.get_mut(&token) {
                old.active = false;
            }
            self.refresh_tokens.insert(
                new.clone(),
                RefreshGrant {
                    client_id: client_id.to_string(),
                    account: account.clone(),
                    scopes: scopes.clone(),
                    active: true,
                },
            );
            new
        });
        self.token_answer(&account, rotated, None, &scopes)
    }

    fn token_answer(
        &mut self,
        account: &Account,
        refresh_token: Option<String>,
        id_token: Option<String>,
        scopes: &[String],
    ) -> Reply {
        let access = random_token("fake-at-");
        self.access_tokens.insert(
            access.clone(),
            AccessGrant {
                account: account.clone(),
                expires_at: self.now() + self.access_token_seconds,
                active: true,
                refresh_token: refresh_token.clone(),
            },
        );
        let mut body = BTreeMap::from([
            ("access_token", serde_json::json!(access)),
            ("token_type", serde_json::json!("Bearer")),
            ("expires_in", serde_json::json!(self.access_token_seconds)),
            ("scope", serde_json::json!(scopes.join(" "))),
        ]);
        if let Some(rt) = refresh_token {
            body.insert("refresh_token", serde_json::json!(rt));
        }
        if let Some(id) = id_token {
            body.insert("id_token", serde_json::json!(id));
        }
        Reply::json(200, serde_json::json!(body))
    }

    fn revoke_refresh(&mut self, token: &str) {
        if let Some(g) = self.refresh_tokens.get_mut(token) {
            g.active = false;
        }
        for g in self.access_tokens.values_mut() {
            if g.refresh_token.as_deref() == Some(token) {
                g.active = false;
            }
        }
    }

    /// `POST /revoke` (Google's; Microsoft has none for this flow).
    pub fn revoke(&mut self, body: &[u8]) -> Reply {
        if let Some(status) = self.revoke_failures.pop_front() {
            return Reply::page(status, "Unavailable");
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let Ok(Some(token)) = single(&form, "token") else {
            return Reply::oauth_error(400, "invalid_request", "Missing token.");
        };
        if self.refresh_tokens.contains_key(&token) {
            self.revoke_refresh(&token);
        } else if let Some(g) = self.access_tokens.get_mut(&token) {
            g.active = false;
        } else {
            return Reply::oauth_error(400, "invalid_token", "Token expired or revoked.");
        }
        self.revoked.push(token);
        Reply::json(200, serde_json::json!({}))
    }

    fn live_access(&self, token: &str) -> Option<&Account> {
        let now = self.now();
        self.access_tokens
            .get(token)
            .filter(|g| g.active && g.expires_at > now)
            .map(|g| &g.account)
    }

    /// `GET /userinfo` with a bearer token.
    pub fn userinfo(&mut self, authorization: Option<&str>) -> Reply {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if self.reject_userinfo > 0 {
            self.reject_userinfo -= 1;
            return Reply::oauth_error(401, "invalid_token", "Invalid Credentials");
        }
        match self.live_access(token) {
            Some(a) => Reply::json(
                200,
                serde_json::json!({ "sub": a.sub, "email": a.email, "email_verified": true }),
            ),
            None => Reply::oauth_error(401, "invalid_token", "Invalid Credentials"),
        }
    }

    /// `POST /introspect` in the shape Dovecot's oauth2 passdb reads.
    pub fn introspect(&self, body: &[u8]) -> Reply {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let token = single(&form, "token").ok().flatten().unwrap_or_default();
        match self.live_access(&token) {
            Some(a) => Reply::json(200, serde_json::json!({ "active": true, "email": a.email })),
            None => Reply::json(200, serde_json::json!({ "active": false })),
        }
    }

    /// Every access token issued so far stops working (as after their hour); refresh tokens stay.
    pub fn expire_access_tokens(&mut self) {
        for g in self.access_tokens.values_mut() {
            g.active = false;
        }
    }

    /// The user revokes the app's access: every token of `email` stops working.
    pub fn revoke_account(&mut self, email: &str) {
        for token in self.active_refresh_tokens(email) {
            self.revoke_refresh(&token);
        }
        for g in self.access_tokens.values_mut() {
            if g.account.email == email {
                g.active = false;
            }
        }
    }

    /// Whether `token` is a refresh token the provider still honours.
    pub fn refresh_token_active(&self, token: &str) -> bool {
        self.refresh_tokens.get(token).is_some_and(|g| g.active)
    }

    /// The refresh tokens still active for `email`.
    pub fn active_refresh_tokens(&self, email: &str) -> Vec<String> {
        self.refresh_tokens
            .iter()
            .filter(|(_, g)| g.active && g.account.email == email)
            .map(|(t, _)| t.clone())
            .collect()
    }
}
