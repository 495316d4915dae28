//! A test double of Google's and Microsoft's OAuth2 endpoints over HTTPS on loopback, since
//! neither is reachable here: authorize, token, revoke, userinfo, and introspection for Dovecot.

mod consent_page;
mod gate;
mod jwt;
mod world;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::secrets;
use crate::tls_server::TestPki;
pub use gate::TokenGate;
pub use world::{Account, Client, Consent, Flavour, Injected, Reply, World};

#[derive(Clone)]
pub struct FakeProvider {
    pub base_url: String,
    /// Plain HTTP on loopback, for Dovecot's oauth2 passdb (server to server).
    pub introspection_url: String,
    /// The consent page over plain HTTP on loopback, for a browser that does not trust the
    /// test CA (`authorize` in the settings, when a browser takes part).
    pub browser_authorize_url: String,
    world: Arc<Mutex<World>>,
}

type Shared = Arc<Mutex<World>>;

impl FakeProvider {
    /// Serves a provider of `flavour` over HTTPS with `pki`'s certificate, on a free port.
    pub async fn start(flavour: Flavour, pki: &TestPki) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local address").port();
        let base_url = format!("https://127.0.0.1:{port}");
        let world = Arc::new(Mutex::new(World::new(flavour, base_url.clone())));
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/authorize/decide", post(decide))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .route("/userinfo", get(userinfo))
            .route("/introspect", post(introspect))
            .with_state(world.clone());
        let plain = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let introspection_url = format!(
            "http://127.0.0.1:{}/introspect",
            plain.local_addr().expect("local address").port()
        );
        let browser_authorize_url = format!(
            "http://127.0.0.1:{}/authorize",
            plain.local_addr().expect("local address").port()
        );
        let plain_app = Router::new()
            .route("/introspect", post(introspect))
            .route("/authorize", get(authorize))
            .route("/authorize/decide", post(decide))
            .with_state(world.clone());
        tokio::spawn(async move {
            let _ = axum::serve(plain, plain_app).await;
        });
        let acceptor = pki.acceptor();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        FakeProvider {
            base_url,
            introspection_url,
            browser_authorize_url,
            world,
        }
    }

    /// The provider's state and knobs, to arrange a test or inspect what happened.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a client; its secret is remembered as one the suite must never show.
    pub fn register_client(&self, id: &str, secret: Option<&str>, redirect_uri: &str) {
        if let Some(s) = secret {
            secrets::issued(s);
        }
        self.world().clients.push(Client {
            id: id.into(),
            secret: secret.map(str::to_string),
            redirect_uris: vec![redirect_uri.into()],
        });
    }

    /// From now on, token requests wait at a gate until the test opens it.
    pub fn hold_token_requests(&self) -> TokenGate {
        let gate = TokenGate::closed();
        self.world().token_gate = Some(gate.clone());
        gate
    }

    pub fn add_account(&self, sub: &str, email: &str) {
        self.world().accounts.push(Account {
            sub: sub.into(),
            email: email.into(),
        });
    }

    /// The endpoint overrides that point a provider's settings here.
    pub fn endpoints(&self, imap: &str) -> BTreeMap<String, String> {
        let flavour = self.world().flavour;
        let mut e = BTreeMap::from([
            (
                "authorize".to_string(),
                format!("{}/authorize", self.base_url),
            ),
            ("token".to_string(), format!("{}/token", self.base_url)),
            ("imap".to_string(), imap.to_string()),
            ("issuer".to_string(), self.world().issuer.clone()),
        ]);
        if flavour == Flavour::Google {
            e.insert("revoke".into(), format!("{}/revoke", self.base_url));
            e.insert("userinfo".into(), format!("{}/userinfo", self.base_url));
        }
        e
    }
}

fn respond(reply: Reply) -> Response {
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            header::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

fn header_of(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn authorize(State(world): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    respond(lock(&world).authorize(&query))
}

async fn decide(State(world): State<Shared>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    respond(lock(&world).decide(&form))
}

async fn token(State(world): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let gate = lock(&world).token_gate.clone();
    if let Some(gate) = gate {
        gate.pass().await;
    }
    respond(lock(&world).token(
        header_of(&headers, header::CONTENT_TYPE),
        header_of(&headers, header::AUTHORIZATION),
        &body,
    ))
}

async fn revoke(State(world): State<Shared>, body: Bytes) -> Response {
    respond(lock(&world).revoke(&body))
}

async fn userinfo(State(world): State<Shared>, headers: HeaderMap) -> Response {
    respond(lock(&world).userinfo(header_of(&headers, header::AUTHORIZATION)))
}

async fn introspect(State(world): State<Shared>, body: Bytes) -> Response {
    respond(lock(&world).introspect(&body))
}
