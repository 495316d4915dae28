//! Messages handed to other instances: records that come back late and out of order are
//! delivered in UID order, batch by batch, the checkpoint after each; a message
//! that stopped its instance is kept as its headers only; other folders' records are dropped.

use std::cell::RefCell;

use crate::ports::fakes::{Fakes, Script};
use crate::ports::{JobFailure, NormalizeJob, Normalizer};
use crate::record::{MessageRecord, ParseWarning, RawMessage};
use crate::sync::testing::*;

/// Another instance, as the host lends it: jobs come back only when asked to wait, newest first,
/// and a job whose bytes hold `stops_on` stops its instance.
#[derive(Default)]
struct LateWorkers {
    jobs: RefCell<Vec<(u64, NormalizeJob)>>,
    stops_on: Option<&'static str>,
    /// An outcome for a ticket this folder never handed on, returned first.
    stray: bool,
    submitted: RefCell<u32>,
}

impl Normalizer for LateWorkers {
    fn submit(&self, ticket: u64, job: NormalizeJob) -> Result<(), Vec<u8>> {
        *self.submitted.borrow_mut() += 1;
        self.jobs.borrow_mut().push((ticket, job));
        Ok(())
    }

    fn finished(&self, wait: bool) -> Vec<(u64, Result<MessageRecord, JobFailure>)> {
        if !wait {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.stray {
            let stray = crate::normalize(&raw(b"Subject: stray\r\n\r\n"), "a@x");
            out.push((0, Ok(stray)));
        }
        for (ticket, job) in self.jobs.borrow_mut().drain(..).rev() {
            let stops = self
                .stops_on
                .is_some_and(|s| String::from_utf8_lossy(&job.bytes).contains(s));
            let outcome = if stops {
                Err(JobFailure {
                    stopped: true,
                    reason: "wasm trap: unreachable".into(),
                    bytes: job.bytes,
                })
            } else {
                Ok(crate::normalize::normalize_capped(
                    &RawMessage {
                        bytes: &job.bytes,
                        internal_date: job.internal_date,
                    },
                    &job.mailbox_address,
                    job.max_body_bytes as usize,
                    job.whole_size,
                ))
            };
            out.push((ticket, outcome));
        }
        out
    }
}

fn raw(bytes: &[u8]) -> RawMessage<'_> {
    RawMessage {
        bytes,
        internal_date: None,
    }
}

fn first_sync_of_three() -> Script {
    Script::new(GREETING)
        .reply("EXAMINE \"INBOX\"", examine(7, 4, 3))
        .reply("UID SEARCH SINCE 2-May-2024", search(&[1, 2, 3]))
        .reply("UID SEARCH UID 1:3 LARGER", search(&[]))
        .reply("UID FETCH 1:2 ", fetch(&[(1, "one"), (2, "two")]))
        .reply("UID FETCH 3 ", fetch(&[(3, "three")]))
}

fn batches_of_two() -> Fakes {
    let mut fakes = Fakes::default();
    fakes.config.limits.max_delivery_batch = 2;
    fakes
}

#[test]
fn records_handed_on_are_delivered_as_the_call_would_have_made_them_in_uid_order() {
    let here = batches_of_two();
    run(&here, first_sync_of_three(), false).pending();
    let handed = batches_of_two();
    let workers = LateWorkers::default();
    let ran = run_with(&handed, &workers, first_sync_of_three(), false);
    ran.pending();
    assert_eq!(*workers.submitted.borrow(), 3);
    assert_eq!(ran.report.created, 3);
    // Batch by batch in UID order, though the records came back newest first, and the
    // checkpoint after each.
    let calls = handed.inbox.calls.borrow().clone();
    assert_eq!(calls, [(vec![1, 2], true), (vec![3], true)]);
    assert_eq!(checkpoints_written(&handed), [0, 2, 3, 3]);
    let records = |f: &Fakes| -> Vec<MessageRecord> {
        f.inbox
            .held
            .borrow()
            .values()
            .map(|d| d.record.clone())
            .collect()
    };
    assert_eq!(records(&handed), records(&here));
}

#[test]
fn a_message_that_stops_its_instance_is_kept_as_its_headers_and_the_rest_goes_whole() {
    let fakes = batches_of_two();
    let workers = LateWorkers {
        stops_on: Some("Subject: two"),
        ..Default::default()
    };
    let ran = run_with(&fakes, &workers, first_sync_of_three(), false);
    ran.pending();
    assert_eq!((ran.report.created, ran.report.truncated), (3, 1));
    let held = fakes.inbox.held.borrow();
    let record = |uid: u32| &held[&(FOLDER.to_string(), 7, uid)].record;
    let two = record(2);
    assert!(two.truncated);
    assert_eq!(two.subject.as_deref(), Some("two"));
    assert_eq!(two.text_body, "");
    assert!(
        two.warnings.contains(&ParseWarning::HeadersOnly(
            "normalising it stopped its instance".into()
        )),
        "{:?}",
        two.warnings
    );
    // Its key is its whole size's, as a headers-only fetch of it would give.
    assert_eq!(two.size, message(2, "two").len() as u64);
    assert!(!record(1).truncated && record(1).text_body.contains("message 1"));
    assert!(!record(3).truncated);
    // Written down while its headers were normalised here, then forgotten.
    assert!(fakes.kv.map.borrow().keys().all(|k| !k.contains("suspect")));
    assert!(
        !fakes
            .kv
            .written::<serde_json::Value>("sync/suspect/INBOX")
            .is_empty()
    );
}

#[test]
fn a_record_for_a_ticket_this_folder_never_handed_on_is_dropped() {
    let fakes = batches_of_two();
    let workers = LateWorkers {
        stray: true,
        ..Default::default()
    };
    let ran = run_with(&fakes, &workers, first_sync_of_three(), false);
    ran.pending();
    assert_eq!(ran.report.created, 3);
    assert!(
        fakes
            .inbox
            .held
            .borrow()
            .values()
            .all(|d| d.record.subject.as_deref() != Some("stray"))
    );
}

#[test]
fn a_failed_fetch_still_delivers_and_checkpoints_the_batches_whole_before_it() {
    let fakes = batches_of_two();
    let workers = LateWorkers::default();
    let script = Script::new(GREETING)
        .reply("EXAMINE \"INBOX\"", examine(7, 4, 3))
        .reply("UID SEARCH SINCE 2-May-2024", search(&[1, 2, 3]))
        .reply("UID SEARCH UID 1:3 LARGER", search(&[]))
        .reply("UID FETCH 1:2 ", fetch(&[(1, "one"), (2, "two")]))
        .reply("UID FETCH 3 ", "{tag} NO [UNAVAILABLE] later\r\n");
    let ran = run_with(&fakes, &workers, script, false);
    assert!(
        matches!(ran.outcome, Err(crate::sync::SyncError::Imap(_))),
        "{:?}",
        ran.outcome.as_ref().err()
    );
    // The first batch's records were still with the other instances when the fetch failed.
    assert_eq!(fakes.inbox.uids(), [1, 2]);
    assert_eq!(stored(&fakes).last_uid, 2);
}
