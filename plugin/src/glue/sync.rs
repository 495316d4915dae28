//! The `sync` export: the domain's sync report translated to the WIT one; the run itself stays
//! in `sync`.

use super::Component;
use super::bindings::exports::crm::mail_sync::mailbox::MailboxError;
use super::bindings::exports::crm::mail_sync::sync as wit;
use super::host::{wit_crm_folder, with_env};
use super::mailbox::error;
use crate::sync as domain;

impl wit::Guest for Component {
    fn sync_once() -> Result<wit::SyncReport, MailboxError> {
        with_env(|env| domain::sync_once(env).map(report).map_err(error))
    }

    fn watch(stop: bool) -> Result<wit::WatchReport, MailboxError> {
        with_env(|env| {
            let watched = domain::watch(env, stop).map_err(error)?;
            Ok(wit::WatchReport {
                outcome: match watched.outcome {
                    domain::WatchOutcome::Parked => wit::WatchOutcome::Parked,
                    domain::WatchOutcome::Unsupported => wit::WatchOutcome::Unsupported,
                    domain::WatchOutcome::Stopped => wit::WatchOutcome::Stopped,
                },
                inbox: watched.inbox.map(folder),
            })
        })
    }
}

fn report(r: domain::SyncReport) -> wit::SyncReport {
    wit::SyncReport {
        started_at: r.started_at,
        folders: r.folders.into_iter().map(folder).collect(),
        complete: r.complete,
        imap_commands: r.imap_commands,
        millis: r.millis,
    }
}

fn folder(f: domain::FolderReport) -> wit::FolderReport {
    wit::FolderReport {
        crm_folder: wit_crm_folder(f.crm_folder),
        remote_folder: f.remote_folder,
        created: f.created,
        updated: f.updated,
        removed: f.removed,
        skipped: f.skipped,
        truncated: f.truncated,
        bytes: f.bytes,
        uid_validity_reset: f.uid_validity_reset,
        first_sync: f.first_sync,
        error: f.error.map(error),
        millis: f.millis,
    }
}
