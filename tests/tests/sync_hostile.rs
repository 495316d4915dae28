//! Hostile mail against a real Dovecot: a message built to be too big for the CRM, or too costly
//! to normalise, is kept as a truncated record, and nothing else in its batch, its folder or the
//! other folders is held up by it, on this run or the next.

use host_harness::bindings::message::{MessageRecord, ParseWarning};
use host_harness::bindings::sync::SyncReport;
use tests::mail_fixtures::{control_characters, html_beside, lines_of, plain};
use tests::oauth_world::OAuthWorld;
use tests::secrets::assert_no_secret_captured;
use tests::sync_checks::{ANNA, folder, mapping, messages, seeder, sync, world_with};

fn record(w: &OAuthWorld, subject: &str) -> (bool, MessageRecord) {
    #[derive(serde::Deserialize)]
    struct Stored {
        record: MessageRecord,
    }
    let m = messages(w)
        .into_iter()
        .find(|m| m.subject.as_deref() == Some(subject))
        .unwrap_or_else(|| panic!("no record {subject:?}"));
    let stored: Stored = serde_json::from_str(&m.record_json).expect("stored record");
    (m.truncated, stored.record)
}

fn small(id: &str) -> Vec<u8> {
    plain(
        id,
        "Klant <klant@example.com>",
        ANNA,
        id,
        "Beste Anna, tot morgen.",
    )
}

/// A, the poison, B in INBOX and C in Archive; two syncs.
async fn two_syncs_around(w: &OAuthWorld, poison: &[u8]) -> (SyncReport, SyncReport) {
    let mut s = seeder(w).await;
    s.append("INBOX", &small("A")).await;
    s.append("INBOX", poison).await;
    s.append("INBOX", &small("B")).await;
    s.append("Archive", &small("C")).await;
    let first = sync(w).await;
    let second = sync(w).await;
    (first, second)
}

fn assert_everything_delivered(first: &SyncReport, second: &SyncReport) {
    assert!(first.complete, "{first:?}");
    let inbox = folder(first, "INBOX");
    assert_eq!((inbox.created, inbox.truncated), (3, 1), "{first:?}");
    assert!(inbox.error.is_none(), "{first:?}");
    assert_eq!(folder(first, "Archive").created, 1, "{first:?}");
    assert!(second.complete, "{second:?}");
    assert_eq!(folder(second, "INBOX").created, 0, "{second:?}");
}

#[tokio::test]
async fn a_message_of_control_characters_is_kept_cut_and_stops_nothing() {
    let w = world_with(mapping("INBOX", Some("Archive")), |_| {}).await;
    let poison = html_beside("cc", &control_characters(12 * 1024 * 1024));
    let (first, second) = two_syncs_around(&w, &poison).await;
    assert_everything_delivered(&first, &second);
    for subject in ["A", "B", "C"] {
        assert!(!record(&w, subject).0, "{subject} whole");
    }
    let (truncated, poison) = record(&w, "Poison cc");
    assert!(truncated && poison.truncated);
    assert!(poison.text_body.len() <= 1024 * 1024);
    assert!(
        poison
            .warnings
            .iter()
            .any(|w| matches!(w, ParseWarning::TextBodyTruncated(n) if *n > 12_000_000)),
        "{:?}",
        poison.warnings
    );
    // The HTML body is the HTML part alone, not the text copied as HTML.
    assert_eq!(
        poison.html_body.as_deref().map(str::trim),
        Some("<p>hallo</p>")
    );
    assert_no_secret_captured();
}

#[tokio::test]
async fn forty_megabytes_of_angle_brackets_stay_inside_the_memory_cap() {
    let w = world_with(mapping("INBOX", Some("Archive")), |_| {}).await;
    let poison = html_beside("lt", &lines_of(&[b'<'; 998], 40 * 1000 * 1000));
    let (first, second) = two_syncs_around(&w, &poison).await;
    assert_everything_delivered(&first, &second);
    let (_, poison) = record(&w, "Poison lt");
    assert!(poison.truncated);
    assert!(poison.text_body.len() <= 1024 * 1024);
}

#[tokio::test]
async fn a_record_the_inbox_refuses_goes_as_its_headers_only_and_the_rest_of_its_batch_goes_whole()
{
    // The CRM takes at most 200 kB a delivery; one message's text alone is more.
    let w = world_with(mapping("INBOX", Some("Archive")), |s| {
        s.policy.inbox_batch_cap_bytes = 200_000;
    })
    .await;
    let poison = html_beside("big", &lines_of(&[b'a'; 500], 400_000));
    let (first, second) = two_syncs_around(&w, &poison).await;
    assert_everything_delivered(&first, &second);
    for subject in ["A", "B", "C"] {
        let (truncated, r) = record(&w, subject);
        assert!(!truncated, "{subject} whole");
        assert!(r.text_body.contains("tot morgen"), "{subject}: {r:?}");
    }
    let (truncated, big) = record(&w, "Poison big");
    assert!(truncated);
    assert_eq!(big.text_body, "");
    assert_eq!(big.html_body, None);
    assert_eq!(big.from[0].address, "x@example.com");
    let reason = big
        .warnings
        .iter()
        .find_map(|w| match w {
            ParseWarning::HeadersOnly(why) => Some(why.clone()),
            _ => None,
        })
        .expect("a headers-only warning");
    assert!(reason.contains("cap of 200000 bytes"), "{reason}");
}

/// A message whose normalisation kills the instance (here an injected trap, right after the
/// plugin wrote it down as the suspect) stops one run, never its folder: the next run fetches it
/// as its headers only, with the reason, and delivers everything else.
#[tokio::test]
async fn a_message_that_kills_its_instance_is_kept_as_headers_on_the_next_run() {
    let w = world_with(mapping("INBOX", Some("Archive")), |_| {}).await;
    let poison = html_beside("trap", &lines_of(&[b'a'; 500], 2 * 1024 * 1024));
    let mut s = seeder(&w).await;
    s.append("INBOX", &small("A")).await;
    s.append("INBOX", &poison).await;
    s.append("INBOX", &small("B")).await;
    s.append("Archive", &small("C")).await;
    w.host
        .shared()
        .faults
        .arm()
        .trap_after_writing("sync/suspect/");
    let died = w.mailbox("m1").sync().await;
    assert!(
        matches!(&died, Err(host_harness::CallError::Trap { message }) if message.contains("injected")),
        "{died:?}"
    );
    assert!(
        w.stored("m1", "sync/suspect/INBOX").is_some(),
        "the suspect is written down"
    );

    let second = sync(&w).await;
    assert!(second.complete, "{second:?}");
    let inbox = folder(&second, "INBOX");
    assert_eq!((inbox.created, inbox.truncated), (3, 1), "{second:?}");
    assert_eq!(folder(&second, "Archive").created, 1, "{second:?}");
    let (truncated, kept) = record(&w, "Poison trap");
    assert!(truncated);
    assert_eq!(kept.text_body, "");
    assert!(
        kept.warnings
            .iter()
            .any(|w| matches!(w, ParseWarning::HeadersOnly(why) if why.contains("stopped an earlier sync"))),
        "{:?}",
        kept.warnings
    );
    assert!(w.stored("m1", "sync/suspect/INBOX").is_none(), "forgotten");
    let third = sync(&w).await;
    assert!(
        third.complete && folder(&third, "INBOX").created == 0,
        "{third:?}"
    );
}

/// A message that stops the instance it was handed to (here an injected trap in that worker)
/// stops nothing else: in the same run it is kept as its headers only, with the reason, and
/// everything around it is delivered whole.
#[tokio::test]
async fn a_message_that_kills_its_worker_is_kept_as_headers_in_the_same_run() {
    let w = world_with(mapping("INBOX", Some("Archive")), |_| {}).await;
    let poison = html_beside("worker", &lines_of(&[b'a'; 500], 100 * 1024));
    w.host
        .shared()
        .faults
        .arm()
        .trap_normalizing("Poison worker");
    let (first, second) = two_syncs_around(&w, &poison).await;
    assert_everything_delivered(&first, &second);
    for subject in ["A", "B", "C"] {
        assert!(!record(&w, subject).0, "{subject} whole");
    }
    let (truncated, kept) = record(&w, "Poison worker");
    assert!(truncated && kept.truncated);
    assert_eq!(kept.text_body, "");
    assert!(
        kept.warnings.iter().any(
            |w| matches!(w, ParseWarning::HeadersOnly(why) if why.contains("stopped its instance"))
        ),
        "{:?}",
        kept.warnings
    );
    assert!(w.stored("m1", "sync/suspect/INBOX").is_none(), "forgotten");
}

/// A failure of the host's own worker task (an injected panic: a bug of the host, not the
/// message's doing) hands that message back to the sync, which normalises it whole in its own
/// instance in the same run, instead of waiting for an outcome that never comes.
#[tokio::test]
async fn a_host_failure_in_a_worker_hands_the_message_back_to_be_normalised_whole() {
    // A lost outcome would hold the sync until its budget ends: a minute, not half an hour.
    let w = world_with(mapping("INBOX", Some("Archive")), |s| {
        s.policy.sync_time_budget_ms = 60_000
    })
    .await;
    let unlucky = plain(
        "unlucky",
        "Klant <klant@example.com>",
        ANNA,
        "Unlucky",
        "Beste Anna, dit bericht trof een fout van de host.",
    );
    w.host
        .shared()
        .faults
        .arm()
        .panic_normalizing("fout van de host");
    let (first, second) = two_syncs_around(&w, &unlucky).await;
    assert!(first.complete && second.complete, "{first:?}\n{second:?}");
    let inbox = folder(&first, "INBOX");
    assert_eq!((inbox.created, inbox.truncated), (3, 0), "{first:?}");
    assert!(inbox.error.is_none(), "{first:?}");
    assert_eq!(folder(&second, "INBOX").created, 0, "{second:?}");
    for subject in ["A", "B", "C", "Unlucky"] {
        assert!(!record(&w, subject).0, "{subject} whole");
    }
    assert!(
        record(&w, "Unlucky")
            .1
            .text_body
            .contains("fout van de host")
    );
    assert!(
        !w.host.shared().faults.arm().panic_normalizing_armed(),
        "no worker took the message: the panic was never injected"
    );
}
