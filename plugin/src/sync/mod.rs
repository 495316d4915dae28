//! Sync: every mapped folder read once (EXAMINE, BODY.PEEK: the mailbox is never changed), what is
//! new delivered to the CRM's inbox batch by batch with a checkpoint after each, then the flag
//! changes and expunges. See `folder` for one folder's run.

mod checkpoint;
mod deliver;
mod fetch_plan;
mod folder;
mod report;
mod scope;
mod suspect;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod watch;

use std::collections::BTreeSet;

pub use crate::model::{
    Change, ChangeReport, CrmFolder, Delivery, DeliveryReport, Flags, GmailIds, InboxFailure,
    Location, Progress,
};
pub use report::{FolderReport, SyncReport};
pub use watch::{WatchOutcome, WatchReport, watch};

use crate::account::store::{self, Tokens};
use crate::account::{Account, with_linked_access};
use crate::errors::{ErrorKind, MailboxError};
use crate::folders::{FolderMapping, imap_kind, mapping_key};
use crate::imap::{self, AuthOutcome, ImapError, Session};
use crate::ports::{Env, Level};
use crate::providers::{ImapEndpoint, Provider};
use folder::{FolderSync, Pending};

/// Why a folder's run stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the folder cannot be opened: {0}")]
    FolderMissing(String),
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("the inbox failed: {0}")]
    Inbox(InboxFailure),
    #[error("storage: {0:?}")]
    Storage(MailboxError),
}

impl From<MailboxError> for SyncError {
    fn from(e: MailboxError) -> Self {
        SyncError::Storage(e)
    }
}

/// The first day of the backfill window, as IMAP writes dates (`1-Mar-2024`).
pub fn backfill_since(env: &Env) -> String {
    let days = i64::from(env.config.limits.backfill_days);
    chrono::DateTime::from_timestamp(env.now - days * 86_400, 0)
        .unwrap_or_default()
        .format("%-d-%b-%Y")
        .to_string()
}

/// What one run has done so far, kept across a reconnect after the access token expired.
struct Run {
    folders: Vec<(CrmFolder, String)>,
    reports: Vec<FolderReport>,
    finished: BTreeSet<String>,
    pending: Vec<Pending>,
    commands: u32,
    /// Connections made in this run: the token-expiry reconnect happens on the first only,
    /// since `with_linked_access` refreshes the token once per call.
    connections: u32,
}

/// Syncs every mapped folder once.
pub fn sync_once(env: &Env) -> Result<SyncReport, MailboxError> {
    let started = std::time::Instant::now();
    let mapping: FolderMapping = store::read(env.kv, mapping_key())?.unwrap_or_default();
    let folders: Vec<(CrmFolder, String)> = mapping
        .entries()
        .into_iter()
        .filter_map(|(crm, remote)| Some((crm, remote?.to_string())))
        .collect();
    let mut run = Run {
        folders,
        reports: Vec::new(),
        finished: BTreeSet::new(),
        pending: Vec::new(),
        commands: 0,
        connections: 0,
    };
    let outcome = with_linked_access(env, |provider, account, token| {
        run.connect_and_sync(env, provider, account, token)
    });
    // Changes go last, also after a run cut short: each covers a folder whose new messages are in.
    run.apply_changes(env);
    outcome?;
    let complete = run.complete();
    let report = SyncReport {
        started_at: crate::normalize::dates::utc_rfc3339(env.now),
        folders: run.reports,
        complete,
        imap_commands: run.commands,
        millis: started.elapsed().as_millis() as u64,
    };
    env.log.log(
        Level::Info,
        "sync finished",
        &[
            ("complete", if report.complete { "yes" } else { "no" }),
            ("millis", &report.millis.to_string()),
        ],
    );
    Ok(report)
}

impl Run {
    /// A run over one folder (push watches the inbox alone).
    fn for_folder(crm: CrmFolder, remote: &str) -> Self {
        Run {
            folders: vec![(crm, remote.to_string())],
            reports: Vec::new(),
            finished: BTreeSet::new(),
            pending: Vec::new(),
            commands: 0,
            connections: 0,
        }
    }

    /// Every mapped folder synced to its end, its changes applied, without an error.
    fn complete(&self) -> bool {
        self.folders.iter().all(|(_, f)| self.finished.contains(f))
            && self.reports.iter().all(|r| r.error.is_none())
    }

    /// One connection's work; `Ok(None)` asks for a fresh access token and another connection
    /// (the login was refused, or the server dropped the session after the token expired).
    fn connect_and_sync(
        &mut self,
        env: &Env,
        provider: &Provider,
        account: &Account,
        token: &str,
    ) -> Result<Option<()>, ErrorKind> {
        // Checked here, after `with_linked_access` found the mailbox linked: "not linked" first.
        if self.folders.is_empty() {
            return Err(ErrorKind::NothingMapped);
        }
        let Some(opened) = self.open_session(env, account, token)? else {
            return Ok(None);
        };
        let OpenSession {
            mut session,
            gmail,
            qresync,
        } = opened;
        let before = session.commands_sent();
        let outcome = self.sync_folders(env, provider, account, &mut session, gmail, qresync);
        self.commands += session.commands_sent() - before;
        if let Some(lost) = outcome {
            if lost.dropped && self.connections == 1 && token_expired(env) {
                self.reports[lost.folder].error = None;
                env.log.log(
                    Level::Info,
                    "the session ended after the access token expired; reconnecting",
                    &[("provider", &provider.id)],
                );
                return Ok(None);
            }
        } else {
            session.logout();
        }
        Ok(Some(()))
    }

    /// A new session, logged in with `token`: `Ok(None)` when the server refused the token.
    fn open_session(
        &mut self,
        env: &Env,
        account: &Account,
        token: &str,
    ) -> Result<Option<OpenSession>, ErrorKind> {
        let endpoint = ImapEndpoint {
            host: account.settings.imap_host.clone(),
            port: account.settings.imap_port,
            security: account.settings.security,
        };
        let cap =
            env.config
                .limits
                .max_message_bytes
                .saturating_add(1024 * 1024)
                .clamp(u64::from(imap::MAX_RESPONSE_BYTES), u64::from(u32::MAX)) as u32;
        self.connections += 1;
        let mut session = imap::connect_with_cap(env.imap, &endpoint, cap).map_err(imap_kind)?;
        imap::identify(&mut session).map_err(imap_kind)?;
        match imap::authenticate(&mut session, &account.settings.username, token)
            .map_err(imap_kind)?
        {
            AuthOutcome::Accepted => {}
            AuthOutcome::Rejected(_) => {
                session.logout();
                return Ok(None);
            }
        }
        session.capabilities().map_err(imap_kind)?;
        let gmail = session.has_capability("X-GM-EXT-1");
        let qresync = imap::examine::enable_qresync(&mut session).map_err(imap_kind)?;
        Ok(Some(OpenSession {
            session,
            gmail,
            qresync,
        }))
    }

    /// Phase one: each folder's new messages. `Some(ConnectionLost)` when the session ended.
    fn sync_folders(
        &mut self,
        env: &Env,
        provider: &Provider,
        account: &Account,
        session: &mut Session,
        gmail: bool,
        qresync: bool,
    ) -> Option<ConnectionLost> {
        for (crm, remote) in self.folders.clone() {
            if self.finished.contains(&remote) {
                continue;
            }
            let index = match self.reports.iter().position(|r| r.remote_folder == remote) {
                Some(i) => i,
                None => {
                    self.reports.push(FolderReport::new(crm, &remote));
                    self.reports.len() - 1
                }
            };
            let started = std::time::Instant::now();
            let sync = FolderSync {
                env,
                crm_folder: crm,
                remote_folder: &remote,
                address: &account.address,
                gmail,
                qresync,
            };
            let outcome = sync.run(session, &mut self.reports[index]);
            let report = &mut self.reports[index];
            report.millis += started.elapsed().as_millis() as u64;
            let fail = |kind| Some(MailboxError::new(kind, &provider.display_name));
            match outcome {
                Ok(pending) => {
                    self.pending.push(pending);
                    self.finished.insert(remote);
                }
                Err(SyncError::FolderMissing(said)) => {
                    env.log.log(
                        Level::Warn,
                        "a mapped folder cannot be opened; skipped",
                        &[("folder", &remote), ("server", &said)],
                    );
                    report.error = fail(ErrorKind::FolderMissing(remote.clone()));
                    self.finished.insert(remote);
                }
                Err(SyncError::Imap(e)) => {
                    // The session cannot be trusted after a protocol error either.
                    let dropped = matches!(e, ImapError::Socket(_));
                    report.error = fail(imap_kind(e));
                    return Some(ConnectionLost {
                        dropped,
                        folder: index,
                    });
                }
                // The session is still good: the other folders go on, and this one starts
                // again from its checkpoint next run.
                Err(SyncError::Inbox(f)) => {
                    report.error = fail(ErrorKind::InboxFailed(f.message));
                }
                Err(SyncError::Storage(e)) => {
                    report.error = Some(e);
                }
            }
        }
        None
    }

    /// Phase two: each finished folder's changes, then its checkpoint.
    fn apply_changes(&mut self, env: &Env) {
        for pending in std::mem::take(&mut self.pending) {
            let report = self
                .reports
                .iter_mut()
                .find(|r| r.remote_folder == pending.remote_folder);
            let applied = if pending.changes.is_empty() {
                Ok(ChangeReport::default())
            } else {
                env.inbox.apply(pending.changes)
            };
            let outcome = applied
                .map_err(|f| MailboxError::new(ErrorKind::InboxFailed(f.message), ""))
                .and_then(|changed| {
                    checkpoint::save(env.kv, &pending.remote_folder, &pending.checkpoint)?;
                    Ok(changed)
                });
            match (outcome, report) {
                (Ok(changed), Some(report)) => report.add_changes(changed),
                (Err(e), Some(report)) => {
                    report.error = Some(e);
                }
                _ => {}
            }
        }
    }
}

/// A logged-in session, and what its server offers.
struct OpenSession {
    session: Session,
    gmail: bool,
    qresync: bool,
}

/// The session ended in the middle of a folder (`folder`, an index into the reports).
struct ConnectionLost {
    /// The connection dropped, rather than the server saying something unreadable.
    dropped: bool,
    folder: usize,
}

/// Whether the saved access token has expired by now (not at the call's start).
fn token_expired(env: &Env) -> bool {
    let tokens: Option<Tokens> = store::read(env.kv, store::TOKENS).ok().flatten();
    tokens
        .and_then(|t| t.expires_at)
        .is_some_and(|at| at <= (env.clock)())
}
