//! The limits `docs/security.md` promises are the ones the host enforces: each row of its two
//! limit tables is read from the document and its "default" compared with the value in the code,
//! so changing either alone fails here.

use host_harness::capabilities::inbox::{
    MAX_CHANGES_PER_CALL, MAX_DELIVERIES_PER_CALL, MAX_PRESENT_UIDS_PER_CALL,
};
use host_harness::inbox_store::LISTED_SENDERS;
use host_harness::mailbox::{MAX_STORED_REPORT_BYTES, MAX_WAITING_FOR_TURN};
use host_harness::policy::{MAX_INSTANCES_AT_ONCE, Policy};
use host_harness::service::http_server::HttpLimits;

const SECURITY: &str = include_str!("../../docs/security.md");

/// The "default" cell of the limit-table row whose first cell is `limit`.
fn documented(limit: &str) -> String {
    SECURITY
        .lines()
        .filter_map(|line| line.strip_prefix("| "))
        .map(|row| row.split(" | ").collect::<Vec<_>>())
        .find(|cells| cells[0] == limit)
        .and_then(|cells| cells.get(1).map(|c| c.to_string()))
        .unwrap_or_else(|| panic!("docs/security.md has no limit row {limit:?}"))
}

/// Bytes as the document writes them: `4 MiB`, `256 KiB`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A count as the document writes it: `10,000`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn every_documented_default_is_the_enforced_one() {
    let p = Policy::default();
    let http = HttpLimits::default();
    let secs = |ms: u64| ms / 1000;
    let rows: Vec<(&str, String)> = vec![
        (
            "linear memory, summed over all of an instance's memories",
            size(p.memory_limit_bytes),
        ),
        (
            "instances alive at once in the host",
            format!(
                "{} (at most {})",
                p.instances_at_once,
                count(MAX_INSTANCES_AT_ONCE.into())
            ),
        ),
        (
            "time of one call, from its start",
            format!(
                "{} s (sync {} min)",
                secs(p.call_time_budget_ms),
                secs(p.sync_time_budget_ms) / 60
            ),
        ),
        (
            "what one import call copies out of the guest (its arguments as the host holds them)",
            size(p.hostcall_cap_bytes),
        ),
        (
            "HTTP request, response",
            format!(
                "{}, {}",
                size(p.http_request_cap_bytes),
                size(p.http_response_cap_bytes)
            ),
        ),
        (
            "IMAP read, write per call; connections per call",
            format!(
                "{}, {}; {}",
                size(p.imap_read_cap_bytes.into()),
                size(p.imap_write_cap_bytes),
                p.imap_connections_per_call
            ),
        ),
        (
            "IMAP connections per mailbox, across calls (a parked one counts)",
            p.imap_connections_per_account.to_string(),
        ),
        ("storage batch", size(p.storage_value_cap_bytes)),
        (
            "inbox delivery: records, bytes of records as stored",
            format!(
                "{}; {}",
                count(MAX_DELIVERIES_PER_CALL),
                size(p.inbox_batch_cap_bytes)
            ),
        ),
        (
            "inbox changes: entries, UIDs in `present` lists",
            format!(
                "{}; {}",
                count(MAX_CHANGES_PER_CALL),
                count(MAX_PRESENT_UIDS_PER_CALL)
            ),
        ),
        ("a stored sync report", size(MAX_STORED_REPORT_BYTES as u64)),
        (
            "time to send a request's whole header (a new connection, or the next request on one)",
            format!(
                "{} s (`header_read_timeout_secs`)",
                http.header_read_timeout_secs
            ),
        ),
        (
            "time until an answer starts (an event stream's answer starts at once)",
            format!("{} s (`request_timeout_secs`)", http.request_timeout_secs),
        ),
        (
            "connections open at once",
            format!("{} (`max_connections`)", count(http.max_connections as u64)),
        ),
        (
            "a request body",
            format!("{} (`max_body_bytes`)", size(http.max_body_bytes as u64)),
        ),
        (
            "event streams open, in all; per panel session",
            format!(
                "{}; {} (`max_streams`, `max_streams_per_session`)",
                http.max_streams, http.max_streams_per_session
            ),
        ),
        (
            "calls waiting for one mailbox's turn",
            format!("{MAX_WAITING_FOR_TURN} (`mailbox::MAX_WAITING_FOR_TURN`)"),
        ),
        (
            "a page of messages",
            format!(
                "500 messages, each its columns and first {LISTED_SENDERS} senders, never its record"
            ),
        ),
    ];
    let wrong: Vec<String> = rows
        .iter()
        .filter(|(limit, enforced)| documented(limit) != *enforced)
        .map(|(limit, enforced)| {
            format!(
                "{limit}: documented {:?}, enforced {enforced:?}",
                documented(limit)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_formats_read_as_the_document_writes_them() {
    assert_eq!(size(4 << 20), "4 MiB");
    assert_eq!(size(256 << 10), "256 KiB");
    assert_eq!(count(10_000_000), "10,000,000");
    assert_eq!(count(256), "256");
}
