//! The host's own memory under the largest arguments a guest can pass each import: every one is
//! refused with a typed error, and the host's peak resident memory grows by a bounded amount.
//! One test in its own binary, so the process's peak (`VmHWM`) is this test's alone.

use host_harness::{CallError, PluginHost};
use tests::{LoopbackServer, adversarial_host, probe, settings_with_test_grant};

const MIB: u64 = 1024 * 1024;
/// What the probes' guest touches of its own memory: one 48 MiB buffer, in the host's RSS too.
const GUEST_BUFFER: u64 = 48 * MIB;
/// The instance, its compiled code and the runtime's own allocations, measured at ~10 MiB.
const SLACK: u64 = 32 * MIB;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("a number in {line:?}"))
}

/// Resets the process's peak resident memory to what it holds now (Linux `clear_refs`, 5).
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS via clear_refs");
    status_kib("VmRSS:") * 1024
}

fn peak() -> u64 {
    status_kib("VmHWM:") * 1024
}

/// Runs `argument` through the `host-copy` probe and returns its outcome and the peak growth.
async fn measured(host: &PluginHost, argument: &str) -> (Result<String, CallError>, u64) {
    let before = reset_peak();
    let outcome = probe(host, "m1", "host-copy", argument).await;
    (outcome, peak().saturating_sub(before))
}

#[tokio::test]
async fn no_import_makes_the_host_copy_more_than_its_cap() {
    let imap = LoopbackServer::start("* OK IMAP4rev1\r\n".into()).await;
    let granted = format!("imap://127.0.0.1:{}", imap.port);
    let host = adversarial_host(&settings_with_test_grant(&[], &[granted]));
    let cap = host.shared().platform().policy.hostcall_cap_bytes;
    assert_eq!(cap, 64 * MIB);
    // Warm up: the first call compiles nothing (cached) but maps the code in.
    assert_eq!(probe(&host, "m1", "normal", "").await.unwrap(), "ok");

    let imap_write = format!("imap-write:{}", imap.port);
    // (argument, outcome, the guest's own memory touched, what its arguments add up to)
    let cases: Vec<(&str, Result<String, CallError>, u64, u64)> = vec![
        // One argument under the hostcall cap: copied once, then refused by its own cap.
        (
            "storage-set",
            Ok("too-large 4194304".into()),
            GUEST_BUFFER,
            GUEST_BUFFER,
        ),
        (
            "http-body",
            Ok("request-too-large 1048576".into()),
            GUEST_BUFFER,
            GUEST_BUFFER,
        ),
        (
            &imap_write,
            Ok("too-large 1048576".into()),
            GUEST_BUFFER,
            GUEST_BUFFER,
        ),
        (
            "log-message",
            Ok("logged".into()),
            GUEST_BUFFER,
            GUEST_BUFFER,
        ),
        ("inbox-deliveries", Ok("too-large 10000".into()), 0, 0),
        (
            "inbox-present:1",
            Ok("too-large 10000000".into()),
            GUEST_BUFFER,
            GUEST_BUFFER,
        ),
        // Entries that all point at one guest buffer, adding up to many times the cap: the
        // copying stops once it reaches the cap, not after every alias.
        (
            "storage-batch-alias",
            Err(CallError::HostcallTooLarge { limit: cap }),
            GUEST_BUFFER,
            32 * GUEST_BUFFER,
        ),
        (
            "log-fields",
            Err(CallError::HostcallTooLarge { limit: cap }),
            GUEST_BUFFER,
            2_000_000 * GUEST_BUFFER,
        ),
        (
            "inbox-deliveries:alias",
            Err(CallError::HostcallTooLarge { limit: cap }),
            GUEST_BUFFER,
            20_000 * GUEST_BUFFER,
        ),
        (
            "inbox-present:16",
            Err(CallError::HostcallTooLarge { limit: cap }),
            GUEST_BUFFER,
            16 * GUEST_BUFFER,
        ),
    ];
    let mut seen = Vec::new();
    for (argument, expected, guest, asked) in cases {
        let (outcome, grew) = measured(&host, argument).await;
        seen.push(format!("{argument}: {outcome:?}, peak +{} MiB", grew / MIB));
        assert_eq!(outcome, expected, "{argument}");
        // The guest's own buffer, and at most the cap copied into the host: for the aliased
        // arguments, far less than they add up to (which a host copying them all would take).
        let bound = guest + cap + SLACK;
        assert!(
            asked <= cap || asked > guest + bound,
            "{argument}: its arguments ({} MiB) must be under the cap or far past the bound",
            asked / MIB
        );
        assert!(
            grew <= bound,
            "{argument}: the host's peak grew by {} MiB, over {} MiB\n{}",
            grew / MIB,
            bound / MIB,
            seen.join("\n")
        );
    }
    assert_eq!(probe(&host, "m1", "normal", "").await.unwrap(), "ok");
    println!("{}", seen.join("\n"));
}
