//! The service as the tests drive it over HTTP: its settings on a free loopback port, the
//! platform's bearer token, and a browser-less panel client (a ticket, the "Continue as …"
//! form, the session's cookie and CSRF token).

use host_harness::service::ServiceSettings;

/// The platform's bearer token in the tests.
pub const PLATFORM_TOKEN: &str = "platform-token-0123456789";

/// The service's settings for a test: a free loopback port, the platform's token, an hour
/// between scheduled passes and no push (a test that wants push switches it on).
pub fn service_settings() -> ServiceSettings {
    let mut config = ServiceSettings::from_table(&toml::Table::new()).expect("defaults");
    config.listen = "127.0.0.1:0".parse().expect("an address");
    config.api_token = Some(PLATFORM_TOKEN.into());
    config.schedule.interval_secs = 3600;
    config.push = false;
    config
}

/// The platform asks `base` for a sign-in link for `user`, who manages `mailbox`: its path.
pub async fn login_path(base: &str, user: &str, mailbox: &str, admin: bool) -> String {
    let link: serde_json::Value = crate::http_client()
        .post(format!("{base}/api/v1/panel/sessions"))
        .bearer_auth(PLATFORM_TOKEN)
        .json(&serde_json::json!({ "user": user, "mailbox": mailbox, "admin": admin }))
        .send()
        .await
        .expect("the platform asks for a sign-in link")
        .json()
        .await
        .expect("a sign-in link");
    link["login_path"]
        .as_str()
        .expect("a login path")
        .to_string()
}

/// A signed-in browser: its session cookie and CSRF token.
pub struct Signed {
    pub cookie: String,
    pub csrf: String,
}

/// Signs `user` in for `mailbox` at `base`, as the platform and a browser would.
pub async fn sign_in(base: &str, user: &str, mailbox: &str, admin: bool) -> Signed {
    let path = login_path(base, user, mailbox, admin).await;
    let (answer, cookie) = crate::panel_sign_in(base, &path).await;
    assert_eq!(answer.status(), reqwest::StatusCode::SEE_OTHER, "signed in");
    Signed::with_cookie(base, cookie).await
}

impl Signed {
    /// The session a cookie names, with its CSRF token.
    pub async fn with_cookie(base: &str, cookie: String) -> Signed {
        let session: serde_json::Value = crate::http_client()
            .get(format!("{base}/panel/session"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("the session")
            .json()
            .await
            .expect("its JSON");
        let csrf = session["csrf"].as_str().expect("a CSRF token").to_string();
        Signed { cookie, csrf }
    }

    /// A request that carries the session's cookie only.
    pub fn reading(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
    ) -> reqwest::RequestBuilder {
        crate::http_client()
            .request(method, url)
            .header("cookie", &self.cookie)
    }

    /// A request that carries the cookie and repeats the session's CSRF token.
    pub fn changing(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
    ) -> reqwest::RequestBuilder {
        self.reading(method, url).header("x-csrf-token", &self.csrf)
    }
}
