//! A broken or hostile IMAP server gets a clear protocol error, never a trap, a hang or unbounded
//! memory: garbage, a line that never ends, a gigantic literal, a listing that never ends, a name
//! that is not modified UTF-7, a greeting that refuses.

use std::time::{Duration, Instant};

use host_harness::HostSettings;
use host_harness::bindings::mailbox::{ErrorKind, LinkState};
use tests::imap_script::{Misbehaviour, start, start_refusing_starttls};
use tests::oauth_world::{OAuthWorld, captured, point_imap_at};
use tests::tls_server::TestPki;

async fn list_against(misbehaviour: Misbehaviour) -> ErrorKind {
    list_against_in(misbehaviour).await.1
}

/// The world, and the error listing the folders ended in.
async fn list_against_in(misbehaviour: Misbehaviour) -> (OAuthWorld, ErrorKind) {
    // The server's certificate comes from a CA of its own, which the host is told to trust.
    let pki = TestPki::new();
    let endpoint = start(&pki, misbehaviour).await;
    list_at(&endpoint, |s| s.tls.extra_roots.push(pki.ca_pem.clone())).await
}

/// Links `m1` with its IMAP server at `endpoint` and lists its folders; the world and the error.
async fn list_at(
    endpoint: &str,
    change: impl FnOnce(&mut HostSettings),
) -> (OAuthWorld, ErrorKind) {
    let w = OAuthWorld::with(|s| {
        point_imap_at(s, endpoint);
        // The instance's memory stays bounded: a small cap, not hit.
        s.policy.memory_limit_bytes = 64 * 1024 * 1024;
        change(s);
    })
    .await;
    w.link("m1", "google").await.expect("linked");
    let answer = match w.mailbox("m1").list_folders().await {
        Ok(answer) => answer,
        Err(e) => panic!("listing at {endpoint} ended the call: {e}"),
    };
    let kind = captured(answer).expect_err("an error").kind;
    (w, kind)
}

/// Lists against a server that falls silent, with the host's I/O timeout at one second.
async fn list_against_silent(misbehaviour: Misbehaviour) -> (ErrorKind, Duration) {
    let pki = TestPki::new();
    let endpoint = start(&pki, misbehaviour).await;
    let started = Instant::now();
    let (_, kind) = list_at(&endpoint, |s| {
        s.tls.extra_roots.push(pki.ca_pem.clone());
        s.policy.io_timeout_ms = 1000;
    })
    .await;
    (kind, started.elapsed())
}

#[tokio::test]
async fn a_login_refused_for_now_is_not_a_dead_token() {
    let (w, kind) = list_against_in(Misbehaviour::LoginUnavailable).await;
    assert!(
        matches!(kind, ErrorKind::ImapUnreachable(ref m) if m.contains("Temporary")),
        "{kind:?}"
    );
    assert_eq!(
        w.status("m1").await.state,
        LinkState::Linked,
        "still linked"
    );
    assert!(
        w.google.world().refresh_scope_shapes.is_empty(),
        "no refresh for it"
    );
}

#[tokio::test]
async fn garbage_is_a_protocol_error() {
    let kind = list_against(Misbehaviour::Garbage).await;
    assert!(
        matches!(kind, ErrorKind::ImapProtocol(ref m) if m.contains("not IMAP")),
        "{kind:?}"
    );
}

#[tokio::test]
async fn an_endless_line_is_cut_at_the_response_cap() {
    let kind = list_against(Misbehaviour::EndlessLine).await;
    assert!(
        matches!(kind, ErrorKind::ImapProtocol(ref m) if m.contains("size cap")),
        "{kind:?}"
    );
}

#[tokio::test]
async fn a_gigantic_literal_is_cut_at_the_response_cap() {
    let kind = list_against(Misbehaviour::GiganticLiteral).await;
    assert!(
        matches!(kind, ErrorKind::ImapProtocol(ref m) if m.contains("size cap")),
        "{kind:?}"
    );
}

#[tokio::test]
async fn an_endless_listing_is_cut_at_the_cap_on_one_commands_answer() {
    let kind = list_against(Misbehaviour::EndlessListing).await;
    assert!(
        matches!(kind, ErrorKind::ImapProtocol(ref m) if m.contains("one command")),
        "{kind:?}"
    );
}

#[tokio::test]
async fn a_folder_name_in_raw_latin_1_is_a_protocol_error() {
    let kind = list_against(Misbehaviour::InvalidUtf8Name).await;
    // An 8-bit byte is not allowed in a quoted string at all, so the line itself is refused
    // as not IMAP (not a size cap, not a name taken as it came).
    assert_eq!(
        kind,
        ErrorKind::ImapProtocol("the server sent something that is not IMAP".into())
    );
}

#[tokio::test]
async fn a_bye_greeting_is_a_protocol_error_with_the_servers_words() {
    let kind = list_against(Misbehaviour::ByeGreeting).await;
    assert!(
        matches!(kind, ErrorKind::ImapProtocol(ref m) if m.contains("Too many connections")),
        "{kind:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_greets_times_out_with_a_clear_error() {
    let (kind, took) = list_against_silent(Misbehaviour::SilentGreeting).await;
    assert!(
        matches!(kind, ErrorKind::ImapUnreachable(ref m) if m == "no answer in time"),
        "{kind:?}"
    );
    // The call's own budget is 30 s: the host's I/O timeout ended it, not the budget.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[tokio::test]
async fn a_server_that_falls_silent_mid_command_times_out_with_a_clear_error() {
    let (kind, took) = list_against_silent(Misbehaviour::SilentList).await;
    assert!(
        matches!(kind, ErrorKind::ImapUnreachable(ref m) if m == "no answer in time"),
        "{kind:?}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[tokio::test]
async fn a_refused_starttls_ends_the_session_and_nothing_else_is_sent_in_clear() {
    let (endpoint, received) = start_refusing_starttls().await;
    let (_, kind) = list_at(&endpoint, |_| {}).await;
    assert!(
        matches!(kind, ErrorKind::ImapProtocol(ref m) if m.contains("STARTTLS refused")),
        "{kind:?}"
    );
    let sent = received.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "only STARTTLS, no login in clear: {sent:?}");
    assert!(sent[0].ends_with(" STARTTLS"), "{sent:?}");
}
