//! Linking a mailbox end to end: the real plugin in the real host, consenting at a fake Google or
//! Microsoft over HTTPS. Each test checks the state, the stored settings and the message shown,
//! and that nothing it captured holds a secret.

use std::time::Duration;

use host_harness::bindings::mailbox::{
    AuthMethod, ErrorKind, ImapSecurity, LinkState, MailboxError, StateProblem,
};
use tests::fake_provider::{Consent, Injected};
use tests::oauth_world::OAuthWorld;
use tests::secrets::assert_no_secret_captured;

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .expect("URL")
        .query_pairs()
        .into_owned()
        .collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn kind(result: Result<impl std::fmt::Debug, MailboxError>) -> (ErrorKind, String, String) {
    let e = result.expect_err("an error");
    (e.kind, e.message.en, e.message.nl)
}

/// The `state` is base64url (no padding) of at least 16 bytes: 22 characters or more.
fn assert_state_holds_128_bits(state: &str) {
    use base64::Engine;
    assert!(state.len() >= 22, "state {state:?} is under 22 characters");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(state)
        .unwrap_or_else(|e| panic!("state {state:?} is not base64url: {e}"));
    assert!(
        bytes.len() >= 16,
        "state {state:?} holds {} bytes",
        bytes.len()
    );
}

#[tokio::test]
async fn linking_google_fills_in_read_only_settings_from_the_account() {
    let w = OAuthWorld::start().await;
    let started = w.start_link("m1", "google").await.expect("link starts");
    let q = query_of(&started.authorization_url);
    let scope = param(&q, "scope").unwrap();
    for s in ["https://mail.google.com/", "openid", "email"] {
        assert!(scope.split(' ').any(|x| x == s), "scope {scope}");
    }
    assert_eq!(param(&q, "access_type"), Some("offline"));
    assert_eq!(param(&q, "prompt"), Some("consent"));
    assert_eq!(param(&q, "code_challenge_method"), Some("S256"));
    let state = param(&q, "state").expect("a state");
    assert_state_holds_128_bits(state);
    // A second start gets a state of its own, not the same one again.
    let again = w.start_link("m1", "google").await.expect("link starts");
    let again_state = param(&query_of(&again.authorization_url), "state")
        .expect("a state")
        .to_string();
    assert_state_holds_128_bits(&again_state);
    assert_ne!(state, again_state, "two link starts share a state");

    let callback = w.consent(&started.authorization_url).await;
    let status = w.complete("m1", &callback).await.expect("linked");
    assert_eq!(status.state, LinkState::Linked);
    assert_eq!(status.provider.as_deref(), Some("google"));
    assert_eq!(status.address.as_deref(), Some("anna@example.nl"));
    assert!(status.settings_read_only);
    let settings = status.settings.clone().expect("settings filled in");
    assert_eq!(
        (
            settings.imap_host.as_str(),
            settings.imap_port,
            settings.security
        ),
        ("127.0.0.1", 9993, ImapSecurity::Tls)
    );
    assert_eq!(settings.username, "anna@example.nl");
    assert_eq!(settings.auth, AuthMethod::Xoauth2);
    assert_eq!(w.status("m1").await, status, "status reads back the same");
    let tokens = w.stored("m1", "tokens").expect("tokens stored");
    assert!(
        tokens["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_no_secret_captured();
}

#[tokio::test]
async fn linking_microsoft_reads_the_address_from_the_username_claim() {
    let w = OAuthWorld::start().await;
    let started = w.start_link("m1", "microsoft").await.unwrap();
    let q = query_of(&started.authorization_url);
    let scope = param(&q, "scope").unwrap();
    assert!(scope.contains("https://outlook.office.com/IMAP.AccessAsUser.All"));
    assert!(scope.split(' ').any(|s| s == "offline_access"));
    assert_eq!(param(&q, "access_type"), None);
    let callback = w.consent(&started.authorization_url).await;
    let status = w.complete("m1", &callback).await.expect("linked");
    assert_eq!(status.address.as_deref(), Some("anna@contoso.com"));
    assert_eq!(status.provider.as_deref(), Some("microsoft"));
    assert_no_secret_captured();
}

#[tokio::test]
async fn the_panel_offers_only_enabled_providers_and_says_why_linking_is_unavailable() {
    let w = OAuthWorld::with(|s| s.platform.providers[0].enabled = false).await;
    let status = w.status("m1").await;
    let ids: Vec<&str> = status.providers.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["microsoft"]);
    assert_eq!(status.providers[0].display_name, "Microsoft 365");
    assert!(status.link_available);
    let hints: Vec<(&str, &str)> = status
        .provider_hints
        .iter()
        .map(|m| (m.key.as_str(), m.nl.as_str()))
        .collect();
    assert_eq!(hints.len(), 1, "one hint, for Google");
    assert_eq!(hints[0].0, "provider.not_enabled");
    assert!(
        hints[0].1.starts_with("Google kan niet gekozen worden")
            && hints[0].1.contains("Imap oAuth2"),
        "{hints:?}"
    );
    let (k, en, nl) = kind(w.start_link("m1", "google").await);
    assert_eq!(k, ErrorKind::ProviderNotEnabled("Google".into()));
    assert!(
        en.contains("Imap oAuth2") && nl.contains("Imap oAuth2"),
        "{en}"
    );

    let w = OAuthWorld::with(|s| s.platform.feature_flags.clear()).await;
    let status = w.status("m1").await;
    assert!(!status.link_available);
    assert_eq!(
        status.link_unavailable_reason.map(|m| m.key),
        Some("link.disabled".to_string())
    );
    let (k, en, _) = kind(w.start_link("m1", "microsoft").await);
    assert_eq!(k, ErrorKind::LinkingDisabled);
    assert!(en.contains("customer success"), "{en}");
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_callback_state_is_checked_used_once_and_expires_after_ten_minutes() {
    let w = OAuthWorld::start().await;
    let started = w.start_link("m1", "google").await.unwrap();
    let callback = w.consent(&started.authorization_url).await;

    let without_state: Vec<_> = callback
        .iter()
        .filter(|(k, _)| k != "state")
        .cloned()
        .collect();
    let (k, en, _) = kind(w.complete("m1", &without_state).await);
    assert_eq!(k, ErrorKind::StateInvalid(StateProblem::Missing));
    assert!(en.contains("Link mailbox"), "{en}");
    let mut forged = without_state.clone();
    forged.push(("state".into(), "forged-state-value".into()));
    assert_eq!(
        kind(w.complete("m1", &forged).await).0,
        ErrorKind::StateInvalid(StateProblem::Unknown)
    );
    // Another mailbox's callback does not complete this one.
    assert_eq!(
        kind(w.complete("m2", &callback).await).0,
        ErrorKind::StateInvalid(StateProblem::Unknown)
    );
    w.complete("m1", &callback)
        .await
        .expect("the real callback links");
    assert_eq!(
        kind(w.complete("m1", &callback).await).0,
        ErrorKind::StateInvalid(StateProblem::AlreadyUsed)
    );

    let started = w.start_link("m3", "google").await.unwrap();
    let callback = w.consent(&started.authorization_url).await;
    w.host.clock().advance(Duration::from_secs(11 * 60));
    let (k, en, nl) = kind(w.complete("m3", &callback).await);
    assert_eq!(k, ErrorKind::StateInvalid(StateProblem::Expired));
    assert!(
        en.contains("10 minutes") && nl.contains("10 minuten"),
        "{en} / {nl}"
    );
    assert_eq!(w.status("m3").await.state, LinkState::Unlinked);
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_callback_brought_by_another_crm_user_is_refused_and_spends_nothing() {
    let w = OAuthWorld::start().await;
    // Anna starts; her consent URL reaches Bram, whose browser brings the callback.
    let started = w.start_link("m1", "google").await.unwrap();
    let callback = w.consent(&started.authorization_url).await;
    let (k, en, nl) = kind(w.complete_as("m1", "bram", &callback).await);
    assert_eq!(k, ErrorKind::StateInvalid(StateProblem::OtherUser));
    assert!(en.contains("Another user"), "{en}");
    assert!(nl.contains("andere gebruiker"), "{nl}");
    assert_eq!(w.status("m1").await.state, LinkState::Unlinked);
    assert!(w.stored("m1", "tokens").is_none(), "nothing stored");
    // The code was not exchanged and the state not spent: Anna's own callback still links.
    let status = w.complete("m1", &callback).await.expect("Anna links");
    assert_eq!(status.state, LinkState::Linked);
    assert_eq!(status.address.as_deref(), Some("anna@example.nl"));
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_callback_naming_another_issuer_is_a_mix_up_and_is_refused() {
    let w = OAuthWorld::start().await;
    let started = w.start_link("m1", "google").await.unwrap();
    let callback = w.consent(&started.authorization_url).await;
    assert_eq!(
        param(&callback, "iss"),
        Some(w.google.world().issuer.as_str()),
        "the fake Google names itself, as Google does"
    );
    let mixed_up: Vec<(String, String)> = callback
        .iter()
        .map(|(k, v)| match k.as_str() {
            "iss" => (k.clone(), "https://attacker.example".to_string()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let (k, en, _) = kind(w.complete("m1", &mixed_up).await);
    assert_eq!(k, ErrorKind::StateInvalid(StateProblem::OtherIssuer));
    assert!(en.contains("did not come from"), "{en}");
    assert_eq!(w.status("m1").await.state, LinkState::Unlinked);
    // The code was not exchanged: the real answer still links.
    w.complete("m1", &callback).await.expect("links");
    assert_no_secret_captured();
}

#[tokio::test]
async fn link_attempts_are_capped_the_oldest_forgotten_first() {
    let w = OAuthWorld::start().await;
    let mut urls = Vec::new();
    for _ in 0..15 {
        urls.push(
            w.start_link("m1", "google")
                .await
                .unwrap()
                .authorization_url,
        );
        w.host.clock().advance(Duration::from_secs(1));
    }
    let pending = w.db.kv_list("m1", "link/pending/").unwrap();
    assert_eq!(pending.len(), 10, "{pending:?}");
    // The first attempt was forgotten; the last still links.
    let first = w.consent(&urls[0]).await;
    assert_eq!(
        kind(w.complete("m1", &first).await).0,
        ErrorKind::StateInvalid(StateProblem::Unknown)
    );
    let last = w.consent(&urls[14]).await;
    w.complete("m1", &last)
        .await
        .expect("the newest attempt links");
    assert_no_secret_captured();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callbacks_with_the_same_state_at_once_link_only_once() {
    let w = OAuthWorld::start().await;
    let started = w.start_link("m1", "google").await.unwrap();
    let callback = w.consent(&started.authorization_url).await;
    // The first exchange is held at the token endpoint while the second callback arrives.
    let gate = w.google.hold_token_requests();
    let first = w.complete("m1", &callback);
    let second = async {
        gate.reached(1).await;
        w.complete("m1", &callback).await
    };
    let release = async {
        gate.reached(1).await;
        // The first is held at the token endpoint until the second waits for the mailbox's
        // turn behind it: they overlap.
        let waiters = &w.host.shared().turn_waiters;
        tests::until(
            "the second callback waits",
            std::time::Duration::from_secs(30),
            || {
                let waiting = waiters.waiting("m1");
                async move { (waiting >= 1).then_some(()) }
            },
        )
        .await;
        gate.open();
    };
    let (a, b, ()) = tokio::join!(first, second, release);
    assert_eq!(gate.requests(), 1, "the code is exchanged once");
    assert!(a.is_ok(), "the first callback links: {a:?}");
    let outcomes = [a, b];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    let refused = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert_eq!(
        refused.kind,
        ErrorKind::StateInvalid(StateProblem::AlreadyUsed)
    );
    assert_eq!(w.status("m1").await.state, LinkState::Linked);
    assert_no_secret_captured();
}

#[tokio::test]
async fn an_expired_or_used_authorisation_code_asks_to_link_again() {
    let w = OAuthWorld::start().await;
    let started = w.start_link("m1", "google").await.unwrap();
    let callback = w.consent(&started.authorization_url).await;
    w.google.world().clock_offset = 120;
    let (k, en, _) = kind(w.complete("m1", &callback).await);
    assert!(
        matches!(k, ErrorKind::AuthorizationCodeInvalid(ref s) if s.code == "invalid_grant"),
        "{k:?}"
    );
    assert!(en.contains("expired or was already used"), "{en}");
    assert_eq!(w.status("m1").await.state, LinkState::Unlinked);

    w.google.world().token_failures.push_back(Injected::Error {
        error: "invalid_grant".into(),
        description: "Code was already redeemed.".into(),
    });
    let (k, _, nl) = kind(w.link("m1", "google").await);
    assert!(matches!(k, ErrorKind::AuthorizationCodeInvalid(_)), "{k:?}");
    assert!(nl.contains("verlopen of al gebruikt"), "{nl}");
    assert_no_secret_captured();
}

/// Consents with the provider answering `error` and `description`; the plugin's error.
async fn refused_consent(
    w: &OAuthWorld,
    provider: &str,
    error: &str,
    description: &str,
) -> (ErrorKind, String, String) {
    w.fake(provider)
        .world()
        .consents
        .push_back(Consent::Refuse {
            error: error.into(),
            description: description.into(),
        });
    kind(w.link("m1", provider).await)
}

#[tokio::test]
async fn each_refusal_at_the_consent_screen_says_what_to_do() {
    let w = OAuthWorld::start().await;
    let (k, en, nl) = refused_consent(&w, "google", "access_denied", "The user denied").await;
    assert!(matches!(k, ErrorKind::AccessDenied(_)), "{k:?}");
    assert!(en.contains("Allow") && nl.contains("Toestaan"), "{en}");

    let (k, en, nl) = refused_consent(&w, "google", "admin_policy_enforced", "").await;
    assert!(matches!(k, ErrorKind::AdminPolicyEnforced(_)), "{k:?}");
    assert!(
        en.contains("ask your administrator to add the CRM as a trusted app")
            || en.contains("Ask your administrator to add the CRM as a trusted app"),
        "{en}"
    );
    assert!(nl.contains("vertrouwde app"), "{nl}");

    let (k, en, _) = refused_consent(&w, "google", "org_internal", "").await;
    assert!(matches!(k, ErrorKind::OrgInternal(_)), "{k:?}");
    assert!(en.contains("another organisation"), "{en}");

    for aadsts in ["AADSTS65001", "AADSTS90094"] {
        let (k, en, nl) = refused_consent(
            &w,
            "microsoft",
            "consent_required",
            &format!("{aadsts}: The user or administrator has not consented."),
        )
        .await;
        assert!(matches!(k, ErrorKind::AdminConsentRequired(_)), "{k:?}");
        assert!(en.contains(aadsts) && en.contains("administrator"), "{en}");
        assert!(nl.contains(aadsts) && nl.contains("beheerder"), "{nl}");
    }
    assert_eq!(w.status("m1").await.state, LinkState::Unlinked);
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_misconfigured_client_secret_is_an_administrators_problem() {
    let w = OAuthWorld::with(|s| {
        s.platform.providers[0].client_secret = Some("fake-secret-wrong".into())
    })
    .await;
    tests::secrets::issued("fake-secret-wrong");
    let (k, en, nl) = kind(w.link("m1", "google").await);
    assert!(
        matches!(k, ErrorKind::InvalidClient(ref s) if s.code == "invalid_client"),
        "{k:?}"
    );
    assert!(
        en.contains("misconfigured") && nl.contains("verkeerd ingesteld"),
        "{en}"
    );
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_busy_or_failing_token_endpoint_means_retry_later() {
    let w = OAuthWorld::start().await;
    w.google.world().token_failures.push_back(Injected::Status {
        status: 429,
        retry_after: Some(30),
    });
    let (k, en, nl) = kind(w.link("m1", "google").await);
    assert_eq!(
        k,
        ErrorKind::ProviderUnavailable(host_harness::bindings::mailbox::RetryLater {
            status: 429,
            retry_after_seconds: Some(30)
        })
    );
    assert!(
        en.contains("30 seconds") && nl.contains("30 seconden"),
        "{en}"
    );

    w.google.world().token_failures.push_back(Injected::Status {
        status: 503,
        retry_after: None,
    });
    let (k, en, _) = kind(w.link("m1", "google").await);
    assert!(
        matches!(k, ErrorKind::ProviderUnavailable(ref r) if r.status == 503 && r.retry_after_seconds.is_none()),
        "{k:?}"
    );
    assert!(en.contains("a few minutes"), "{en}");
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_malformed_token_answer_is_reported_without_quoting_it() {
    let w = OAuthWorld::start().await;
    w.google.world().token_failures.push_back(Injected::Raw {
        content_type: "text/html".into(),
        body: "<html>fake-at-not-json</html>".into(),
    });
    let (k, _, _) = kind(w.link("m1", "google").await);
    assert!(
        matches!(k, ErrorKind::MalformedResponse(ref m) if m.contains("Content-Type")),
        "{k:?}"
    );
    w.google.world().token_failures.push_back(Injected::Raw {
        content_type: "application/json".into(),
        body: r#"{"token_type":"Bearer","refresh_token":"fake-rt-leak-me"}"#.into(),
    });
    tests::secrets::issued("fake-rt-leak-me");
    let (k, en, _) = kind(w.link("m1", "google").await);
    assert!(
        matches!(k, ErrorKind::MalformedResponse(ref m) if !m.contains("fake-rt")),
        "{k:?}"
    );
    assert!(en.contains("could not read"), "{en}");
    assert_eq!(w.status("m1").await.state, LinkState::Unlinked);
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_token_endpoint_outside_the_policy_is_refused_before_connecting() {
    // Plain HTTP to loopback is not allowed by this policy (no plain hosts).
    let w = OAuthWorld::with(|s| {
        s.platform.providers[0]
            .endpoints
            .insert("token".into(), "http://127.0.0.1:9/token".into());
    })
    .await;
    let (k, en, nl) = kind(w.link("m1", "google").await);
    match k {
        ErrorKind::DestinationRefused(r) => assert_eq!(r.destination, "http://127.0.0.1:9"),
        other => panic!("{other:?}"),
    }
    assert!(
        en.contains("security policy") && nl.contains("beveiligingsbeleid"),
        "{en}"
    );
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_missing_address_is_reported_when_neither_id_token_nor_userinfo_gives_it() {
    let w = OAuthWorld::start().await;
    w.microsoft.world().issue_id_token = false;
    let (k, en, _) = kind(w.link("m1", "microsoft").await);
    assert_eq!(k, ErrorKind::AddressUnknown);
    assert!(en.contains("e-mail address"), "{en}");
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_rejected_access_token_is_refreshed_once_and_the_call_retried() {
    let w = OAuthWorld::start().await;
    {
        let mut g = w.google.world();
        g.issue_id_token = false;
        g.reject_userinfo = 1;
    }
    let status = w
        .link("m1", "google")
        .await
        .expect("linked after one refresh");
    assert_eq!(status.address.as_deref(), Some("anna@example.nl"));
    assert_eq!(
        w.google.world().refresh_scope_shapes.len(),
        1,
        "exactly one refresh"
    );

    {
        let mut g = w.google.world();
        g.reject_userinfo = 2;
    }
    let (k, _, _) = kind(w.link("m2", "google").await);
    assert!(matches!(k, ErrorKind::ReauthorizationNeeded(_)), "{k:?}");
    assert_eq!(
        w.google.world().refresh_scope_shapes.len(),
        2,
        "no second retry"
    );
    assert_no_secret_captured();
}
