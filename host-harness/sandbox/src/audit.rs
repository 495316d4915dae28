//! The audit a security reviewer reads: every import and export of the loaded component, and
//! what the host's policy grants each one, derived from the component itself and the policy.

use wasmtime::component::types::ComponentItem;

use crate::plugin_host::PluginHost;
use crate::plugin_versions::ContractVersion;
use crate::policy::Policy;

/// The interfaces the host implements for the plugin (the WIT world's imports).
pub const HOST_CAPABILITIES: &[&str] = &[
    "crm:mail-sync/http-client",
    "crm:mail-sync/imap-socket",
    "crm:mail-sync/submission-socket",
    "crm:mail-sync/storage",
    "crm:mail-sync/inbox",
    "crm:mail-sync/log",
    "crm:mail-sync/config",
    "crm:mail-sync/normalizer",
];

/// One row of the audit: an import or export and what the host grants or does for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub direction: &'static str,
    pub name: String,
    pub grant: String,
}

pub fn audit(host: &PluginHost) -> Vec<AuditRow> {
    let engine = host.engine();
    let ty = host.component().component_type();
    let platform = host.shared().platform();
    let policy = &platform.policy;
    let version = host.contract_version();
    let mut rows = vec![AuditRow {
        direction: "speaks",
        name: format!("crm:mail-sync@{}", version.as_str()),
        grant: match version {
            ContractVersion::V0_2 => {
                "the current contract: reads, and sends and acts on mail when the platform asks".into()
            }
            ContractVersion::V0_1 => {
                "an earlier contract, run as before: it reads, and cannot send or act (no `send`, no `act`, no submission socket)".into()
            }
        },
    }];
    rows.extend(ty.imports(engine).map(|(name, item)| AuditRow {
        direction: "import",
        name: name.to_string(),
        grant: import_grant(name, Some(&item.ty), policy),
    }));
    // What the host offers that this component does not import: granted to no one here.
    let imported: Vec<String> = rows
        .iter()
        .filter(|r| r.direction == "import")
        .map(|r| r.name.split('@').next().unwrap_or("").to_string())
        .collect();
    for capability in HOST_CAPABILITIES {
        if !imported.iter().any(|i| i == capability) {
            rows.push(AuditRow {
                direction: "unused",
                name: capability.to_string(),
                grant: format!(
                    "provided by the host, not imported by this component; would be: {}",
                    import_grant(capability, None, policy)
                ),
            });
        }
    }
    // What a component gets that imports the WASI interfaces a reviewer worries about most:
    // named even when this component does not import them, so the denial is seen, not inferred.
    for (interface, answer) in DENIED_WASI {
        let prefix = interface.trim_end_matches('*');
        if !imported.iter().any(|i| i.starts_with(prefix)) {
            rows.push(AuditRow {
                direction: "denied",
                name: interface.to_string(),
                grant: format!("not imported by this component; a component that did: {answer}"),
            });
        }
    }
    rows.extend(limits(policy));
    rows.extend(ty.exports(engine).map(|(name, _)| AuditRow {
        direction: "export",
        name: name.to_string(),
        grant: format!(
            "called by the host, one fresh instance per call: memory cap {} MiB, time budget {} ms ({} ms for sync){}",
            policy.memory_limit_bytes / (1024 * 1024),
            policy.call_time_budget_ms,
            policy.sync_time_budget_ms,
            if name.starts_with("crm:mail-sync/normalize@") {
                "; normalize-job by a sync's worker instances, many jobs of that sync's mailbox per instance, each made again before half its budget is spent"
            } else {
                ""
            }
        ),
    }));
    rows
}

/// WASI interfaces the host denies, with what a component importing them gets.
pub const DENIED_WASI: &[(&str, &str)] = &[
    (
        "wasi:filesystem/*",
        "linked with no preopened directory, so no file can be named",
    ),
    (
        "wasi:sockets/*",
        "linked with TCP and UDP refused (access-denied) and name lookup failing (permanent-resolver-failure)",
    ),
    (
        "wasi:http/*",
        "NOT linked: the component cannot be instantiated",
    ),
];

/// The limits every call runs under, as the audit shows them.
fn limits(policy: &Policy) -> Vec<AuditRow> {
    use crate::capabilities::inbox::{MAX_CHANGES_PER_CALL, MAX_DELIVERIES_PER_CALL};
    use crate::limits::{INSTANCES, MEMORIES, TABLE_ELEMENTS, TABLES};
    let rows = [
        (
            "memory",
            format!(
                "{} MiB of linear memory per instance, all memories together; {MEMORIES} memory",
                policy.memory_limit_bytes / (1024 * 1024)
            ),
        ),
        (
            "tables",
            format!(
                "{TABLE_ELEMENTS} elements in all, {TABLES} tables, {INSTANCES} core instances"
            ),
        ),
        (
            "instances",
            format!(
                "{} alive at once in the host, each in a preallocated pool slot whose written memory is reset before another instance uses it; a call beyond them waits for a slot",
                policy.instances_at_once
            ),
        ),
        (
            "time",
            format!(
                "{} ms per call ({} ms for sync) from the call's start; guest code yields its thread every 10 ms",
                policy.call_time_budget_ms, policy.sync_time_budget_ms
            ),
        ),
        (
            "arguments",
            format!(
                "{} MiB copied out of the guest per import call, counted before each copy",
                policy.hostcall_cap_bytes / (1024 * 1024)
            ),
        ),
        (
            "inbox",
            format!(
                "{MAX_DELIVERIES_PER_CALL} deliveries and {} MiB per call; {MAX_CHANGES_PER_CALL} changes per call",
                policy.inbox_batch_cap_bytes / (1024 * 1024)
            ),
        ),
        (
            "storage",
            format!(
                "{} KiB per write batch; {} MiB and {} keys per mailbox; values sealed with AES-256-GCM",
                policy.storage_value_cap_bytes / 1024,
                policy.storage_quota_bytes / (1024 * 1024),
                policy.storage_quota_keys
            ),
        ),
        (
            "act",
            format!(
                "one action per `act` call (seen, flagged, answered, or a move between mapped folders), started by the platform from the mailbox's outbox; IMAP connections that may write, no submission socket; at most {} unfinished sends and actions per mailbox's outbox",
                policy.outbox_max_open
            ),
        ),
        (
            "log",
            "16 KiB read per message or field before redaction, 32 fields, 8 KiB per line".into(),
        ),
        (
            "send",
            format!(
                "one message per `send` call, of at most {} MiB, to at most {} recipients; at most {} a minute and {} a day per mailbox, on all nodes together",
                policy.send_max_message_bytes / (1024 * 1024),
                policy.send_max_recipients,
                policy.send_per_minute,
                policy.send_per_day
            ),
        ),
    ];
    rows.into_iter()
        .map(|(name, grant)| AuditRow {
            direction: "limit",
            name: name.to_string(),
            grant,
        })
        .collect()
}

fn import_grant(name: &str, item: Option<&ComponentItem>, policy: &Policy) -> String {
    let interface = name.split('@').next().unwrap_or(name);
    let granted = |pick: fn(&crate::policy::Grant) -> &Vec<String>| {
        let per_provider: Vec<String> = policy
            .providers
            .iter()
            .map(|(p, g)| {
                format!(
                    "{p}: {}",
                    if pick(g).is_empty() {
                        "nothing".into()
                    } else {
                        pick(g).join(", ")
                    }
                )
            })
            .collect();
        if per_provider.is_empty() {
            "nothing".to_string()
        } else {
            per_provider.join("; ")
        }
    };
    let plain = if policy.plain_hosts.is_empty() {
        "none".to_string()
    } else {
        policy.plain_hosts.join(", ")
    };
    match interface {
        "crm:mail-sync/http-client" => format!(
            "one request to the mailbox's provider only: {}; plain http only to: {plain}; no redirects followed; resolved addresses checked; bodies capped at {} KiB out, {} KiB in",
            granted(|g| &g.http),
            policy.http_request_cap_bytes / 1024,
            policy.http_response_cap_bytes / 1024
        ),
        "crm:mail-sync/imap-socket" => format!(
            "TLS socket to the mailbox's provider only: {}; plain only to: {plain}; host does TLS (web PKI + configured anchors); read-only except in a `send` or `act` call, each started by the platform from the mailbox's outbox (elsewhere the host refuses SELECT, STORE, COPY, MOVE, EXPUNGE, APPEND, CREATE, DELETE, RENAME, SETACL, literals and every command not known to read); reads capped at {} KiB; at most {} connections per call and {} per mailbox",
            granted(|g| &g.imap),
            policy.imap_read_cap_bytes / 1024,
            policy.imap_connections_per_call,
            policy.imap_connections_per_account
        ),
        "crm:mail-sync/submission-socket" => format!(
            "`send` calls only, each started by the platform with one draft: SMTP submission to the mailbox's provider only: {}; plain only to: {plain}; host does TLS; MAIL FROM must be the linked address, RCPT TO among the draft's recipients, at most {} of them; one message of at most {} MiB; no BDAT, VRFY, EXPN or other commands; no bare CR or LF; nothing written between DATA and the server's answer; at most {} connections per call",
            granted(|g| &g.submission),
            policy.send_max_recipients,
            policy.send_max_message_bytes / (1024 * 1024),
            crate::capabilities::submission_socket::SUBMISSION_CONNECTIONS_PER_CALL
        ),
        "crm:mail-sync/storage" => format!(
            "key-value in the host's SQLite, scoped to the calling mailbox; {} KiB per write batch",
            policy.storage_value_cap_bytes / 1024
        ),
        "crm:mail-sync/inbox" => format!(
            "deliveries and changes into the CRM inbox of the calling mailbox, idempotent on (mailbox, dedupe key); {} MiB per batch",
            policy.inbox_batch_cap_bytes / (1024 * 1024)
        ),
        "crm:mail-sync/log" => {
            "tracing, tagged with the mailbox; tokens and secrets redacted; 8 KiB per line".into()
        }
        "crm:mail-sync/config" => {
            "read-only platform settings (providers, flags, limits); a client secret only to the calls of its own provider's mailboxes".into()
        }
        "crm:mail-sync/normalizer" => format!(
            "sync and watch calls only: messages handed to other instances of this component, lent no provider's grant and no normalizer; {} such instances at once in the host, each in a free pool slot or none; {} MiB of jobs and outcomes not taken back per call",
            policy.normalize_workers(),
            crate::normalize_workers::WAITING_BYTES / (1024 * 1024)
        ),
        "crm:mail-sync/capability-types" | "crm:mail-sync/message" => {
            "types only, no functions".into()
        }
        "wasi:cli/environment" => {
            "linked, empty: no variables, no arguments, no working directory".into()
        }
        "wasi:cli/exit" => "linked: exiting ends the call with an error".into(),
        "wasi:cli/stdin" => "linked: stdin is closed".into(),
        "wasi:cli/stdout" | "wasi:cli/stderr" => "linked: output is discarded".into(),
        i if i.starts_with("wasi:cli/terminal") => "linked: no terminal".into(),
        i if i.starts_with("wasi:filesystem/") => {
            "linked, no preopened directories: no file can be named".into()
        }
        i if i.starts_with("wasi:sockets/") => {
            "linked, every address and name lookup refused".into()
        }
        i if i.starts_with("wasi:clocks/") => "granted: read the clocks".into(),
        "wasi:random/random" | "wasi:random/insecure" | "wasi:random/insecure-seed" => {
            "granted: random bytes".into()
        }
        i if i.starts_with("wasi:io/") => {
            "granted: streams and polling of the capabilities above".into()
        }
        _ => match item {
            Some(ComponentItem::ComponentInstance(_) | ComponentItem::ComponentFunc(_)) => {
                "NOT provided by the host: the component cannot be instantiated".into()
            }
            _ => "type import".into(),
        },
    }
}

/// The audit as an aligned text table.
pub fn render_table(rows: &[AuditRow]) -> String {
    let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<6}  {:<name_width$}  GRANT\n", "KIND", "NAME");
    out.push_str(&format!(
        "{}  {}  {}\n",
        "-".repeat(6),
        "-".repeat(name_width),
        "-".repeat(5)
    ));
    for r in rows {
        out.push_str(&format!(
            "{:<6}  {:<name_width$}  {}\n",
            r.direction, r.name, r.grant
        ));
    }
    out
}
