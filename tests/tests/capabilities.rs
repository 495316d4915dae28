//! The host's capabilities as a guest sees them, through the real host: storage scoped to one
//! mailbox and atomic per batch, an idempotent inbox, a log that never shows a secret, and the
//! administrator's settings.

use std::io::Write;
use std::sync::{Arc, Mutex};

use host_harness::{CallError, Database, HostSettings, PluginHost};
use tests::{adversarial_host, adversarial_host_with_db, probe, settings_with_test_grant};

async fn call(host: &PluginHost, mailbox: &str, name: &str, argument: &str) -> String {
    probe(host, mailbox, name, argument)
        .await
        .unwrap_or_else(|e| panic!("{name} in {mailbox}: {e}"))
}

#[tokio::test]
async fn one_mailbox_cannot_read_another_mailboxs_storage() {
    let host = adversarial_host(&settings_with_test_grant(&[], &[]));
    assert_eq!(
        call(&host, "alice", "storage-write", "alice's state").await,
        "written"
    );
    assert_eq!(
        call(&host, "alice", "storage-read", "").await,
        "value alice's state; keys [secret]"
    );
    assert_eq!(
        call(&host, "bob", "storage-read", "").await,
        "missing; keys []"
    );
}

#[tokio::test]
async fn a_key_flood_and_a_storage_fill_stop_at_the_mailboxs_quota() {
    let mut settings = settings_with_test_grant(&[], &[]);
    settings.policy.storage_quota_keys = 40;
    settings.policy.storage_quota_bytes = 200_000;
    let host = adversarial_host(&settings);
    assert_eq!(
        call(&host, "alice", "storage-flood", "0").await,
        "stopped after 40 keys: over-quota 200000 bytes 40 keys"
    );
    // Bytes run out first with bigger values: 10 kB each, under 200 kB with keys and sealing.
    assert_eq!(
        call(&host, "bob", "storage-flood", "10000").await,
        "stopped after 19 keys: over-quota 200000 bytes 40 keys"
    );
    // Alice's flood took nothing from another mailbox's quota, and she can still read.
    assert_eq!(call(&host, "carol", "storage-write", "v").await, "written");
    assert!(
        call(&host, "alice", "storage-read", "")
            .await
            .starts_with("missing; keys [flood/0"),
        "alice still reads"
    );
}

#[tokio::test]
async fn a_storage_batch_with_a_bad_write_stores_nothing() {
    let host = adversarial_host(&settings_with_test_grant(&[], &[]));
    let seen = call(&host, "alice", "storage-partial-batch", "").await;
    assert_eq!(seen, "batch invalid-key; partial write present: false");
}

#[tokio::test]
async fn the_inbox_stores_a_redelivered_record_once() {
    let db = Database::open_in_memory().unwrap();
    let host = adversarial_host_with_db(&settings_with_test_grant(&[], &[]), db.clone());
    let seen = call(&host, "alice", "inbox-twice", "").await;
    assert_eq!(seen, "delivered 1 already 0; delivered 0 already 1");
    let stored = db.inbox_records("alice").unwrap();
    assert_eq!(stored.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&stored[0]).unwrap();
    assert_eq!(record["record"]["dedupe_key"], "inbox-twice-key");
    assert_eq!(record["record"]["text_body"], "delivered");
    assert!(db.inbox_records("bob").unwrap().is_empty());
}

/// Everything `tracing` writes while the test runs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_log_never_shows_tokens_or_client_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut settings = settings_with_test_grant(&[], &[]);
    settings.platform.providers[0].client_secret = Some("client-secret-value-42".into());
    let host = adversarial_host(&settings);
    assert_eq!(
        call(&host, "alice", "log-secrets", "ya29.live-access-token").await,
        "logged"
    );
    assert_eq!(
        call(&host, "alice", "log-secrets", "client-secret-value-42").await,
        "logged"
    );

    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        out.contains("token refresh answered"),
        "the line itself is logged: {out}"
    );
    assert!(
        out.contains("mailbox=\"alice\"") || out.contains("mailbox=alice"),
        "{out}"
    );
    assert!(out.contains("folder=INBOX"), "{out}");
    assert!(!out.contains("live-access-token"), "{out}");
    assert!(!out.contains("client-secret-value-42"), "{out}");
}

/// Only a sync or a watch may hand messages to other instances: any other call, whose
/// instance could make more of them that way, is refused, and has nothing to wait for.
#[tokio::test]
async fn a_call_other_than_a_sync_cannot_hand_work_to_other_instances() {
    let host = adversarial_host(&settings_with_test_grant(&[], &[]));
    assert_eq!(
        call(&host, "alice", "normalizer", "a message").await,
        "refused; 0 finished"
    );
}

#[tokio::test]
async fn the_plugin_reads_the_administrators_settings() {
    let mut settings: HostSettings = settings_with_test_grant(&[], &[]);
    settings.platform.feature_flags = vec!["link-mailbox".into()];
    settings.platform.limits.backfill_days = 31;
    let host = adversarial_host(&settings);
    let seen = call(&host, "alice", "read-config", "").await;
    assert_eq!(
        seen,
        "providers microsoft:on,google:off; flags [link-mailbox]; backfill 31 days"
    );
}

/// Settings with both providers enabled, each with a client of its own and its own secret.
fn settings_with_secrets() -> HostSettings {
    let mut settings: HostSettings = settings_with_test_grant(&[], &[]);
    for (p, secret) in settings
        .platform
        .providers
        .iter_mut()
        .zip(["ms-secret", "g-secret"])
    {
        p.enabled = true;
        p.client_id = Some(format!("{}-client", p.id));
        p.client_secret = Some(secret.into());
    }
    settings
}

#[tokio::test]
async fn a_call_sees_the_client_secret_of_its_own_provider_only() {
    let host = adversarial_host(&settings_with_secrets());
    let seen = |mailbox: &'static str| {
        let host = &host;
        async move {
            host.mailbox(mailbox)
                .normalize(b"", None, "read-config")
                .await
                .expect("read-config answers")
                .text_body
        }
    };
    host.assign_provider("g1", Some("google")).await.unwrap();
    assert!(
        seen("g1")
            .await
            .starts_with("providers microsoft:on,google:on secret g-secret;"),
        "{}",
        seen("g1").await
    );
    host.assign_provider("m1", Some("microsoft")).await.unwrap();
    assert!(
        seen("m1")
            .await
            .starts_with("providers microsoft:on secret ms-secret,google:on;")
    );
    // Before a provider is assigned, no secret at all.
    assert!(
        seen("new")
            .await
            .starts_with("providers microsoft:on,google:on;")
    );
}

#[tokio::test]
async fn a_call_reads_its_mailboxs_provider_only_when_a_capability_needs_it() {
    let host = adversarial_host(&settings_with_secrets());
    host.assign_provider("g1", Some("google")).await.unwrap();
    let mailbox = host.mailbox("g1");
    host.shared().faults.arm().fail_provider_reads(true);

    // A call that uses no capability never reads the record, so it is not stopped.
    let plain = mailbox.normalize(b"", None, "no capability").await;
    assert_eq!(plain.map(|r| r.text_body).as_deref(), Ok("ok"));
    // A call that reads the settings, or sends a request, needs the provider's grant first:
    // the record cannot be read, so the call is stopped with the host's error.
    for (probe, argument) in [
        ("read-config", ""),
        ("http", "https://example.com/"),
        ("imap", "imap.example.com:993"),
    ] {
        match mailbox.normalize(argument.as_bytes(), None, probe).await {
            Err(CallError::Host { message }) => assert!(
                message.contains("reading the mailbox's provider"),
                "{probe}: {message}"
            ),
            other => panic!("{probe}: expected the host's error, got {other:?}"),
        }
    }

    host.shared().faults.arm().fail_provider_reads(false);
    let seen = mailbox.normalize(b"", None, "read-config").await.unwrap();
    assert!(
        seen.text_body
            .starts_with("providers microsoft:on,google:on secret g-secret;"),
        "{}",
        seen.text_body
    );
}

#[tokio::test]
async fn the_plugin_normalises_without_its_mailboxs_provider() {
    let host = tests::plugin_host(&HostSettings::default());
    host.assign_provider("g1", Some("google")).await.unwrap();
    host.shared().faults.arm().fail_provider_reads(true);
    let message = b"From: a@example.com\r\nSubject: Hello\r\n\r\nBody\r\n";
    let record = host
        .mailbox("g1")
        .normalize(message, None, "g1@example.com")
        .await
        .expect("normalize reads no provider");
    assert_eq!(record.subject.as_deref(), Some("Hello"));
}
