//! The panel's sessions against a login CSRF and their ends: a ticket link only asks ("Continue
//! as …") and signs in by a same-origin POST; a link attempt is completed only in the browser
//! session that started it, not in another (not even the same CRM user's); sign-out ends the
//! session on the server, and its event stream with it; streams are capped per session.

use std::time::Duration;

use host_harness::bindings::mailbox::LinkState;
use host_harness::service::{self, RunningService};
use reqwest::StatusCode;
use tests::oauth_world::OAuthWorld;
use tests::panel_client::{Signed, login_path, service_settings, sign_in};
use tokio_util::sync::CancellationToken;

async fn serve(w: &OAuthWorld) -> (RunningService, CancellationToken, String) {
    let mut config = service_settings();
    config.http.max_streams_per_session = 2;
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), config, stop.clone())
        .await
        .expect("the service starts");
    let base = format!("http://{}", running.address);
    (running, stop, base)
}

/// What the attacker's and the victim's browsers do with a link attempt.
trait LinkAttempts {
    /// "Link mailbox" through Google for the account `hint`: the consent URL.
    async fn start_link(&self, base: &str, mailbox: &str, hint: &str) -> String;
    async fn callback(&self, base: &str, query: &[(String, String)]) -> (StatusCode, String);
}

impl LinkAttempts for Signed {
    async fn start_link(&self, base: &str, mailbox: &str, hint: &str) -> String {
        let started: serde_json::Value = tests::http_client()
            .post(format!("{base}/api/v1/mailboxes/{mailbox}/link"))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&serde_json::json!({ "provider": "google", "login_hint": hint }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        started["authorization_url"]
            .as_str()
            .expect("a consent URL")
            .to_string()
    }

    /// The provider's redirect, arriving in this session's browser.
    async fn callback(&self, base: &str, query: &[(String, String)]) -> (StatusCode, String) {
        let answer = tests::http_client()
            .get(format!("{base}/oauth/callback"))
            .query(query)
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (answer.status(), answer.text().await.unwrap())
    }
}

#[tokio::test]
async fn a_sign_in_link_only_asks_and_signs_in_from_its_own_page_alone() {
    let w = OAuthWorld::start().await;
    let (running, stop, base) = serve(&w).await;
    let http = tests::http_client();
    let path = login_path(&base, "mallory", "m-mallory", false).await;
    let ticket_value = path.split_once("ticket=").unwrap().1.to_string();

    // Opening the link signs nobody in: it says whose sign-in it is.
    let page = http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get("set-cookie").is_none());
    let text = page.text().await.unwrap();
    assert!(
        text.contains("<strong>mallory</strong>") && text.contains("id=\"continue\""),
        "{text}"
    );

    // Another site's form, or a client that says no origin, is refused; the ticket stays.
    for origin in [Some("http://evil.example"), Some("null"), None] {
        let mut post = http
            .post(format!("{base}/panel/login"))
            .form(&[("ticket", ticket_value.as_str())]);
        if let Some(origin) = origin {
            post = post.header("origin", origin);
        }
        let refused = post.send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "origin {origin:?}");
        assert!(refused.headers().get("set-cookie").is_none());
    }
    let cross_site = http
        .post(format!("{base}/panel/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("ticket", ticket_value.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);

    // A browser signed in as someone else is told that continuing replaces that sign-in.
    let anna = sign_in(&base, "anna", "m1", false).await;
    let page = http
        .get(format!("{base}{path}"))
        .header("cookie", &anna.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"login-replaces\"") && page.contains("<strong>anna</strong>"),
        "{page}"
    );

    // From its own page, the ticket signs in (once), and ends the session the browser had.
    let signed_in = http
        .post(format!("{base}/panel/login"))
        .header("origin", &base)
        .header("cookie", &anna.cookie)
        .form(&[("ticket", ticket_value.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Max-Age=43200"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on loopback: {cookie}"
    );
    let anna_now = http
        .get(format!("{base}/panel/session"))
        .header("cookie", &anna.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        anna_now.status(),
        StatusCode::UNAUTHORIZED,
        "replaced, not kept"
    );
    let again = http
        .post(format!("{base}/panel/login"))
        .header("origin", &base)
        .form(&[("ticket", ticket_value.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "a ticket works once"
    );
    stop.cancel();
    running.stopped().await.unwrap();
}

#[tokio::test]
async fn a_link_started_in_one_browser_session_completes_in_that_session_only() {
    let w = OAuthWorld::start().await;
    w.google.add_account("g-victim", "victim@example.nl");
    let (running, stop, base) = serve(&w).await;

    // Mallory starts a link for her own CRM mailbox, and has the victim's browser consent.
    let mallory = sign_in(&base, "mallory", "m-mallory", false).await;
    let url = mallory
        .start_link(&base, "m-mallory", "victim@example.nl")
        .await;
    let query = w.consent(&url).await;
    // In the victim's browser, signed in as the victim, or even as Mallory through another
    // sign-in link: refused, nothing exchanged, nothing linked.
    let victim = sign_in(&base, "victim", "m-victim", false).await;
    let mallory_elsewhere = sign_in(&base, "mallory", "m-mallory", false).await;
    for (whose, browser) in [("victim's", &victim), ("second", &mallory_elsewhere)] {
        let (status, page) = browser.callback(&base, &query).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{whose} session: {page}");
        assert!(
            page.contains("data-outcome=\"other-session\"")
                && page.contains("started in another browser"),
            "{page}"
        );
    }
    // Nor through the API's completion, with the other session's own CSRF token.
    let completed = tests::http_client()
        .post(format!("{base}/api/v1/mailboxes/m-mallory/link/complete"))
        .header("cookie", &mallory_elsewhere.cookie)
        .header("x-csrf-token", &mallory_elsewhere.csrf)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap();
    assert_eq!(completed.status(), StatusCode::FORBIDDEN);
    for mailbox in ["m-mallory", "m-victim"] {
        assert_eq!(
            w.status(mailbox).await.state,
            LinkState::Unlinked,
            "{mailbox}"
        );
    }

    // The session that started it completes it: the normal flow still links.
    let (status, page) = mallory.callback(&base, &query).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("victim@example.nl is linked"), "{page}");
    assert_eq!(w.status("m-mallory").await.state, LinkState::Linked);
    stop.cancel();
    running.stopped().await.unwrap();
}

#[tokio::test]
async fn sign_out_ends_the_session_everywhere_and_its_event_stream_with_it() {
    let w = OAuthWorld::start().await;
    let (running, stop, base) = serve(&w).await;
    let http = tests::http_client();
    let anna = sign_in(&base, "anna", "m1", false).await;
    let stream_url = format!("{base}/api/v1/events/stream");
    let open_stream = || http.get(&stream_url).header("cookie", &anna.cookie).send();

    // Two streams fit this session; a third is refused with when to try again.
    let mut first = open_stream().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = open_stream().await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let third = open_stream().await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    drop(second);

    // Sign-out needs the session's CSRF token, like every change.
    let logout = format!("{base}/panel/logout");
    let forged = http
        .post(&logout)
        .header("cookie", &anna.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let out = http
        .post(&logout)
        .header("cookie", &anna.cookie)
        .header("x-csrf-token", &anna.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let status = http
        .get(format!("{base}/api/v1/mailboxes/m1"))
        .header("cookie", &anna.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.status(),
        StatusCode::UNAUTHORIZED,
        "the server forgot it"
    );

    // The open stream ends within its re-check (15 s), not with the service.
    let ended = tokio::time::timeout(Duration::from_secs(40), async {
        while let Ok(Some(_)) = first.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its session");
    assert!(!stop.is_cancelled());
    stop.cancel();
    running.stopped().await.unwrap();
}

#[tokio::test]
async fn behind_https_the_cookie_is_host_only_and_secure_and_the_sign_in_comes_from_that_origin() {
    let w = OAuthWorld::start().await;
    let mut config = service_settings();
    config.public_url = Some("https://mail.crm.example".parse().unwrap());
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), config, stop.clone())
        .await
        .expect("the service starts");
    let base = format!("http://{}", running.address);
    let http = tests::http_client();
    let path = login_path(&base, "anna", "m1", false).await;
    let ticket = path.split_once("ticket=").unwrap().1.to_string();
    let post = |origin: &str| {
        http.post(format!("{base}/panel/login"))
            .header("origin", origin)
            .form(&[("ticket", ticket.as_str())])
            .send()
    };
    // The service's own address is not the origin browsers use: refused.
    assert_eq!(post(&base).await.unwrap().status(), StatusCode::FORBIDDEN);
    let signed_in = post("https://mail.crm.example").await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("__Host-mailsync_session=")
            && cookie.contains("; Secure")
            && cookie.contains("Path=/")
            && !cookie.contains("Domain"),
        "{cookie}"
    );
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let session = |cookie: String| {
        http.get(format!("{base}/panel/session"))
            .header("cookie", cookie)
            .send()
    };
    let ok = session(format!("__Host-mailsync_session={value}"))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // The same id under the plain name, which any page of the site could have set, is not read.
    let plain = session(format!("mailsync_session={value}")).await.unwrap();
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    stop.cancel();
    running.stopped().await.unwrap();
}
