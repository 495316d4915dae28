//! The host's transports for real, on loopback: IMAP over implicit TLS and STARTTLS and HTTPS,
//! each checked against a private CA the settings trust; an untrusted certificate is refused,
//! a closed connection is reported as closed, and an oversized response is refused.

use host_harness::{HostSettings, PluginHost};
use tests::tls_server::{Script, TestPki, start};
use tests::{adversarial_host, probe, settings_with_test_grant};

/// Settings granting provider `test` exactly these destinations and trusting `pki`'s CA.
fn settings(http: &[String], imap: &[String], trusted: &TestPki) -> HostSettings {
    let mut settings = settings_with_test_grant(http, imap);
    settings.tls.extra_roots = vec![trusted.ca_pem.clone()];
    settings
}

async fn call(host: &PluginHost, name: &str, argument: &str) -> String {
    probe(host, "m1", name, argument)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn imap_over_implicit_tls_talks_to_a_server_of_a_trusted_ca_until_it_closes() {
    let pki = TestPki::new();
    let port = start(&pki, Script::ImapTls).await;
    let host = adversarial_host(&settings(&[], &[format!("imaps://127.0.0.1:{port}")], &pki));
    let seen = call(&host, "imap-session", &format!("tls 127.0.0.1:{port}")).await;
    assert_eq!(
        seen,
        "greeting * OK secure greeting; reply a1 OK NOOP completed; then closed"
    );
}

#[tokio::test]
async fn imap_starttls_upgrades_the_same_connection() {
    let pki = TestPki::new();
    let port = start(&pki, Script::ImapStartTls).await;
    let host = adversarial_host(&settings(&[], &[format!("imap://127.0.0.1:{port}")], &pki));
    let seen = call(&host, "imap-session", &format!("starttls 127.0.0.1:{port}")).await;
    assert_eq!(
        seen,
        "greeting * OK secure greeting; reply a1 OK NOOP completed; then closed"
    );
}

#[tokio::test]
async fn a_starttls_connection_carries_no_command_in_clear_but_starttls() {
    let pki = TestPki::new();
    let port = start(&pki, Script::ImapStartTls).await;
    let host = adversarial_host(&settings(&[], &[format!("imap://127.0.0.1:{port}")], &pki));
    let seen = call(
        &host,
        "imap-session",
        &format!("starttls-skip 127.0.0.1:{port}"),
    )
    .await;
    assert!(
        seen.starts_with("failed SocketError::InvalidState("),
        "{seen}"
    );
    assert!(seen.contains("until STARTTLS"), "{seen}");
}

#[tokio::test]
async fn imap_tls_to_a_certificate_of_an_untrusted_ca_is_refused() {
    let (server_pki, trusted_pki) = (TestPki::new(), TestPki::new());
    let port = start(&server_pki, Script::ImapTls).await;
    let host = adversarial_host(&settings(
        &[],
        &[format!("imaps://127.0.0.1:{port}")],
        &trusted_pki,
    ));
    assert_eq!(
        call(&host, "imap-session", &format!("tls 127.0.0.1:{port}")).await,
        "failed tls"
    );
}

#[tokio::test]
async fn imap_tls_to_a_trusted_certificate_for_another_name_is_refused() {
    // The CA is trusted; the certificate it signed names another host than the one dialled.
    let pki = TestPki::for_names(&["imap.example.org"]);
    let port = start(&pki, Script::ImapTls).await;
    let host = adversarial_host(&settings(&[], &[format!("imaps://127.0.0.1:{port}")], &pki));
    assert_eq!(
        call(&host, "imap-session", &format!("tls 127.0.0.1:{port}")).await,
        "failed tls"
    );
    // The control: a certificate that does name 127.0.0.1 is accepted.
    let named = TestPki::for_names(&["127.0.0.1"]);
    let port = start(&named, Script::ImapTls).await;
    let host = adversarial_host(&settings(
        &[],
        &[format!("imaps://127.0.0.1:{port}")],
        &named,
    ));
    assert!(
        call(&host, "imap-session", &format!("tls 127.0.0.1:{port}"))
            .await
            .starts_with("greeting * OK secure greeting"),
    );
}

#[tokio::test]
async fn starttls_to_a_certificate_of_an_untrusted_ca_is_refused() {
    let (server_pki, trusted_pki) = (TestPki::new(), TestPki::new());
    let port = start(&server_pki, Script::ImapStartTls).await;
    let host = adversarial_host(&settings(
        &[],
        &[format!("imap://127.0.0.1:{port}")],
        &trusted_pki,
    ));
    assert_eq!(
        call(&host, "imap-session", &format!("starttls 127.0.0.1:{port}")).await,
        "failed tls"
    );
}

#[tokio::test]
async fn https_reaches_a_granted_server_of_a_trusted_ca() {
    let pki = TestPki::new();
    let port = start(&pki, Script::Https { body_len: 1000 }).await;
    let host = adversarial_host(&settings(&[format!("https://127.0.0.1:{port}")], &[], &pki));
    let seen = call(
        &host,
        "http-body",
        &format!("https://127.0.0.1:{port}/token"),
    )
    .await;
    assert_eq!(seen, "status 200 body 1000 bytes");
}

#[tokio::test]
async fn https_to_a_certificate_of_an_untrusted_ca_is_refused() {
    let (server_pki, trusted_pki) = (TestPki::new(), TestPki::new());
    let port = start(&server_pki, Script::Https { body_len: 10 }).await;
    let host = adversarial_host(&settings(
        &[format!("https://127.0.0.1:{port}")],
        &[],
        &trusted_pki,
    ));
    let seen = call(&host, "http-body", &format!("https://127.0.0.1:{port}/")).await;
    assert_eq!(seen, "failed tls");
}

#[tokio::test]
async fn an_https_response_over_the_cap_is_refused() {
    let pki = TestPki::new();
    let port = start(
        &pki,
        Script::Https {
            body_len: 5 * 1024 * 1024,
        },
    )
    .await;
    let host = adversarial_host(&settings(&[format!("https://127.0.0.1:{port}")], &[], &pki));
    let seen = call(&host, "http-body", &format!("https://127.0.0.1:{port}/")).await;
    assert_eq!(seen, "response-too-large 4194304");
}

#[tokio::test]
async fn a_granted_name_that_resolves_to_loopback_is_refused_unless_local() {
    let pki = TestPki::new();
    let port = start(&pki, Script::Https { body_len: 10 }).await;
    let granted = format!("https://localhost:{port}");
    let mut settings = settings(std::slice::from_ref(&granted), &[], &pki);
    let host = adversarial_host(&settings);
    let seen = call(&host, "http-body", &format!("{granted}/")).await;
    assert_eq!(
        seen,
        format!("refused refused-address https://localhost:{port}")
    );

    // Named as a local host by the policy, the same name is reachable.
    settings.policy.local_hosts = vec!["localhost".into()];
    let host = adversarial_host(&settings);
    assert_eq!(
        call(&host, "http-body", &format!("{granted}/")).await,
        "status 200 body 10 bytes"
    );
}
