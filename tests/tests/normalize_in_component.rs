//! The real plugin component in the real host: every corpus message normalised through the
//! sandbox gives the same record as the native code, and the compiled component is cached.

use host_harness::HostSettings;
use host_harness::bindings::message::{self as wit, DateSource, Direction, ParseWarning};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use host_harness::engine::LoadedFrom;
use tests::plugin_host;

const MAILBOX: &str = "bob@crm-customer.nl";

fn corpus() -> Vec<(String, Vec<u8>)> {
    tests::realistic::test_corpus()
}

/// The native record in the WIT types the host receives, field by field; both records are
/// destructured whole, so a field added to either breaks the build here, not the comparison.
fn as_wit(r: plugin::MessageRecord) -> wit::MessageRecord {
    use plugin::record as native;
    let native::MessageRecord {
        dedupe_key,
        message_id,
        message_id_derived,
        in_reply_to,
        references,
        thread_key,
        subject,
        from,
        sender,
        reply_to,
        to,
        cc,
        bcc,
        date,
        text_body,
        html_body,
        snippet,
        attachments,
        classification,
        size,
        direction,
        truncated,
        warnings,
    } = r;
    let addresses = |list: Vec<native::MailboxAddress>| -> Vec<wit::MailboxAddress> {
        list.into_iter()
            .map(|native::MailboxAddress { name, address }| wit::MailboxAddress { name, address })
            .collect()
    };
    let native::MessageDate {
        utc,
        offset_minutes,
        source,
    } = date;
    let native::Classification {
        auto_reply,
        mailing_list,
        bulk,
        auto_submitted,
        precedence,
        list_id,
    } = classification;
    wit::MessageRecord {
        dedupe_key,
        message_id,
        message_id_derived,
        in_reply_to,
        references,
        thread_key,
        subject,
        from: addresses(from),
        sender: addresses(sender),
        reply_to: addresses(reply_to),
        to: addresses(to),
        cc: addresses(cc),
        bcc: addresses(bcc),
        date: wit::MessageDate {
            utc,
            offset_minutes,
            source: match source {
                native::DateSource::Header => DateSource::Header,
                native::DateSource::InternalDate => DateSource::InternalDate,
                native::DateSource::None => DateSource::None,
            },
        },
        text_body,
        html_body,
        snippet,
        attachments: attachments
            .into_iter()
            .map(
                |native::Attachment {
                     filename,
                     mime_type,
                     size,
                     content_id,
                     inline,
                     digest,
                     digest_algorithm,
                     decoded,
                 }| wit::Attachment {
                    filename,
                    mime_type,
                    size,
                    content_id,
                    inline,
                    digest,
                    digest_algorithm: match digest_algorithm {
                        native::DigestAlgorithm::Sha256 => wit::DigestAlgorithm::Sha256,
                        native::DigestAlgorithm::Blake3 => wit::DigestAlgorithm::Blake3,
                    },
                    decoded,
                },
            )
            .collect(),
        classification: wit::Classification {
            auto_reply,
            mailing_list,
            bulk,
            auto_submitted,
            precedence,
            list_id,
        },
        size,
        direction: match direction {
            native::Direction::Inbound => Direction::Inbound,
            native::Direction::Outbound => Direction::Outbound,
        },
        truncated,
        warnings: warnings.into_iter().map(as_wit_warning).collect(),
    }
}

fn as_wit_warning(w: plugin::ParseWarning) -> ParseWarning {
    use plugin::ParseWarning as N;
    match w {
        N::EmptyInput => ParseWarning::EmptyInput,
        N::NoHeaders => ParseWarning::NoHeaders,
        N::MissingMessageId => ParseWarning::MissingMessageId,
        N::MissingDate => ParseWarning::MissingDate,
        N::UnparseableDate(s) => ParseWarning::UnparseableDate(s),
        N::MissingFrom => ParseWarning::MissingFrom,
        N::RawEightBitHeader(s) => ParseWarning::RawEightBitHeader(s),
        N::UnknownCharset(s) => ParseWarning::UnknownCharset(s),
        N::UnterminatedMultipart(s) => ParseWarning::UnterminatedMultipart(s),
        N::UndecodablePart(i) => ParseWarning::UndecodablePart(i),
        N::MalformedAddress(s) => ParseWarning::MalformedAddress(s),
        N::TextBodyTruncated(n) => ParseWarning::TextBodyTruncated(n),
        N::HtmlBodyTruncated(n) => ParseWarning::HtmlBodyTruncated(n),
        N::HeadersOnly(why) => ParseWarning::HeadersOnly(why),
    }
}

#[tokio::test]
async fn every_corpus_message_normalises_in_the_component_as_natively() {
    let host = plugin_host(&HostSettings::default());
    let mailbox = host.mailbox("e2e");
    let files = corpus();
    assert!(files.len() >= 30, "the whole corpus: {}", files.len());
    for (name, bytes) in files {
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
        assert_eq!(wasm.size, bytes.len() as u64, "{name}");
        // The whole record, every field.
        assert_eq!(wasm, as_wit(native), "{name}");
    }
}

/// The golden set (realistic mail, damaged transfer encodings) in one instance, as a sync runs
/// it: the component's records are the native code's, field by field.
#[tokio::test]
async fn the_golden_set_normalises_in_the_component_as_natively() {
    let host = plugin_host(&HostSettings::default());
    let scope = host_harness::state::MailboxScope {
        id: "golden".into(),
        provider: host_harness::state::ProviderGrant::Known(None),
    };
    let (mut store, guest) = host.instantiate(scope).await.expect("an instance");
    for (name, bytes) in tests::realistic::golden_set() {
        let native = plugin::normalize(
            &plugin::RawMessage {
                bytes: &bytes,
                internal_date: Some(1_700_000_000),
            },
            MAILBOX,
        );
        let raw = host_harness::bindings::RawMessage {
            bytes,
            internal_date: Some(1_700_000_000),
        };
        let wasm = guest
            .normalize(&mut store, &raw, MAILBOX)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(wasm, as_wit(native), "{name}");
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

/// `calls` normalisations of the corpus's message with two attachments at once, each for a
/// mailbox of its own; true when every one gave its record.
async fn normalise_at_once(host: std::sync::Arc<host_harness::PluginHost>, calls: usize) -> bool {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpus/05-attachments.eml"
    ))
    .unwrap();
    let mut running = tokio::task::JoinSet::new();
    for i in 0..calls {
        let (host, bytes) = (host.clone(), bytes.clone());
        running.spawn(async move {
            host.mailbox(&format!("m{i}"))
                .normalize(&bytes, None, MAILBOX)
                .await
        });
    }
    let records = running.join_all().await;
    records.len() == calls
        && records
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.attachments.len() == 2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_mailboxes_normalise_concurrently_in_one_host() {
    let host = std::sync::Arc::new(plugin_host(&HostSettings::default()));
    assert!(normalise_at_once(host, 32).await);
}

/// Instances come from the host's pool: past `instances_at_once`, a call waits for a slot
/// rather than failing, and goes on when one is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_pool_wait_for_a_slot() {
    let mut settings = HostSettings::default();
    settings.policy.instances_at_once = 2;
    let host = std::sync::Arc::new(plugin_host(&settings));
    let scope = |id: &str| host_harness::state::MailboxScope {
        id: id.into(),
        provider: host_harness::state::ProviderGrant::Known(None),
    };
    let first = host.instantiate(scope("a")).await.expect("first slot");
    let second = host.instantiate(scope("b")).await.expect("second slot");
    // Polled once, the third call queues for a slot: pending, neither failed nor instantiated.
    let mut third = Box::pin(host.instantiate(scope("c")));
    let queued = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(third.as_mut(), cx).is_pending())
    })
    .await;
    assert!(queued, "a third instance got a slot of two, or failed");
    drop(first);
    tokio::time::timeout(std::time::Duration::from_secs(30), third)
        .await
        .expect("the third instance took the freed slot")
        .expect("instantiated");
    drop(second);
    // Sixteen calls through two slots: each waits its turn, none fails.
    assert!(normalise_at_once(host, 16).await);
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

/// Jobs a sync hands on are bounded by what waits in the host, outcomes not yet taken back
/// included: a caller that never takes them gets no more jobs taken, not an ever-growing queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_whose_outcomes_are_not_taken_back_stop_being_taken_at_the_cap() {
    use host_harness::bindings::normalizer::Job;
    use host_harness::normalize_workers::{NormalizeWorkers, WAITING_BYTES};
    let mut workers = NormalizeWorkers::new(plugin_host(&HostSettings::default()), "m");
    let job = || Job {
        bytes: [b"Subject: big\r\n\r\n".as_slice(), &vec![b'a'; 1024 * 1024]].concat(),
        internal_date: None,
        mailbox_address: "anna@example.nl".into(),
        max_body_bytes: 1024 * 1024,
        whole_size: None,
    };
    let mut taken = 0u64;
    while workers.submit(taken, job()).await {
        taken += 1;
        assert!(taken < 100, "jobs kept being taken past the cap");
    }
    assert_eq!(taken as usize, WAITING_BYTES / (1024 * 1024 + 2048));
    // Taking outcomes back gives their room back.
    let back = workers.finished(true).await;
    assert!(!back.is_empty() && back.iter().all(|(_, r)| r.is_ok()));
    assert!(
        workers.submit(taken, job()).await,
        "room again once outcomes are taken"
    );
}
