//! Sync end to end: the real plugin reads a real Dovecot over TLS with the linked account's
//! token and delivers into the host's SQLite inbox; nothing is lost and nothing is duplicated,
//! through new mail, flag changes, expunges, a UIDVALIDITY reset, moves, crashes and cuts.

use std::time::Duration;

use host_harness::HostSettings;
use host_harness::bindings::mailbox::ErrorKind;
use host_harness::bindings::sync::{WatchOutcome, WatchReport};
use tests::cut_proxy::CutProxy;
use tests::dovecot::STANDARD_FOLDERS;
use tests::mail_fixtures::{days_ago, plain, with_attachment};
use tests::oauth_world::{OAuthWorld, captured, point_imap_at};
use tests::secrets::assert_no_secret_captured;
use tests::sync_checks::{
    ANNA, append_many, folder, live, mapping, messages, seeder, sync, world, world_logging_opens,
    world_with,
};

#[tokio::test]
async fn a_first_sync_takes_the_backfill_window_and_a_second_finds_nothing_new() {
    let w = world(mapping("INBOX", Some("Archive"))).await;
    let mut s = seeder(&w).await;
    let old = plain(
        "old-1",
        "Oud <oud@example.com>",
        ANNA,
        "Old",
        "from last year",
    );
    s.append_with("INBOX", "\\Seen", Some(&days_ago(90)), &old)
        .await;
    for i in 0..3 {
        let m = plain(
            &format!("new-{i}"),
            "Klant <klant@example.com>",
            ANNA,
            &format!("Offerte {i}"),
            "body",
        );
        s.append_with("INBOX", "", Some(&days_ago(2)), &m).await;
    }
    let m = plain(
        "arch-1",
        "Klant <klant@example.com>",
        ANNA,
        "Archived",
        "body",
    );
    s.append_with("Archive", "\\Seen \\Flagged", Some(&days_ago(5)), &m)
        .await;

    let first = sync(&w).await;
    assert!(first.complete, "{first:?}");
    let inbox = folder(&first, "INBOX");
    assert!(inbox.first_sync);
    assert_eq!(
        (inbox.created, inbox.skipped),
        (3, 0),
        "the 90-day-old message is outside the window"
    );
    assert_eq!(folder(&first, "Archive").created, 1);
    let stored = messages(&w);
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().all(|m| m.subject.as_deref() != Some("Old")));
    let archived = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("Archived"))
        .unwrap();
    assert_eq!(archived.folder, "archive");
    assert!(archived.seen && archived.flagged && !archived.answered);
    let record: serde_json::Value = serde_json::from_str(&archived.record_json).unwrap();
    assert_eq!(record["record"]["from"][0]["address"], "klant@example.com");

    let second = sync(&w).await;
    assert!(second.complete);
    assert!(
        second
            .folders
            .iter()
            .all(|f| f.created + f.updated + f.removed == 0 && !f.first_sync)
    );
    assert_eq!(
        second.imap_commands, 2,
        "one EXAMINE per folder: {second:?}"
    );
    assert_eq!(messages(&w).len(), 4);
    assert_no_secret_captured();
}

#[tokio::test]
async fn new_mail_is_fetched_above_the_checkpoint_only() {
    let w = world(mapping("INBOX", None)).await;
    let mut s = seeder(&w).await;
    append_many(&mut s, "INBOX", "first", 3).await;
    assert_eq!(folder(&sync(&w).await, "INBOX").created, 3);
    append_many(&mut s, "INBOX", "second", 2).await;
    let report = sync(&w).await;
    let inbox = folder(&report, "INBOX");
    assert_eq!((inbox.created, inbox.skipped), (2, 0), "{report:?}");
    assert_eq!(messages(&w).len(), 5);
}

#[tokio::test]
async fn flag_changes_and_expunges_arrive_through_qresync() {
    let w = world(mapping("INBOX", None)).await;
    let mut s = seeder(&w).await;
    append_many(&mut s, "INBOX", "q", 3).await;
    sync(&w).await;
    s.run("SELECT INBOX").await;
    s.run("UID STORE 1 +FLAGS (\\Seen \\Answered)").await;
    s.run("UID STORE 2 +FLAGS (\\Deleted)").await;
    s.run("EXPUNGE").await;

    let report = sync(&w).await;
    let inbox = folder(&report, "INBOX");
    assert_eq!(
        (inbox.created, inbox.updated, inbox.removed),
        (0, 1, 1),
        "{report:?}"
    );
    let stored = messages(&w);
    let by_subject = |s: &str| {
        stored
            .iter()
            .find(|m| m.subject.as_deref() == Some(s))
            .unwrap()
    };
    assert!(by_subject("q 0").seen && by_subject("q 0").answered);
    assert!(by_subject("q 1").removed, "expunged: marked removed, kept");
    assert!(!by_subject("q 2").removed && !by_subject("q 2").seen);
    assert_eq!(by_subject("q 0").updates, ["flags"]);
}

/// One watch call for "m1": push's round, as the service makes it when the server speaks.
async fn watch(w: &OAuthWorld, stop: bool) -> WatchReport {
    w.mailbox("m1")
        .watch(stop)
        .await
        .expect("call runs")
        .expect("watch")
}

fn created_updated_removed(report: &WatchReport) -> (u32, u32, u32) {
    let inbox = report.inbox.as_ref().expect("the inbox's report");
    (inbox.created, inbox.updated, inbox.removed)
}

#[tokio::test]
async fn a_resumed_push_session_takes_changes_from_the_open_folder_without_opening_it_again() {
    let w = world_logging_opens(mapping("INBOX", None)).await;
    let dovecot = w.dovecot.as_ref().expect("dovecot");
    let mut s = seeder(&w).await;
    append_many(&mut s, "INBOX", "p", 3).await;
    let first = watch(&w, false).await;
    assert!(matches!(first.outcome, WatchOutcome::Parked), "{first:?}");
    assert_eq!(created_updated_removed(&first), (3, 0, 0));
    let opened = dovecot.opened_by_token_sessions("INBOX");
    assert_eq!(opened, 1, "{}", dovecot.log());

    // While the session idles: a flag change, an expunge and a new message.
    s.run("SELECT INBOX").await;
    s.run("UID STORE 1 +FLAGS (\\Seen \\Answered)").await;
    s.run("UID STORE 2 +FLAGS (\\Deleted)").await;
    s.run("EXPUNGE").await;
    append_many(&mut s, "INBOX", "later", 1).await;
    let resumed = watch(&w, false).await;
    assert!(
        matches!(resumed.outcome, WatchOutcome::Parked),
        "{resumed:?}"
    );
    // The expunged message lost its last place: a push cannot tell a move from a removal, so
    // it waits for a whole pass (which the service runs at once).
    assert_eq!(created_updated_removed(&resumed), (1, 1, 0), "{resumed:?}");
    let unplaced = w.host.shared().db.inbox().inbox_unplaced("m1").unwrap();
    assert_eq!(unplaced.len(), 1);
    // Nothing since: the checkpoint's mod-sequence moved past what was reported.
    let quiet = watch(&w, false).await;
    assert_eq!(created_updated_removed(&quiet), (0, 0, 0), "{quiet:?}");
    assert_eq!(
        dovecot.opened_by_token_sessions("INBOX"),
        opened,
        "the resumed session opened the folder again"
    );
    watch(&w, true).await;
    assert!(
        messages(&w).iter().all(|m| !m.removed),
        "no removal before a whole pass"
    );
    let pass = sync(&w).await;
    assert_eq!(folder(&pass, "INBOX").removed, 1, "{pass:?}");

    let stored = messages(&w);
    let by_subject = |s: &str| {
        stored
            .iter()
            .find(|m| m.subject.as_deref() == Some(s))
            .unwrap_or_else(|| panic!("{s} is missing"))
    };
    assert!(by_subject("p 0").seen && by_subject("p 0").answered);
    assert!(by_subject("p 1").removed);
    assert!(!by_subject("p 2").removed && !by_subject("p 2").seen);
    assert!(!by_subject("later 0").removed);
    assert_eq!(stored.len(), 4);
}

#[tokio::test]
async fn a_recreated_folder_is_rescanned_without_duplicates() {
    let w = world(mapping("INBOX", Some("Archive"))).await;
    let mut s = seeder(&w).await;
    append_many(&mut s, "Archive", "keep", 3).await;
    assert_eq!(folder(&sync(&w).await, "Archive").created, 3);
    // The folder is recreated with two of the three messages: a new UIDVALIDITY.
    s.delete("Archive").await;
    s.create("Archive").await;
    for i in 0..2 {
        let m = plain(
            &format!("keep-{i}"),
            "Klant <klant@example.com>",
            ANNA,
            &format!("keep {i}"),
            &"Beste Anna, hierbij de offerte. ".repeat(20),
        );
        s.append("Archive", &m).await;
    }
    let report = sync(&w).await;
    let archive = folder(&report, "Archive");
    assert!(archive.uid_validity_reset, "{report:?}");
    assert_eq!(
        (archive.created, archive.skipped, archive.removed),
        (0, 2, 1),
        "{report:?}"
    );
    assert_eq!(messages(&w).len(), 3, "nothing duplicated");
    assert_eq!(live(&w).len(), 2);
    assert!(sync(&w).await.folders.iter().all(|f| !f.uid_validity_reset));
}

#[tokio::test]
async fn a_rescan_after_a_new_uidvalidity_reaches_back_to_the_first_syncs_window() {
    let w = world_with(mapping("INBOX", Some("Archive")), |s| {
        s.platform.limits.backfill_days = 30
    })
    .await;
    let mut s = seeder(&w).await;
    let dated = [("twenty-1", "Twenty days", 20), ("recent-1", "Recent", 2)];
    for (id, subject, days) in dated {
        let m = plain(id, "Klant <klant@example.com>", ANNA, subject, "body");
        s.append_with("Archive", "", Some(&days_ago(days)), &m)
            .await;
    }
    assert_eq!(folder(&sync(&w).await, "Archive").created, 2);

    // Later the window is 10 days, and the archive is recreated with the same two messages: the
    // rescan must still reach the first sync's date, or the older message would be lost.
    s.delete("Archive").await;
    s.create("Archive").await;
    for (id, subject, days) in dated {
        let m = plain(id, "Klant <klant@example.com>", ANNA, subject, "body");
        s.append_with("Archive", "", Some(&days_ago(days)), &m)
            .await;
    }
    let mut later = w.settings.clone();
    later.platform.limits.backfill_days = 10;
    let host = host_harness::PluginHost::load(
        host_harness::BUNDLED_PLUGIN.as_ref(),
        &later,
        w.db.clone(),
        Some(&tests::component_cache()),
    )
    .expect("host");
    let report = captured(host.mailbox("m1").sync().await.expect("the call runs")).expect("synced");
    let archive = folder(&report, "Archive");
    assert!(archive.uid_validity_reset, "{report:?}");
    assert_eq!(
        (archive.created, archive.skipped, archive.removed),
        (0, 2, 0),
        "both found again by their dedupe keys: {report:?}"
    );
    let subjects: Vec<_> = live(&w).into_iter().filter_map(|m| m.subject).collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
}

#[tokio::test]
async fn a_message_in_two_mapped_folders_is_one_record_and_a_move_is_an_update() {
    let w = world(mapping("INBOX", Some("Archive"))).await;
    let mut s = seeder(&w).await;
    let m = plain("both", "Klant <klant@example.com>", ANNA, "In both", "body");
    s.append("INBOX", &m).await;
    s.append("Archive", &m).await;
    let report = sync(&w).await;
    assert_eq!(folder(&report, "INBOX").created, 1);
    assert_eq!(folder(&report, "Archive").skipped, 1);
    let stored = messages(&w);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].folder, "inbox", "inbox comes before archive");
    assert_eq!(stored[0].locations.len(), 2);

    // Archived: it leaves the inbox and the CRM's record moves with it.
    let moved = plain("moved", "Klant <klant@example.com>", ANNA, "Moved", "body");
    s.append("INBOX", &moved).await;
    sync(&w).await;
    s.run("SELECT INBOX").await;
    s.run("UID MOVE 2 Archive").await;
    let report = sync(&w).await;
    assert_eq!(folder(&report, "Archive").created, 0, "{report:?}");
    assert_eq!(folder(&report, "INBOX").updated, 1, "{report:?}");
    assert_eq!(folder(&report, "INBOX").removed, 0, "{report:?}");
    let stored = messages(&w);
    assert_eq!(stored.len(), 2);
    let moved = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("Moved"))
        .unwrap();
    assert_eq!((moved.folder, moved.removed), ("archive", false));
    assert_eq!(moved.updates, ["moved to archive"]);
}

#[tokio::test]
async fn a_crash_between_delivery_and_checkpoint_loses_and_duplicates_nothing() {
    let w = world_with(mapping("INBOX", None), |s| {
        s.platform.limits.max_delivery_batch = 5
    })
    .await;
    let mut s = seeder(&w).await;
    append_many(&mut s, "INBOX", "c", 12).await;
    // The host dies right after the inbox committed the second batch.
    w.host.shared().faults.arm().crash_after_deliveries(2);
    let crashed = w.mailbox("m1").sync().await;
    // The injected crash itself, not some other failure of the call.
    assert!(
        matches!(
            &crashed,
            Err(host_harness::CallError::Trap { message })
                if message.contains("injected crash after a delivery")
        ),
        "the call trapped: {crashed:?}"
    );
    assert_eq!(messages(&w).len(), 10);

    let report = sync(&w).await;
    let inbox = folder(&report, "INBOX");
    assert_eq!(
        (inbox.created, inbox.skipped),
        (2, 5),
        "the second batch came again: {report:?}"
    );
    assert_eq!(messages(&w).len(), 12);
}

/// A world whose IMAP traffic goes through a proxy that can cut it.
async fn world_behind_proxy(configure: impl FnOnce(&mut HostSettings)) -> (OAuthWorld, CutProxy) {
    let proxy = CutProxy::start().await;
    let endpoint = proxy.endpoint();
    let w = OAuthWorld::with_dovecot_and(STANDARD_FOLDERS, |s| {
        point_imap_at(s, &endpoint);
        configure(s);
    })
    .await;
    proxy.set_target(w.dovecot.as_ref().unwrap().imaps_port);
    w.link("m1", "google").await.expect("linked");
    captured(
        w.mailbox("m1")
            .set_mapping(&mapping("INBOX", None))
            .await
            .unwrap(),
    )
    .expect("mapped");
    (w, proxy)
}

#[tokio::test]
async fn a_connection_cut_mid_fetch_ends_the_run_and_the_next_resumes_there() {
    let (w, proxy) = world_behind_proxy(|s| s.platform.limits.max_delivery_batch = 5).await;
    let mut s = seeder(&w).await;
    append_many(&mut s, "INBOX", "cut", 40).await;
    proxy.cut_after(24_000, None);
    let first = sync(&w).await;
    assert_eq!(proxy.cuts(), 1);
    assert!(!first.complete);
    let inbox = folder(&first, "INBOX");
    assert!(
        matches!(
            inbox.error.as_ref().map(|e| &e.kind),
            Some(ErrorKind::ImapUnreachable(_))
        ),
        "{first:?}"
    );
    assert!(inbox.created < 40, "{first:?}");
    // Where the cut fell depends on how the server interleaved its answers; the checkpoint
    // says how far the run got, and the next run must start exactly there.
    let checkpoint = w.stored("m1", "sync/folder/INBOX").expect("a checkpoint");
    let last_uid = checkpoint["last_uid"].as_u64().expect("last_uid") as u32;
    let delivered_beyond: Vec<u32> = messages(&w)
        .iter()
        .flat_map(|m| m.locations.iter().map(|(_, uid)| *uid))
        .filter(|uid| *uid > last_uid)
        .collect();
    assert_eq!(
        inbox.created as usize,
        last_uid as usize + delivered_beyond.len(),
        "everything up to the checkpoint was delivered, and what came early: {first:?}"
    );

    let second = sync(&w).await;
    assert!(second.complete);
    let resumed = folder(&second, "INBOX");
    assert_eq!(resumed.created, 40 - inbox.created, "{second:?}");
    // Only what was delivered beyond the checkpoint comes again (unchanged): the run resumed at
    // the checkpoint, not from the start.
    assert_eq!(
        resumed.skipped as usize,
        delivered_beyond.len(),
        "resumed at UID {last_uid}: {second:?}"
    );
    assert_eq!(messages(&w).len(), 40);
}

#[tokio::test]
async fn an_access_token_that_expires_mid_sync_is_refreshed_and_the_sync_goes_on() {
    let (w, proxy) = world_behind_proxy(|s| s.platform.limits.max_delivery_batch = 5).await;
    let mut s = seeder(&w).await;
    append_many(&mut s, "INBOX", "exp", 40).await;
    let refreshes_before = w.google.world().refresh_scope_shapes.len();
    // The server ends the session when the token expires: here, two hours pass mid-fetch.
    let clock = w.host.clock().clone();
    let google = w.google.clone();
    proxy.cut_after(
        24_000,
        Some(Box::new(move || {
            clock.advance(Duration::from_secs(2 * 3600));
            google.world().clock_offset += 2 * 3600;
        })),
    );
    let report = sync(&w).await;
    assert_eq!(proxy.cuts(), 1);
    assert!(report.complete, "{report:?}");
    assert_eq!(folder(&report, "INBOX").created, 40);
    assert!(folder(&report, "INBOX").error.is_none());
    assert_eq!(
        w.google.world().refresh_scope_shapes.len(),
        refreshes_before + 1
    );
    assert_eq!(messages(&w).len(), 40);
    assert_no_secret_captured();
}

#[tokio::test]
async fn a_25_mib_message_is_normalised_inside_the_memory_cap() {
    let w = world(mapping("INBOX", None)).await;
    let mut s = seeder(&w).await;
    s.append("INBOX", &with_attachment("big", ANNA, 25 * 1024 * 1024))
        .await;
    let high_water = &w.host.shared().memory_high_water;
    high_water.store(0, std::sync::atomic::Ordering::SeqCst);
    let report = sync(&w).await;
    assert_eq!(folder(&report, "INBOX").created, 1, "{report:?}");
    let stored = &messages(&w)[0];
    assert!(!stored.truncated);
    assert!(stored.size > 25 * 1024 * 1024);
    // The message is in the instance as the fetched literal and its decoded attachment; the
    // codec's buffer is sized to the literal and let go before the message is normalised.
    let peak = high_water.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        peak <= 3 * stored.size,
        "the instance's memory peaked at {peak} bytes for a {}-byte message: over 3×",
        stored.size
    );
    let record: serde_json::Value = serde_json::from_str(&stored.record_json).unwrap();
    let attachment = &record["record"]["attachments"][0];
    assert_eq!(attachment["filename"], "drawings-big.bin");
    assert!(attachment["size"].as_u64().unwrap() > 18 * 1024 * 1024);
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_kept_as_metadata_marked_truncated() {
    let w = world_with(mapping("INBOX", None), |s| {
        s.platform.limits.max_message_bytes = 100_000
    })
    .await;
    let mut s = seeder(&w).await;
    s.append("INBOX", &with_attachment("huge", ANNA, 300_000))
        .await;
    append_many(&mut s, "INBOX", "small", 1).await;
    let report = sync(&w).await;
    let inbox = folder(&report, "INBOX");
    assert_eq!((inbox.created, inbox.truncated), (2, 1), "{report:?}");
    let huge = messages(&w)
        .into_iter()
        .find(|m| m.truncated)
        .expect("a truncated record");
    assert_eq!(huge.subject.as_deref(), Some("Drawings huge"));
    assert!(
        huge.size > 300_000,
        "the size is the server's: {}",
        huge.size
    );
    assert!(inbox.bytes < 100_000, "the body was not fetched: {inbox:?}");
}

#[tokio::test]
async fn a_malformed_message_still_becomes_a_record_with_warnings() {
    let w = world(mapping("INBOX", None)).await;
    let mut s = seeder(&w).await;
    let broken = b"From: =?bogus?Q?x?= <not an address\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@not base64@@@\r\n";
    s.append("INBOX", broken).await;
    let report = sync(&w).await;
    assert_eq!(folder(&report, "INBOX").created, 1, "{report:?}");
    let record: serde_json::Value = serde_json::from_str(&messages(&w)[0].record_json).unwrap();
    let warnings = record["record"]["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty(), "{record}");
    assert_eq!(record["record"]["message_id_derived"], true);
}

#[tokio::test]
async fn a_mapped_folder_that_disappeared_is_skipped_and_reported() {
    let w = OAuthWorld::with_dovecot(STANDARD_FOLDERS).await;
    w.link("m1", "google").await.expect("linked");
    let mut s = seeder(&w).await;
    s.create("Projecten").await;
    let map = mapping("INBOX", Some("Projecten"));
    captured(w.mailbox("m1").set_mapping(&map).await.unwrap()).expect("mapped");
    append_many(&mut s, "INBOX", "here", 2).await;
    s.delete("Projecten").await;
    let report = sync(&w).await;
    assert!(!report.complete);
    assert_eq!(folder(&report, "INBOX").created, 2);
    let gone = folder(&report, "Projecten");
    assert_eq!(
        gone.error.as_ref().map(|e| &e.kind),
        Some(&ErrorKind::FolderMissing("Projecten".into()))
    );
    let message = &gone.error.as_ref().unwrap().message;
    assert!(message.en.contains("Projecten") && message.nl.contains("Projecten"));
}

#[tokio::test]
async fn sync_needs_a_linked_mailbox_and_a_mapping() {
    let w = OAuthWorld::with_dovecot(STANDARD_FOLDERS).await;
    let not_linked = captured(w.mailbox("m1").sync().await.unwrap()).unwrap_err();
    assert_eq!(not_linked.kind, ErrorKind::NotLinked);
    w.link("m1", "google").await.expect("linked");
    let nothing = captured(w.mailbox("m1").sync().await.unwrap()).unwrap_err();
    assert_eq!(nothing.kind, ErrorKind::NothingMapped);
}
