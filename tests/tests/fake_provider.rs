//! The fake provider is as strict as the real ones: these tests talk to it directly over HTTPS,
//! the way the plugin would, and check that it refuses what Google and Microsoft refuse.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tests::fake_provider::{FakeProvider, Flavour};
use tests::tls_server::TestPki;

const REDIRECT: &str = "http://127.0.0.1:8765/cb";
const VERIFIER: &str = "verifier-verifier-verifier-verifier-verifier-0123";

struct Fake {
    _pki: TestPki,
    provider: FakeProvider,
    http: reqwest::Client,
}

async fn fake(flavour: Flavour) -> Fake {
    let pki = TestPki::new();
    let provider = FakeProvider::start(flavour, &pki).await;
    provider.register_client("client-1", Some("fake-secret-strict"), REDIRECT);
    provider.add_account("s1", "anna@example.nl");
    let tls = host_harness::tls::client_config(std::slice::from_ref(&pki.ca_pem)).unwrap();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Fake {
        _pki: pki,
        provider,
        http,
    }
}

impl Fake {
    async fn authorize(&self, redirect: &str, scope: &str) -> reqwest::Response {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
        let url = url::Url::parse_with_params(
            &format!("{}/authorize", self.provider.base_url),
            &[
                ("response_type", "code"),
                ("client_id", "client-1"),
                ("redirect_uri", redirect),
                ("scope", scope),
                ("state", "st"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("access_type", "offline"),
            ],
        )
        .unwrap();
        self.http.get(url).send().await.unwrap()
    }

    async fn code(&self) -> String {
        let response = self
            .authorize(REDIRECT, "https://mail.google.com/ openid email")
            .await;
        assert_eq!(response.status(), 302);
        let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code")
    }

    async fn token(&self, form: &[(&str, &str)], secret: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(format!("{}/token", self.provider.base_url))
            .basic_auth("client-1", Some(secret))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    async fn exchange(&self, code: &str, verifier: &str) -> (u16, serde_json::Value) {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
            "fake-secret-strict",
        )
        .await
    }
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let f = fake(Flavour::Google).await;
    let response = f
        .authorize("http://127.0.0.1:9999/evil", "https://mail.google.com/")
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn a_loopback_redirect_may_take_any_port_and_nothing_else_may_change() {
    let f = fake(Flavour::Google).await;
    let scope = "https://mail.google.com/";
    // RFC 8252 (7.3): a native app's loopback redirect is accepted on any port...
    let response = f.authorize("http://127.0.0.1:49152/cb", scope).await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:49152/cb?"),
        "{location}"
    );
    // ...but not on another path, scheme or host.
    for other in [
        "http://127.0.0.1:49152/evil",
        "https://127.0.0.1:8765/cb",
        "http://127.0.0.2:8765/cb",
    ] {
        let response = f.authorize(other, scope).await;
        assert_eq!(response.status(), 400, "{other}");
        assert!(response.headers().get("location").is_none(), "{other}");
    }
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_and_the_code_is_then_spent() {
    let f = fake(Flavour::Google).await;
    let code = f.code().await;
    let wrong = "wrong-wrong-wrong-wrong-wrong-wrong-wrong-wrong-0";
    let (status, body) = f.exchange(&code, wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = f.exchange(&code, VERIFIER).await;
    assert_eq!(status, 400, "a code is tried once");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let f = fake(Flavour::Google).await;
    let code = f.code().await;
    let (status, body) = f.exchange(&code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert!(body["id_token"].is_string());
    let (status, body) = f.exchange(&code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(!f.provider.world().refresh_token_active(&refresh));
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let f = fake(Flavour::Google).await;
    let code = f.code().await;
    let (status, body) = f
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            "not-the-secret",
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn a_refresh_is_answered_with_or_without_the_scope_but_never_beyond_the_grant() {
    let f = fake(Flavour::Microsoft).await;
    f.provider.world().accounts[0].email = "anna@contoso.com".into();
    let scope = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid email";
    let response = f.authorize(REDIRECT, scope).await;
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let (_, body) = f.exchange(&code, VERIFIER).await;
    let mut refresh = body["refresh_token"]
        .as_str()
        .expect("offline_access")
        .to_string();
    for form_scope in [Some(scope), None] {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        if let Some(s) = form_scope {
            form.push(("scope", s));
        }
        let (status, body) = f.token(&form, "fake-secret-strict").await;
        assert_eq!(status, 200, "{body}");
        let rotated = body["refresh_token"].as_str().expect("rotated").to_string();
        let (status, _) = f
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                "fake-secret-strict",
            )
            .await;
        assert_eq!(status, 400, "the rotated-out token is dead");
        refresh = rotated;
    }
    let (status, body) = f
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "https://graph.microsoft.com/Mail.Read"),
            ],
            "fake-secret-strict",
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert_eq!(
        f.provider.world().refresh_scope_shapes,
        [true, false, false, false, true]
    );
}

#[tokio::test]
async fn introspection_answers_in_dovecots_format() {
    let f = fake(Flavour::Google).await;
    let code = f.code().await;
    let (_, body) = f.exchange(&code, VERIFIER).await;
    let access = body["access_token"].as_str().unwrap();
    let introspect = |token: String| {
        let http = f.http.clone();
        let url = format!("{}/introspect", f.provider.base_url);
        async move {
            let r = http
                .post(url)
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            serde_json::from_str::<serde_json::Value>(&r.text().await.unwrap()).unwrap()
        }
    };
    let answer = introspect(access.to_string()).await;
    assert_eq!(
        answer,
        serde_json::json!({"active": true, "email": "anna@example.nl"})
    );
    let answer = introspect("fake-at-unknown".into()).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
}
