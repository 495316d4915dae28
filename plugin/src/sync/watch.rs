//! Push for the mapped inbox folder (IMAP IDLE, RFC 2177) without an instance kept alive: each
//! call resumes the connection the host held (or connects), syncs what changed, starts IDLE
//! again and hands the connection back to the host, which calls again when the server speaks.

use serde::{Deserialize, Serialize};

use super::{OpenSession, Run, report::FolderReport};
use crate::account::store;
use crate::account::with_linked_access;
use crate::errors::MailboxError;
use crate::folders::{FolderMapping, imap_kind, mapping_key};
use crate::imap::examine;
use crate::imap::idle::{self, IdleStarted, IdleState};
use crate::imap::{ImapError, Session};
use crate::model::CrmFolder;
use crate::ports::{Env, Level};

/// IDLE is renewed this often: servers may end it after 30 minutes (RFC 2177), Gmail sooner.
pub const RENEW_IDLE_SECS: u32 = 25 * 60;
/// Syncs in one call while mail keeps arriving; past it, the host polls for a while.
const MAX_ROUNDS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchOutcome {
    Parked,
    Unsupported,
    Stopped,
}

#[derive(Debug, Clone)]
pub struct WatchReport {
    pub outcome: WatchOutcome,
    pub inbox: Option<FolderReport>,
}

/// What comes back with a parked connection.
#[derive(Serialize, Deserialize)]
struct ParkNote {
    idle: IdleState,
    folder: String,
    gmail: bool,
    qresync: bool,
}

/// Watches the mapped inbox folder; with `stop`, ends the watch and logs out.
pub fn watch(env: &Env, stop: bool) -> Result<WatchReport, MailboxError> {
    let parked = env.imap.unpark().and_then(|(conn, note)| {
        let note: ParkNote = serde_json::from_slice(&note).ok()?;
        Some((conn, note))
    });
    let mapping: FolderMapping = store::read(env.kv, mapping_key())?.unwrap_or_default();
    let inbox = mapping.inbox.filter(|_| !stop);
    // A parked session of another folder (the mapping changed), or one asked to stop, ends.
    let mut parked = match parked {
        Some((conn, note)) if Some(&note.folder) != inbox.as_ref() => {
            if let Ok(session) = idle::end_idle(conn, &note.idle) {
                session.logout();
            }
            None
        }
        other => other,
    };
    let Some(inbox) = inbox else {
        return Ok(stopped(None));
    };
    let mut report: Option<FolderReport> = None;
    let outcome = with_linked_access(env, |provider, account, token| {
        let mut run = Run::for_folder(CrmFolder::Inbox, &inbox);
        let resumed = parked.take().and_then(|(conn, note)| {
            let session = idle::end_idle(conn, &note.idle).ok()?;
            Some(OpenSession {
                session,
                gmail: note.gmail,
                qresync: note.qresync,
            })
        });
        let opened = match resumed {
            Some(opened) => opened,
            None => match run.open_session(env, account, token)? {
                Some(opened) => opened,
                None => return Ok(None),
            },
        };
        let (gmail, qresync) = (opened.gmail, opened.qresync);
        let mut session = opened.session;
        for _ in 0..MAX_ROUNDS {
            let lost = run.sync_folders(env, provider, account, &mut session, gmail, qresync);
            let synced_modseq = run
                .pending
                .iter()
                .find(|p| p.remote_folder == inbox)
                .and_then(|p| p.checkpoint.modseq);
            run.apply_changes(env);
            let round = run.reports.pop();
            merge(&mut report, round);
            if lost.is_some() {
                return Ok(Some(WatchOutcome::Stopped));
            }
            run = Run::for_folder(CrmFolder::Inbox, &inbox);
            if !session.has_capability("IDLE") {
                session.logout();
                return Ok(Some(WatchOutcome::Unsupported));
            }
            if changed_while_syncing(&mut session, &inbox, synced_modseq).map_err(imap_kind)? {
                continue;
            }
            session = match session.start_idle().map_err(imap_kind)? {
                IdleStarted::Idling(conn, idle) => {
                    let note = ParkNote {
                        idle,
                        folder: inbox.clone(),
                        gmail,
                        qresync,
                    };
                    let note = serde_json::to_vec(&note).unwrap_or_default();
                    return Ok(Some(match conn.park(&note, RENEW_IDLE_SECS) {
                        Ok(()) => WatchOutcome::Parked,
                        Err(_) => WatchOutcome::Unsupported,
                    }));
                }
                IdleStarted::News(session) => session,
                IdleStarted::Refused(session) => {
                    session.logout();
                    return Ok(Some(WatchOutcome::Unsupported));
                }
            };
        }
        env.log.log(
            Level::Info,
            "mail keeps arriving; polling for a while instead of idling",
            &[("folder", &inbox)],
        );
        session.logout();
        Ok(Some(WatchOutcome::Unsupported))
    })?;
    // A folder that broke off is an error of the call: the host retries with backoff.
    if let Some(error) = report.as_ref().and_then(|r| r.error.clone()) {
        return Err(error);
    }
    Ok(WatchReport {
        outcome,
        inbox: report,
    })
}

/// Whether the folder changed after the round's checkpoint (`synced_modseq`; see
/// `examine::changed_after`): then another round, not IDLE. Asked only of a folder still open
/// with a mod-sequence to compare.
fn changed_while_syncing(
    session: &mut Session,
    inbox: &str,
    synced_modseq: Option<u64>,
) -> Result<bool, ImapError> {
    match synced_modseq {
        Some(modseq) if session.examined() == Some(inbox) => {
            examine::changed_after(session, inbox, modseq)
        }
        _ => Ok(false),
    }
}

fn stopped(inbox: Option<FolderReport>) -> WatchReport {
    WatchReport {
        outcome: WatchOutcome::Stopped,
        inbox,
    }
}

/// Adds one round's report to the call's.
fn merge(into: &mut Option<FolderReport>, round: Option<FolderReport>) {
    let Some(round) = round else { return };
    match into {
        None => *into = Some(round),
        Some(r) => {
            r.created += round.created;
            r.updated += round.updated;
            r.removed += round.removed;
            r.skipped += round.skipped;
            r.truncated += round.truncated;
            r.bytes += round.bytes;
            r.millis += round.millis;
            r.uid_validity_reset |= round.uid_validity_reset;
            r.first_sync |= round.first_sync;
            r.error = round.error.or(r.error.take());
        }
    }
}
