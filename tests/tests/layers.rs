//! The layers of the guest and of the host run one way: a module names (`crate::…`) only modules
//! of lower layers, and no two modules of one folder import each other, directly or round a
//! circle (they share a smaller type instead).

use std::path::{Path, PathBuf};

use tests::layers::{Layers, against_layers, sibling_circles};

/// The guest's layers: the vocabulary and the ports stay testable without the protocols and use
/// cases above them.
const GUEST: Layers = &[
    &["record", "i18n"],
    &["model"],
    &["ports"],
    &["errors"],
    &["providers"],
    &["imap", "oauth", "normalize"],
    &["account"],
    &["folders"],
    &["act", "send", "sync"],
    &["glue", "fuzzing"],
];

/// The store's layers (`host-harness/store`, a crate without wasmtime).
const STORE: Layers = &[
    &[
        "file_modes",
        "redact",
        "tls",
        "event_store",
        "inbox_store",
        "outbox_store",
        "turns",
    ],
    &["at_rest"],
    &["db"],
];

/// The sandbox's layers (`host-harness/sandbox`, a crate without axum or clap), above the store
/// it re-exports: pure rules first, then the resources and the contract, the shared state, the
/// capabilities and the plugin host, the calls.
const SANDBOX: Layers = &[
    // The store's modules, re-exported under their old names.
    &[
        "at_rest",
        "db",
        "event_store",
        "file_modes",
        "inbox_store",
        "outbox_store",
        "turns",
        "redact",
        "tls",
    ],
    &[
        "clock",
        "limits",
        "policy",
        "progress",
        "parking",
        "connection_slots",
        "faults",
        "send_rate",
    ],
    &["providers", "engine", "hostcall_fuel", "resources"],
    &["bindings", "settings"],
    &["admin_store", "errors", "shared"],
    &["state"],
    &["plugin_versions"],
    &["capabilities", "plugin_host"],
    &["normalize_workers", "unplaced"],
    &["audit", "mailbox"],
    &["outbox"],
];

/// The service's layers (`host-harness/service`): what it is made of, then its settings, the
/// context its handlers share, and the HTTP API and the panel on top, neither naming the other.
const SERVICE: Layers = &[
    &[
        "events",
        "http_errors",
        "http_server",
        "metrics",
        "scheduler",
        "stream_slots",
    ],
    &["sessions", "sync_pass", "webhooks"],
    &["push"],
    &["leases"],
    &["settings", "outbox_worker"],
    &["context"],
    &["api", "panel"],
];

/// The crates checked, each with its layers and the least number of names its scan must find.
const CRATES: &[(&str, Layers, usize)] = &[
    ("plugin", GUEST, 100),
    ("host-harness/store", STORE, 40),
    ("host-harness/sandbox", SANDBOX, 70),
    ("host-harness/service", SERVICE, 40),
];

fn sources(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

/// Checks `krate`'s imports against `layers`, where at least `least` names should be found.
fn check(krate: &str, layers: Layers, least: usize) {
    let src = sources(krate);
    let (wrong, checked) = against_layers(&src, layers);
    eprintln!("{krate}: {checked} names checked");
    assert!(
        checked >= least,
        "only {checked} names found in {krate}: the scan is broken"
    );
    assert!(
        wrong.is_empty(),
        "{krate}: imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    for (krate, layers, least) in CRATES {
        check(krate, layers, *least);
    }
}

#[test]
fn no_sibling_modules_import_each_other() {
    for (krate, _, _) in CRATES {
        let circles = sibling_circles(&sources(krate));
        assert!(
            circles.is_empty(),
            "{krate}: sibling modules in a circle:\n{}",
            circles.join("\n")
        );
    }
}
