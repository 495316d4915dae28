//! Arguments built to make the host copy as much as it can: one huge argument to each import,
//! and lists whose entries all point at one guest buffer, so the guest pays once and the host many times.

use std::mem::ManuallyDrop;

use crate::crm::mail_sync::{http_client, imap_socket, inbox, log, storage};
use crate::{describe_http_error, inbox_delivery, inbox_progress, record};

/// What one guest buffer weighs: the host may be asked to copy it many times.
const BUFFER_BYTES: usize = 48 * 1024 * 1024;

/// `import[:n]`: sends that import the largest argument this probe knows for it (`n` is the
/// IMAP port, or how many entries alias one buffer).
pub fn host_copy(argument: &str) -> String {
    let (import, n) = argument.split_once(':').unwrap_or((argument, ""));
    match import {
        "storage-set" => storage_outcome(storage::set("huge", &vec![7u8; BUFFER_BYTES])),
        "storage-batch-alias" => storage_batch_alias(),
        "log-message" => {
            let line = "x".repeat(BUFFER_BYTES);
            log::log(log::Level::Info, &line, &[]);
            "logged".into()
        }
        "log-fields" => log_fields(),
        "http-body" => match http_client::send(&http_client::Request {
            method: http_client::Method::Post,
            url: "https://oauth2.googleapis.com/token".into(),
            headers: vec![],
            body: vec![7u8; BUFFER_BYTES],
        }) {
            Ok(r) => format!("SENT {}", r.status),
            Err(e) => describe_http_error(e),
        },
        "imap-write" => imap_write(n),
        "inbox-deliveries" => inbox_deliveries(n == "alias"),
        "inbox-present" => inbox_present(n.parse().unwrap_or(1)),
        other => format!("unknown import {other}"),
    }
}

fn storage_outcome(result: Result<(), storage::StorageError>) -> String {
    match result {
        Ok(()) => "STORED".into(),
        Err(storage::StorageError::TooLarge(c)) => format!("too-large {}", c.limit),
        Err(other) => format!("failed {other:?}"),
    }
}

/// 32 writes whose values are all the same 48 MiB buffer: 1.5 GiB for the host to copy.
fn storage_batch_alias() -> String {
    let mut buffer = ManuallyDrop::new(vec![7u8; BUFFER_BYTES]);
    let (ptr, len) = (buffer.as_mut_ptr(), buffer.len());
    let writes: Vec<storage::Write> = (0..32)
        .map(|i| {
            // SAFETY: the aliases are only read by the lowering and never dropped (forgotten
            // below), so the one allocation is neither written through nor freed twice.
            let alias = unsafe { Vec::from_raw_parts(ptr, len, len) };
            storage::Write::Set((format!("alias/{i}"), alias))
        })
        .collect();
    let outcome = storage_outcome(storage::batch(&writes));
    for write in writes {
        std::mem::forget(write);
    }
    outcome
}

/// A million fields, each name and value pointing at one 48 MiB string.
fn log_fields() -> String {
    let text = ManuallyDrop::new("y".repeat(BUFFER_BYTES));
    let (ptr, len) = (text.as_ptr() as *mut u8, text.len());
    // SAFETY: as in `storage_batch_alias`.
    let alias = || unsafe { String::from_raw_parts(ptr, len, len) };
    let fields: Vec<log::Field> = (0..1_000_000)
        .map(|_| log::Field {
            key: alias(),
            value: alias(),
        })
        .collect();
    log::log(log::Level::Info, "fields", &fields);
    for field in fields {
        std::mem::forget(field);
    }
    "logged".into()
}

fn imap_write(port: &str) -> String {
    let outcome = imap_socket::open(
        "127.0.0.1",
        port.parse().unwrap_or(993),
        imap_socket::Security::Plain,
    )
    .and_then(|conn| conn.write(&vec![b'a'; BUFFER_BYTES]));
    match outcome {
        Ok(()) => "WRITTEN".into(),
        Err(imap_socket::SocketError::TooLarge(c)) => format!("too-large {}", c.limit),
        Err(other) => format!("failed {other:?}"),
    }
}

/// 20,000 deliveries, past the host's count; with `alias`, their text bodies are all one
/// 48 MiB string.
fn inbox_deliveries(alias: bool) -> String {
    let text = ManuallyDrop::new("z".repeat(BUFFER_BYTES));
    let (ptr, len) = (text.as_ptr() as *mut u8, text.len());
    let deliveries: Vec<inbox::Delivery> = (0..20_000u32)
        .map(|uid| {
            let mut message = record(String::new());
            message.dedupe_key = format!("copy-{uid}");
            if alias {
                // SAFETY: as in `storage_batch_alias`: read by the lowering only, then forgotten.
                message.text_body = unsafe { String::from_raw_parts(ptr, len, len) };
            }
            inbox_delivery(message, uid)
        })
        .collect();
    let progress = inbox_progress(0);
    let outcome = inbox::deliver(&deliveries, &progress);
    for mut delivery in deliveries {
        std::mem::forget(std::mem::take(&mut delivery.record.text_body));
    }
    match outcome {
        Ok(r) => format!("delivered {}", r.created),
        Err(inbox::InboxError::TooLarge(c)) => format!("too-large {}", c.limit),
        Err(other) => format!("failed {other:?}"),
    }
}

/// `lists` `present` lists, each the same 12 million UIDs (past the host's 10 million).
fn inbox_present(lists: usize) -> String {
    let mut uids = ManuallyDrop::new(vec![1u32; 12_000_000]);
    let (ptr, len) = (uids.as_mut_ptr(), uids.len());
    let changes: Vec<inbox::Change> = (0..lists)
        .map(|_| {
            inbox::Change::Present(inbox::PresentUids {
                remote_folder: "INBOX".into(),
                uid_validity: 1,
                up_to: 1,
                // SAFETY: as in `storage_batch_alias`.
                uids: unsafe { Vec::from_raw_parts(ptr, len, len) },
            })
        })
        .collect();
    let outcome = inbox::apply(&changes);
    for change in changes {
        std::mem::forget(change);
    }
    match outcome {
        Ok(r) => format!("applied {}", r.updated),
        Err(inbox::InboxError::TooLarge(c)) => format!("too-large {}", c.limit),
        Err(other) => format!("failed {other:?}"),
    }
}
