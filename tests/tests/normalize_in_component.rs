//! The real plugin component in the real host: every corpus message normalised through the
//! sandbox gives the same record as the native code, and the compiled component is cached.

use host_harness::HostSettings;
use host_harness::bindings::message::{DateSource, Direction, ParseWarning};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use host_harness::engine::LoadedFrom;
use tests::plugin_host;

const MAILBOX: &str = "bob@crm-customer.nl";

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_corpus_message_normalises_in_the_component_as_natively() {
    let host = plugin_host(&HostSettings::default());
    let mailbox = host.mailbox("e2e");
    for (name, bytes) in corpus() {
        let native = plugin::normalize(
            &plugin::RawMessage {
                bytes: &bytes,
                internal_date: Some(1_700_000_000),
            },
            MAILBOX,
        );
        let wasm = mailbox
            .normalize(&bytes, Some(1_700_000_000), MAILBOX)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(wasm.dedupe_key, native.dedupe_key, "{name}");
        assert_eq!(wasm.message_id, native.message_id, "{name}");
        assert_eq!(wasm.subject, native.subject, "{name}");
        assert_eq!(wasm.text_body, native.text_body, "{name}");
        assert_eq!(wasm.html_body, native.html_body, "{name}");
        assert_eq!(wasm.date.utc, native.date.utc, "{name}");
        assert_eq!(wasm.attachments.len(), native.attachments.len(), "{name}");
        for (w, n) in wasm.attachments.iter().zip(&native.attachments) {
            assert_eq!(
                (w.sha256.as_str(), w.size),
                (n.sha256.as_str(), n.size),
                "{name}"
            );
        }
        assert_eq!(wasm.warnings.len(), native.warnings.len(), "{name}");
        assert_eq!(wasm.size, bytes.len() as u64, "{name}");
    }
}

#[tokio::test]
async fn records_cross_the_boundary_with_their_typed_fields() {
    let host = plugin_host(&HostSettings::default());
    let mailbox = host.mailbox("e2e");
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/12-reply.eml")).unwrap();
    let r = mailbox.normalize(&bytes, None, MAILBOX).await.unwrap();
    assert_eq!(r.direction, Direction::Outbound);
    assert_eq!(r.thread_key, "root-0@mail.example.org");
    assert_eq!(r.date.source, DateSource::Header);
    assert_eq!(r.date.offset_minutes, Some(60));
    assert_eq!(r.reply_to[0].address, "sales@crm-customer.nl");

    let r = mailbox
        .normalize(b"", Some(1_700_000_000), MAILBOX)
        .await
        .unwrap();
    assert!(r.warnings.contains(&ParseWarning::EmptyInput));
    assert_eq!(r.date.utc, "2023-11-14T22:13:20Z");
    assert_eq!(r.date.source, DateSource::InternalDate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_mailboxes_normalise_concurrently_in_one_host() {
    let host = std::sync::Arc::new(plugin_host(&HostSettings::default()));
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpus/05-attachments.eml"
    ))
    .unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (host, bytes) = (host.clone(), bytes.clone());
        calls.spawn(async move {
            host.mailbox(&format!("m{i}"))
                .normalize(&bytes, None, MAILBOX)
                .await
        });
    }
    let records = calls.join_all().await;
    assert_eq!(records.len(), 32);
    assert!(
        records
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.attachments.len() == 2))
    );
}

fn load_with_cache(cache: &std::path::Path) -> LoadedFrom {
    host_harness::PluginHost::load(
        host_harness::BUNDLED_PLUGIN.as_ref(),
        &HostSettings::default(),
        host_harness::Database::open_in_memory().unwrap(),
        Some(cache),
    )
    .unwrap()
    .loaded_from()
}

fn cached_file(cache: &std::path::Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn a_compiled_component_is_loaded_from_the_cache_the_second_time() {
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Compiled);
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Cache);
    let file = cached_file(cache.path());
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn a_missing_cache_directory_is_made_private() {
    let parent = tempfile::tempdir().unwrap();
    let cache = parent.path().join("cache");
    assert_eq!(load_with_cache(&cache), LoadedFrom::Compiled);
    assert_eq!(std::fs::metadata(&cache).unwrap().mode() & 0o777, 0o700);
    assert_eq!(load_with_cache(&cache), LoadedFrom::Cache);
}

/// A compiled component is native code: one in a directory others may write in, or owned by
/// another user, or a file others may write, could have been planted, and is never run.
#[test]
fn a_cache_others_could_have_planted_in_is_not_used() {
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Compiled);
    let file = cached_file(cache.path());

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Compiled);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Cache);

    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Compiled);
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Cache);

    // The suite runs as root on CI, where a directory can be given to another user.
    if running_as_root() {
        std::os::unix::fs::chown(cache.path(), Some(65534), None).unwrap();
        assert_eq!(load_with_cache(cache.path()), LoadedFrom::Compiled);
    }
}

#[test]
fn a_stale_or_foreign_compiled_file_is_replaced_not_run() {
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Compiled);
    let file = cached_file(cache.path());
    // Not code this engine wrote: refused by wasmtime's own checks, compiled again.
    std::fs::write(&file, b"\x7fELF not a compiled component").unwrap();
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Compiled);
    assert_eq!(load_with_cache(cache.path()), LoadedFrom::Cache);
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}
