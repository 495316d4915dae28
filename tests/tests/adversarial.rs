//! The adversarial guest tries every escape from the sandbox, one test per attempt: each is
//! refused with the documented error, and the same host then serves a normal call.

use host_harness::{CallError, HostSettings, PluginHost};
use tests::{LoopbackServer, adversarial_host, probe, settings_with_test_grant};

/// Runs one attempt as the mailbox `m1`; `Ok` holds what the guest saw.
async fn attempt(host: &PluginHost, name: &str, argument: &str) -> Result<String, CallError> {
    probe(host, "m1", name, argument).await
}

async fn assert_still_serves(host: &PluginHost) {
    assert_eq!(
        attempt(host, "normal", "")
            .await
            .expect("a normal call after the attempt"),
        "ok"
    );
}

fn default_host() -> PluginHost {
    adversarial_host(&settings_with_test_grant(&[], &[]))
}

#[tokio::test]
async fn reading_a_file_finds_no_directory() {
    let host = default_host();
    let seen = attempt(&host, "read-file", "").await.unwrap();
    assert!(!seen.contains("READ"), "{seen}");
    for path in ["/etc/passwd", "/", ".", "/proc/self/environ"] {
        assert!(seen.contains(&format!("denied {path}:")), "{seen}");
    }
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn the_environment_arguments_and_working_directory_are_empty() {
    let host = default_host();
    let seen = attempt(&host, "read-env", "").await.unwrap();
    // wasi-libc names "/" as the working directory, but no directory is open behind it.
    assert_eq!(seen, r#"env=0 args=0 cwd="/" home=None"#);
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn a_wasi_socket_cannot_connect_even_to_loopback() {
    let host = default_host();
    let server = LoopbackServer::start(String::new()).await;
    let seen = attempt(&host, "open-socket", &server.port.to_string())
        .await
        .unwrap();
    assert!(seen.starts_with("denied"), "{seen}");
    assert!(seen.contains("access-denied"), "{seen}");
    assert_eq!(server.connections(), 0);
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn a_wasi_name_lookup_is_refused() {
    let host = default_host();
    let seen = attempt(&host, "lookup-name", "").await.unwrap();
    // Refused outright, not answered with an empty list of addresses: wasmtime-wasi answers a
    // lookup it does not allow as a permanent resolver failure (it has no access-denied here).
    // Exactly that refusal: not "no address", not an unresolvable name, not some other code.
    assert_eq!(
        seen,
        "denied lookup: ErrorCode { code: 20, name: \"permanent-resolver-failure\", \
         message: \"A permanent failure in name resolution occurred.\" }"
    );
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn http_to_a_host_outside_the_policy_is_refused() {
    let host = default_host();
    let seen = attempt(&host, "http", "https://evil.example/steal")
        .await
        .unwrap();
    assert_eq!(seen, "refused not-allowed https://evil.example:443");
    // The cloud metadata address is as refused as any other.
    let seen = attempt(&host, "http", "http://169.254.169.254/latest/meta-data")
        .await
        .unwrap();
    assert_eq!(seen, "refused not-allowed http://169.254.169.254:80");
    // Another provider's grant is not this mailbox's.
    let seen = attempt(&host, "http", "https://oauth2.googleapis.com/token")
        .await
        .unwrap();
    assert_eq!(
        seen,
        "refused not-allowed https://oauth2.googleapis.com:443"
    );
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn a_redirect_to_a_host_outside_the_policy_is_not_followed() {
    let target =
        LoopbackServer::start("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen".into()).await;
    let location = format!("http://127.0.0.1:{}/stolen", target.port);
    let redirector = LoopbackServer::start(format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ))
    .await;
    let granted = format!("http://127.0.0.1:{}", redirector.port);
    let host = adversarial_host(&settings_with_test_grant(
        std::slice::from_ref(&granted),
        &[],
    ));

    let seen = attempt(&host, "http", &format!("{granted}/start"))
        .await
        .unwrap();
    assert_eq!(seen, format!("status 302 location {location}"));
    assert_eq!(redirector.connections(), 1);
    assert_eq!(target.connections(), 0, "the host followed the redirect");
    // Asked directly, the redirect's target is refused.
    let seen = attempt(&host, "http", &location).await.unwrap();
    assert_eq!(
        seen,
        format!("refused not-allowed http://127.0.0.1:{}", target.port)
    );
    assert_eq!(target.connections(), 0);
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn an_imap_socket_outside_the_policy_is_refused() {
    let host = default_host();
    let seen = attempt(&host, "imap", "imap.evil.example:993")
        .await
        .unwrap();
    assert_eq!(seen, "refused not-allowed imaps://imap.evil.example:993");
    let server = LoopbackServer::start("* OK IMAP4rev1\r\n".into()).await;
    let seen = attempt(&host, "imap", &format!("127.0.0.1:{}", server.port))
        .await
        .unwrap();
    assert_eq!(
        seen,
        format!("refused not-allowed imaps://127.0.0.1:{}", server.port)
    );
    assert_eq!(server.connections(), 0);
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn looping_forever_is_stopped_at_the_time_budget() {
    let mut settings: HostSettings = settings_with_test_grant(&[], &[]);
    settings.policy.call_time_budget_ms = 300;
    let host = adversarial_host(&settings);
    let outcome = attempt(&host, "loop-forever", "").await;
    assert_eq!(
        outcome,
        Err(CallError::TimeBudgetExceeded { budget_ms: 300 })
    );
    assert_still_serves(&host).await;
}

/// A spinning guest gives its worker back at every epoch tick: on a runtime with a single worker,
/// another mailbox's call is answered while the first guest still loops.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_spinning_guest_does_not_hold_the_only_worker() {
    tests::secrets::capture_logs();
    let mut settings: HostSettings = settings_with_test_grant(&[], &[]);
    settings.policy.call_time_budget_ms = 8_000;
    let host = std::sync::Arc::new(adversarial_host(&settings));
    host.assign_provider("m2", Some("test")).await.unwrap();
    let spinning = {
        let host = host.clone();
        tokio::spawn(async move { attempt(&host, "loop-forever", "").await })
    };
    // The guest says when its loop begins; this task runs only while the guest gives way.
    let looping = std::time::Instant::now();
    while !tests::secrets::captured_text().contains("looping from now on") {
        assert!(
            looping.elapsed() < std::time::Duration::from_secs(6),
            "the guest never began its loop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let answer = host.mailbox("m2").normalize(b"", None, "normal").await;
    let waited = started.elapsed();
    assert_eq!(answer.map(|r| r.text_body).as_deref(), Ok("ok"));
    assert!(
        !spinning.is_finished(),
        "the other mailbox was answered while the guest still looped"
    );
    assert!(waited < std::time::Duration::from_secs(2), "{waited:?}");
    assert_eq!(
        spinning.await.unwrap(),
        Err(CallError::TimeBudgetExceeded { budget_ms: 8_000 })
    );
}

#[tokio::test]
async fn no_guest_state_survives_from_one_call_to_the_next() {
    let host = default_host();
    for mailbox in ["m1", "m1", "m2", "m1"] {
        let seen = probe(&host, mailbox, "remember", "").await.unwrap();
        assert_eq!(seen, "call 1, heap 1", "a fresh instance for every call");
    }
}

/// A freed instance slot keeps some of its written pages mapped for the next instance
/// (`engine::KEPT_RESIDENT_PER_SLOT`, where the kernel has `PAGEMAP_SCAN`) and decommits the
/// rest; each must come back as the component's own bytes or zeros. One admission, so the pool
/// has two slots and every instance after the first reuses one that an earlier instance wrote.
#[tokio::test]
async fn no_instance_finds_what_an_earlier_one_left_in_its_memory() {
    // Which of the two resets this machine runs: both must leave nothing behind.
    let path = if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
        "PAGEMAP_SCAN: the written pages reset in place, up to the kept size"
    } else {
        "no PAGEMAP_SCAN: a freed slot's memory reset whole"
    };
    eprintln!("leftover memory, checked on the path: {path}");
    let mut settings = settings_with_test_grant(&[], &[]);
    settings.policy.instances_at_once = 1;
    let host = adversarial_host(&settings);
    let marker = "leftover-secret-7f3a91";
    // "found N in P pages"
    let read = |seen: &str| -> (usize, usize) {
        let parsed = seen.strip_prefix("found ").and_then(|rest| {
            let (found, pages) = rest.strip_suffix(" pages")?.split_once(" in ")?;
            Some((found.parse().ok()?, pages.parse().ok()?))
        });
        parsed.unwrap_or_else(|| panic!("the probe answered {seen}"))
    };
    for round in 0..3 {
        let (found, written_pages) = read(&probe(&host, "m1", "scribble", marker).await.unwrap());
        assert!(
            found >= 2,
            "round {round}: the scan misses what its own call wrote ({found})"
        );
        for mailbox in ["m1", "m2", "m1"] {
            let seen = probe(&host, mailbox, "scan-memory", marker).await.unwrap();
            let (found, scanned_pages) = read(&seen);
            assert!(scanned_pages >= written_pages, "round {round}: {seen}");
            assert_eq!(found, 0, "round {round}, {mailbox}: {seen}");
        }
    }
}

#[tokio::test]
async fn allocating_past_the_memory_cap_is_stopped() {
    let host = default_host();
    match attempt(&host, "allocate", "").await {
        Err(CallError::MemoryLimitExceeded { limit, desired }) => {
            assert_eq!(limit, 256 * 1024 * 1024);
            assert!(desired > limit);
        }
        other => panic!("expected the memory cap, got {other:?}"),
    }
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn an_argument_over_the_hostcall_cap_stops_the_call_before_it_is_copied() {
    let host = default_host();
    // 64 MiB of value and a key: just over what one import call may copy out of the guest.
    match attempt(&host, "huge-argument", "").await {
        Err(CallError::HostcallTooLarge { limit }) => assert_eq!(limit, 64 * 1024 * 1024),
        other => panic!("expected the hostcall cap, got {other:?}"),
    }
    assert_still_serves(&host).await;
}

#[tokio::test]
async fn a_huge_argument_from_the_host_ends_the_call_at_the_memory_cap() {
    let host = default_host();
    let huge = vec![b'a'; 300 * 1024 * 1024];
    let outcome = host.mailbox("m1").normalize(&huge, None, "normal").await;
    assert!(
        matches!(outcome, Err(CallError::MemoryLimitExceeded { .. })),
        "{outcome:?}"
    );
    assert_still_serves(&host).await;
}

/// Floods the IMAP socket from one call, with the per-account cap set to `per_account`.
async fn imap_flood(per_account: u32) -> String {
    let server = LoopbackServer::start("* OK IMAP4rev1\r\n".into()).await;
    let granted = format!("imap://127.0.0.1:{}", server.port);
    let mut settings = settings_with_test_grant(&[], std::slice::from_ref(&granted));
    settings.policy.imap_connections_per_account = per_account;
    let host = adversarial_host(&settings);
    let seen = attempt(&host, "imap-flood", &server.port.to_string())
        .await
        .unwrap();
    assert_still_serves(&host).await;
    seen
}

#[tokio::test]
async fn a_call_cannot_hold_more_imap_connections_than_the_cap() {
    let seen = imap_flood(100).await;
    assert_eq!(seen, "opened 4; after closing one, open again: true");
}

#[tokio::test]
async fn a_mailbox_cannot_hold_more_imap_connections_than_its_account_cap() {
    let seen = imap_flood(2).await;
    assert_eq!(seen, "opened 2; after closing one, open again: true");
}

#[tokio::test]
async fn parking_is_capped_and_a_parked_connection_belongs_to_its_mailbox() {
    let server = LoopbackServer::start("* OK IMAP4rev1\r\n".into()).await;
    let granted = format!("imap://127.0.0.1:{}", server.port);
    let host = adversarial_host(&settings_with_test_grant(
        &[],
        std::slice::from_ref(&granted),
    ));
    let seen = attempt(&host, "imap-park", &server.port.to_string())
        .await
        .unwrap();
    assert_eq!(
        seen,
        "refused over 4096 bytes; parked forever: true; parked over it: true; \
         got back \"b\"; again: false; left parked: true"
    );
    // One connection is parked (the one parked over was closed), waiting at most 29 minutes.
    let parked = host_harness::capabilities::imap_parking::take(host.shared(), "m1")
        .expect("m1's connection is parked");
    assert_eq!(parked.note, b"left");
    assert_eq!(parked.wake_after.as_secs(), 29 * 60);
    assert_eq!(
        host.shared().imap_slots.open(),
        1,
        "the closed ones gave their slots back"
    );
    host_harness::capabilities::imap_parking::put(host.shared(), "m1", parked);
    // Another mailbox's call cannot take it; its own can.
    assert_eq!(
        probe(&host, "m2", "imap-unpark", "").await.unwrap(),
        "nothing parked"
    );
    assert_eq!(
        attempt(&host, "imap-unpark", "").await.unwrap(),
        "unparked left"
    );
    assert_still_serves(&host).await;
}
