//! A linked mailbox over time: tokens refreshed and rotated, re-authorisation that keeps the
//! mailbox's identity, unlinking with revocation, manual settings, and a custom provider.

use std::time::Duration;

use host_harness::bindings::mailbox::{
    AuthMethod, ErrorKind, ImapSecurity, LinkState, MailboxError, ManualSettings,
};
use host_harness::db::KvWrite;
use host_harness::inbox_store::{Location, NewMessage};
use host_harness::settings::ProviderSettings;
use tests::fake_provider::{Consent, Injected};
use tests::oauth_world::{IMAP, OAuthWorld, captured};
use tests::secrets::assert_no_secret_captured;
use tests::sync_checks::{append_many, folder, mapping, messages, seeder, sync, world};

fn refresh_token(w: &OAuthWorld, mailbox: &str) -> String {
    w.stored(mailbox, "tokens").expect("tokens")["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string()
}

async fn check_access(
    w: &OAuthWorld,
    mailbox: &str,
    force: bool,
) -> Result<host_harness::bindings::mailbox::AccessChecked, MailboxError> {
    captured(
        w.mailbox(mailbox)
            .check_access(force)
            .await
            .expect("call runs"),
    )
}

/// The keys the plugin keeps a mailbox's folder mapping and sync state under.
const MAILBOX_STATE_KEYS: [&str; 3] =
    ["folders/mapping", "sync/folder/INBOX", "sync/suspect/INBOX"];

/// Folder mapping and sync state under the plugin's own keys, to see what unlinking clears.
fn seed_mailbox_state(w: &OAuthWorld, mailbox: &str) {
    let writes: Vec<KvWrite> = MAILBOX_STATE_KEYS
        .iter()
        .map(|key| KvWrite::Set(key.to_string(), br#"{"seeded":true}"#.to_vec()))
        .collect();
    w.db.kv_write(mailbox, &writes).expect("seed");
}

#[tokio::test]
async fn the_access_token_is_refreshed_within_a_minute_of_expiry_and_rotation_is_saved() {
    let w = OAuthWorld::start().await;
    w.link("m1", "microsoft").await.expect("linked");
    let first = refresh_token(&w, "m1");
    let checked = check_access(&w, "m1", false).await.expect("fresh");
    assert!(!checked.refreshed, "an hour left: no refresh");

    w.host.clock().advance(Duration::from_secs(3600 - 59));
    let checked = check_access(&w, "m1", false).await.expect("refreshed");
    assert!(checked.refreshed && checked.refresh_token_rotated);
    let second = refresh_token(&w, "m1");
    assert_ne!(first, second, "the rotated refresh token is saved");
    assert!(!w.microsoft.world().refresh_token_active(&first));
    assert!(w.microsoft.world().refresh_token_active(&second));
    assert_eq!(
        w.status("m1").await.access_expires_at.as_deref(),
        checked.expires_at.as_deref()
    );
    // Microsoft's refresh repeats the scope.
    assert_eq!(w.microsoft.world().refresh_scope_shapes, [true]);
    assert_no_secret_captured();
}

#[tokio::test]
async fn google_refreshes_without_repeating_the_scope_and_keeps_its_refresh_token() {
    let w = OAuthWorld::start().await;
    w.link("m1", "google").await.expect("linked");
    let before = refresh_token(&w, "m1");
    let checked = check_access(&w, "m1", true).await.expect("forced refresh");
    assert!(checked.refreshed && !checked.refresh_token_rotated);
    assert_eq!(refresh_token(&w, "m1"), before);
    assert_eq!(w.google.world().refresh_scope_shapes, [false]);
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_dead_refresh_token_moves_the_mailbox_to_reauthorisation_needed() {
    let w = OAuthWorld::start().await;
    w.link("m1", "google").await.expect("linked");
    w.google.world().token_failures.push_back(Injected::Error {
        error: "invalid_grant".into(),
        description: "Token has been expired or revoked.".into(),
    });
    let err = check_access(&w, "m1", true).await.expect_err("refused");
    assert!(
        matches!(err.kind, ErrorKind::ReauthorizationNeeded(ref s) if s.code == "invalid_grant")
    );
    let status = w.status("m1").await;
    assert_eq!(status.state, LinkState::ReauthorizationNeeded);
    let reason = status.reauthorization_reason.expect("a reason");
    assert!(reason.en.contains("Link mailbox") && reason.nl.contains("Mailbox koppelen"));
    assert!(status.settings_read_only, "the settings stay");
    // No call to the provider while it waits for re-authorisation.
    let requests_before = w.google.world().refresh_scope_shapes.len();
    let err = check_access(&w, "m1", true)
        .await
        .expect_err("still refused");
    assert!(matches!(err.kind, ErrorKind::ReauthorizationNeeded(_)));
    assert_eq!(w.google.world().refresh_scope_shapes.len(), requests_before);
    assert_no_secret_captured();
}

#[tokio::test]
async fn reauthorising_keeps_the_mailboxs_identity_folder_mapping_and_sync_state() {
    // The mapping is written by `set_mapping` and the checkpoint by a real sync, under the
    // keys the plugin itself uses.
    let w = world(mapping("INBOX", None)).await;
    let linked = w.status("m1").await;
    append_many(&mut seeder(&w).await, "INBOX", "kept", 3).await;
    assert_eq!(folder(&sync(&w).await, "INBOX").created, 3);
    let mapping_before = w.stored("m1", "folders/mapping").expect("a mapping");
    let checkpoint_before = w.stored("m1", "sync/folder/INBOX").expect("a checkpoint");
    assert!(
        checkpoint_before["last_uid"]
            .as_u64()
            .is_some_and(|uid| uid >= 3),
        "{checkpoint_before}"
    );

    w.google.world().token_failures.push_back(Injected::Error {
        error: "invalid_grant".into(),
        description: "Token has been expired or revoked.".into(),
    });
    check_access(&w, "m1", true).await.expect_err("dead token");
    w.host.clock().advance(Duration::from_secs(3600));
    let relinked = w.link("m1", "google").await.expect("re-authorised");
    assert_eq!(relinked.state, LinkState::Linked);
    assert_eq!(relinked.reauthorization_reason, None);
    assert_eq!(
        relinked.linked_at, linked.linked_at,
        "same mailbox, same link date"
    );
    assert_eq!(relinked.settings, linked.settings);
    assert_eq!(
        w.stored("m1", "folders/mapping"),
        Some(mapping_before),
        "the mapping survives re-linking"
    );
    assert_eq!(
        w.stored("m1", "sync/folder/INBOX"),
        Some(checkpoint_before),
        "the checkpoint survives re-linking"
    );
    check_access(&w, "m1", true)
        .await
        .expect("the new authorisation works");
    // The next run starts from the kept checkpoint: nothing comes twice.
    let again = sync(&w).await;
    assert_eq!(
        (folder(&again, "INBOX").created, messages(&w).len()),
        (0, 3),
        "{again:?}"
    );
    assert_no_secret_captured();
}

#[tokio::test]
async fn reauthorising_the_same_account_under_a_new_address_takes_the_new_address() {
    let w = OAuthWorld::start().await;
    w.link("m1", "google").await.expect("linked");
    // The Workspace administrator renames the user; the account's subject stays.
    w.google.world().accounts[0].email = "anna.devries@example.nl".into();
    let relinked = w.link("m1", "google").await.expect("the same account");
    assert_eq!(relinked.address.as_deref(), Some("anna.devries@example.nl"));
    assert_eq!(
        relinked.settings.map(|s| s.username).as_deref(),
        Some("anna.devries@example.nl")
    );
    assert_no_secret_captured();
}

#[tokio::test]
async fn reauthorising_as_another_account_is_refused_and_changes_nothing() {
    let w = OAuthWorld::start().await;
    w.link("m1", "google").await.expect("linked");
    let tokens_before = w.stored("m1", "tokens");
    w.google.world().consents.push_back(Consent::Allow {
        email: "bram@example.nl".into(),
    });
    let err = w.link("m1", "google").await.expect_err("another account");
    assert_eq!(
        err.kind,
        ErrorKind::DifferentAccount(host_harness::bindings::mailbox::DifferentAccount {
            linked: "anna@example.nl".into(),
            offered: "bram@example.nl".into(),
        })
    );
    assert!(
        err.message.en.contains("Nothing was changed"),
        "{}",
        err.message.en
    );
    assert!(
        err.message.nl.contains("Er is niets gewijzigd"),
        "{}",
        err.message.nl
    );
    assert_eq!(w.stored("m1", "tokens"), tokens_before);
    assert!(
        w.google
            .world()
            .active_refresh_tokens("bram@example.nl")
            .is_empty(),
        "the other account's grant was revoked, not kept"
    );
    assert_eq!(
        w.status("m1").await.address.as_deref(),
        Some("anna@example.nl")
    );
    let err = w.link("m1", "microsoft").await.expect_err("other provider");
    assert_eq!(err.kind, ErrorKind::LinkedToOtherProvider("Google".into()));
    assert_no_secret_captured();
}

#[tokio::test]
async fn unlinking_revokes_clears_the_mailbox_and_keeps_delivered_mail() {
    let w = OAuthWorld::start().await;
    w.link("m1", "google").await.expect("linked");
    seed_mailbox_state(&w, "m1");
    let token = refresh_token(&w, "m1");
    let row = NewMessage {
        dedupe_key: "k1".into(),
        message_id: "1@x".into(),
        thread_key: "1@x".into(),
        subject: None,
        date_utc: "2026-01-01T00:00:00Z".into(),
        direction: "inbound",
        size: 10,
        truncated: false,
        folder: 0,
        flags: 0,
        location: Location {
            remote_folder: "INBOX".into(),
            uid_validity: 1,
            uid: 1,
        },
        record_json: "{}".into(),
    };
    w.db.inbox().inbox_deliver("m1", &[row]).expect("deliver");

    let unlinked = captured(w.mailbox("m1").unlink().await.expect("call runs")).expect("unlinked");
    assert!(unlinked.warnings.is_empty());
    assert_eq!(unlinked.status.state, LinkState::Unlinked);
    assert_eq!(unlinked.status.settings, None);
    assert!(!unlinked.status.settings_read_only);
    assert!(w.google.world().revoked.contains(&token));
    assert!(!w.google.world().refresh_token_active(&token));
    for key in ["account", "tokens"].into_iter().chain(MAILBOX_STATE_KEYS) {
        assert_eq!(w.stored("m1", key), None, "{key} cleared");
    }
    assert_eq!(
        w.db.inbox_records("m1").expect("inbox").len(),
        1,
        "delivered mail stays"
    );
    assert_eq!(w.mailbox("m1").provider().await.expect("registry"), None);

    let again = w
        .link("m1", "microsoft")
        .await
        .expect("links again at once");
    assert_eq!(again.provider.as_deref(), Some("microsoft"));
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_failed_revocation_is_a_warning_and_the_mailbox_is_removed_anyway() {
    let w = OAuthWorld::start().await;
    w.link("m1", "google").await.expect("linked");
    w.google.world().revoke_failures.push_back(503);
    let unlinked = captured(w.mailbox("m1").unlink().await.expect("call runs")).expect("unlinked");
    assert_eq!(unlinked.status.state, LinkState::Unlinked);
    assert_eq!(unlinked.warnings.len(), 1);
    assert_eq!(unlinked.warnings[0].key, "unlink.revocation_failed");
    assert!(unlinked.warnings[0].en.contains("security settings"));
    assert_eq!(w.stored("m1", "tokens"), None);

    // Microsoft has no revocation endpoint for this flow: nothing to warn about.
    w.link("m2", "microsoft").await.expect("linked");
    let unlinked = captured(w.mailbox("m2").unlink().await.expect("call runs")).expect("unlinked");
    assert!(unlinked.warnings.is_empty());
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_revocation_endpoint_that_cannot_be_used_is_a_warning_not_a_silent_success() {
    let w = OAuthWorld::with(|s| {
        s.platform.providers[0]
            .endpoints
            .insert("revoke".into(), "http://127.0.0.1:9/revoke".into());
    })
    .await;
    w.link("m1", "google").await.expect("linked");
    let unlinked = captured(w.mailbox("m1").unlink().await.expect("call runs")).expect("unlinked");
    assert_eq!(unlinked.status.state, LinkState::Unlinked);
    assert_revocation_warning(&unlinked, "a revocation endpoint over https");
    assert_no_secret_captured();
}

/// Unlinking warned once that revocation failed, saying `why`.
fn assert_revocation_warning(unlinked: &host_harness::bindings::mailbox::Unlinked, why: &str) {
    assert_eq!(unlinked.warnings.len(), 1, "{:?}", unlinked.warnings);
    assert_eq!(unlinked.warnings[0].key, "unlink.revocation_failed");
    assert!(
        unlinked.warnings[0].en.contains(why),
        "{}",
        unlinked.warnings[0].en
    );
}

/// The host's settings of world `w` with Google's `endpoint` moved to `url`, over `w`'s database.
fn host_with_moved_endpoint(w: &OAuthWorld, endpoint: &str, url: &str) -> host_harness::PluginHost {
    let mut moved = w.settings.clone();
    moved.platform.providers[0]
        .endpoints
        .insert(endpoint.into(), url.into());
    host_harness::PluginHost::load(
        host_harness::BUNDLED_PLUGIN.as_ref(),
        &moved,
        w.db.clone(),
        Some(&tests::component_cache()),
    )
    .expect("host")
}

#[tokio::test]
async fn a_moved_token_or_revocation_endpoint_is_never_sent_the_refresh_token() {
    let w = OAuthWorld::start().await;
    w.link("m1", "google").await.expect("linked");
    let stranger =
        tests::LoopbackServer::start("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".into()).await;
    let elsewhere = format!("https://127.0.0.1:{}/token", stranger.port);
    for endpoint in ["token", "revoke", "userinfo"] {
        let host = host_with_moved_endpoint(&w, endpoint, &elsewhere);
        let err = captured(
            host.mailbox("m1")
                .check_access(true)
                .await
                .expect("call runs"),
        )
        .expect_err("settings changed");
        assert_eq!(err.kind, ErrorKind::SettingsChanged, "{endpoint}");
    }
    // Unlinking under a moved revocation endpoint does not revoke there: it warns.
    let host = host_with_moved_endpoint(&w, "revoke", &elsewhere);
    let unlinked =
        captured(host.mailbox("m1").unlink().await.expect("call runs")).expect("unlinked");
    assert_revocation_warning(&unlinked, "changed after your mailbox was linked");
    assert_eq!(
        stranger.connections(),
        0,
        "nothing reached the moved endpoint"
    );
    assert_no_secret_captured();
}

fn manual(port: u16) -> ManualSettings {
    ManualSettings {
        imap_host: "imap.example.nl".into(),
        imap_port: port,
        security: ImapSecurity::Tls,
        username: "anna".into(),
        password: "fake-pw-manual-entry".into(),
    }
}

#[tokio::test]
async fn manual_settings_are_kept_while_unlinked_and_refused_while_linked() {
    let w = OAuthWorld::start().await;
    tests::secrets::issued("fake-pw-manual-entry");
    let status = captured(
        w.mailbox("m1")
            .set_settings(&manual(993))
            .await
            .expect("call runs"),
    )
    .expect("saved");
    let settings = status.settings.expect("settings");
    assert_eq!(
        (settings.imap_host.as_str(), settings.auth),
        ("imap.example.nl", AuthMethod::Password)
    );
    assert!(!status.settings_read_only);
    let err = captured(
        w.mailbox("m1")
            .set_settings(&manual(0))
            .await
            .expect("call runs"),
    )
    .expect_err("port 0");
    assert!(matches!(err.kind, ErrorKind::InvalidSettings(ref f) if f.starts_with("imap-port")));

    let linked = w.link("m1", "google").await.expect("linking replaces them");
    assert_eq!(linked.settings.map(|s| s.auth), Some(AuthMethod::Xoauth2));
    let err = captured(
        w.mailbox("m1")
            .set_settings(&manual(993))
            .await
            .expect("call runs"),
    )
    .expect_err("read-only");
    assert_eq!(err.kind, ErrorKind::SettingsReadOnly);
    assert!(err.message.en.contains("Remove the mailbox first"));
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_custom_provider_is_defined_wholly_in_the_hosts_config() {
    let w = OAuthWorld::with(|_| {}).await;
    w.google
        .register_client("acme-client", None, tests::oauth_world::REDIRECT_URI);
    // A second host on the same fake, with only the custom provider.
    let mut settings = w.settings.clone();
    settings.platform.providers = vec![ProviderSettings {
        id: "acme".into(),
        display_name: Some("Acme Mail".into()),
        enabled: true,
        client_id: Some("acme-client".into()),
        endpoints: w.google.endpoints(IMAP),
        scopes: vec![
            "https://mail.google.com/".into(),
            "openid".into(),
            "email".into(),
        ],
        authorize_params: [("access_type".to_string(), "offline".to_string())].into(),
        ..Default::default()
    }];
    let host = host_harness::PluginHost::load(
        host_harness::BUNDLED_PLUGIN.as_ref(),
        &settings,
        host_harness::Database::open_in_memory().unwrap(),
        Some(&tests::component_cache()),
    )
    .expect("host");
    let mailbox = host.mailbox("m1");
    let status = captured(mailbox.status().await.unwrap()).unwrap();
    assert_eq!(status.providers[0].display_name, "Acme Mail");
    let request = host_harness::bindings::mailbox::LinkRequest {
        user: "anna".into(),
        provider: "acme".into(),
        login_hint: Some("bram@example.nl".into()),
        redirect_port: None,
    };
    let started = captured(mailbox.link_start(&request).await.unwrap()).unwrap();
    assert!(started.authorization_url.contains("client_id=acme-client"));
    assert!(started.authorization_url.contains("access_type=offline"));
    assert!(
        started
            .authorization_url
            .contains("login_hint=bram%40example.nl")
    );
    let callback = w.consent(&started.authorization_url).await;
    let status = captured(mailbox.link_complete("anna", &callback).await.unwrap()).expect("linked");
    assert_eq!(status.provider.as_deref(), Some("acme"));
    assert_eq!(status.address.as_deref(), Some("bram@example.nl"));
    assert_no_secret_captured();
}
