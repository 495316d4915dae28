//! The panel's credentials over plain HTTP: a one-time ticket becomes a session cookie; a
//! state-changing request without the session's CSRF token is refused; a session manages its
//! own mailbox only, and only an administrator changes the "Imap oAuth2" settings, whose grants
//! the host follows at once.

use host_harness::admin_store::AdminChoicesStore;
use host_harness::service::{self, RunningService};
use reqwest::StatusCode;
use tests::panel_client::{PLATFORM_TOKEN as TOKEN, Signed, service_settings};
use tests::sync_checks::{mapping, world};
use tokio_util::sync::CancellationToken;

async fn serve(w: &tests::oauth_world::OAuthWorld) -> (RunningService, CancellationToken) {
    let stop = CancellationToken::new();
    let running = service::start(w.host.clone(), service_settings(), stop.clone())
        .await
        .expect("the service starts");
    (running, stop)
}

fn client() -> reqwest::Client {
    tests::http_client()
}

/// Signs `user` in for `mailbox` as the platform would: a ticket, then the browser's sign-in;
/// the cookie is `HttpOnly` and `SameSite=Lax`, and the ticket works once.
async fn sign_in(base: &str, user: &str, mailbox: &str, admin: bool) -> Signed {
    let path = tests::panel_client::login_path(base, user, mailbox, admin).await;
    let (response, cookie) = tests::panel_sign_in(base, &path).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    assert!(cookie.starts_with("mailsync_session="), "{cookie}");
    let again = client().get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    let signed = Signed::with_cookie(base, cookie).await;
    let session: serde_json::Value = signed
        .reading(reqwest::Method::GET, format!("{base}/panel/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["mailbox"], mailbox);
    signed
}

#[tokio::test]
async fn a_panel_session_needs_its_csrf_token_and_manages_only_its_own_mailbox() {
    let w = world(mapping("INBOX", None)).await;
    let (running, stop) = serve(&w).await;
    let base = format!("http://{}", running.address);
    let anna = sign_in(&base, "anna", "m1", false).await;
    let unlink = format!("{base}/api/v1/mailboxes/m1/unlink");

    let status = anna
        .reading(reqwest::Method::GET, format!("{base}/api/v1/mailboxes/m1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.status(),
        StatusCode::OK,
        "reading needs the cookie only"
    );
    for (what, csrf) in [("no", None), ("a wrong", Some("not-the-token"))] {
        let mut request = client().post(&unlink).header("cookie", &anna.cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{what} CSRF token");
    }
    let no_cookie = client()
        .post(&unlink)
        .header("x-csrf-token", &anna.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        w.status("m1").await.state,
        host_harness::bindings::mailbox::LinkState::Linked,
        "nothing was unlinked"
    );

    // Another user's mailbox, the administrator's settings, and new sessions are not hers.
    let other = anna
        .reading(reqwest::Method::GET, format!("{base}/api/v1/mailboxes/m2"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let settings = anna
        .changing(reqwest::Method::PUT, format!("{base}/api/v1/settings"))
        .json(&serde_json::json!({ "link_mailbox": false, "providers": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), StatusCode::FORBIDDEN);
    let mint = anna
        .changing(
            reqwest::Method::POST,
            format!("{base}/api/v1/panel/sessions"),
        )
        .json(&serde_json::json!({ "user": "eve", "mailbox": "m2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(mint.status(), StatusCode::FORBIDDEN);

    // With its token, the change goes through.
    let unlinked = anna
        .changing(reqwest::Method::POST, &unlink)
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), StatusCode::OK);
    assert_eq!(
        w.status("m1").await.state,
        host_harness::bindings::mailbox::LinkState::Unlinked
    );

    // A callback in a browser that is not signed in completes nothing.
    let callback = client()
        .get(format!("{base}/oauth/callback?code=x&state=y"))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        callback.headers()["content-security-policy"],
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    stop.cancel();
    running.stopped().await.unwrap();
}

#[tokio::test]
async fn an_administrator_switches_a_provider_off_and_its_grants_go_with_it() {
    let w = world(mapping("INBOX", None)).await;
    let (running, stop) = serve(&w).await;
    let base = format!("http://{}", running.address);
    let admin = sign_in(&base, "root", "admin-mailbox", true).await;
    let granted = || {
        w.host
            .shared()
            .platform()
            .policy
            .providers
            .contains_key("google")
    };
    assert!(granted());
    let change = |google: bool| {
        admin
            .changing(reqwest::Method::PUT, format!("{base}/api/v1/settings"))
            .json(&serde_json::json!({ "link_mailbox": true, "providers": { "google": google } }))
            .send()
    };
    let answer = change(false).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let view: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(view["providers"][0]["id"], "google");
    assert_eq!(view["providers"][0]["enabled"], false);
    assert!(!granted(), "a provider switched off is granted nothing");
    // The linked Google mailbox can no longer reach Google's servers.
    let refused = w.mailbox("m1").sync().await.expect("the call runs");
    // Refused by the host's policy, for the provider switched off: not any failure.
    let refusal = refused.expect_err("a sync without a grant");
    assert!(
        matches!(
            refusal.kind,
            host_harness::bindings::mailbox::ErrorKind::ProviderNotEnabled(_)
                | host_harness::bindings::mailbox::ErrorKind::DestinationRefused(_)
        ),
        "{refusal:?}"
    );
    assert!(
        !w.status("m1")
            .await
            .providers
            .iter()
            .any(|p| p.id == "google")
    );
    // The choice is kept in the database: a host loaded anew starts with it.
    assert_eq!(
        w.db.admin_choices().unwrap().map(|c| c.providers["google"]),
        Some(false)
    );
    let unknown = client()
        .put(format!("{base}/api/v1/settings"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "link_mailbox": true, "providers": { "yahoo": true } }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(change(true).await.unwrap().status(), StatusCode::OK);
    assert!(granted());
    stop.cancel();
    running.stopped().await.unwrap();
}
