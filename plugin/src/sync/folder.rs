//! One folder's run: open it read-only (or ask a session that has it open still), work out what
//! is new (the backfill window on a first sync or a rescan, UIDs above the checkpoint after),
//! fetch it pipelined, deliver batch by batch and checkpoint after each; the flag changes and
//! expunges are returned to be applied last.

use super::checkpoint::{self, Checkpoint};
use super::deliver::Deliverer;
use super::fetch_plan::{self, Batch};
use super::scope::FolderScope;
use super::suspect;
use super::{Change, CrmFolder, Flags, FolderReport, Location, SyncError};
use crate::imap::Session;
use crate::imap::examine::{self, ExamineError, Known};
use crate::imap::fetch::{self, FetchCommand, FetchEvent};
use crate::ports::Env;

#[cfg(test)]
mod changes_tests;
#[cfg(test)]
mod still_open_tests;
#[cfg(test)]
mod tests;

/// Fetch commands in flight at once.
const PIPELINE_DEPTH: usize = 8;
/// Without CONDSTORE, the flags of this many of the latest known messages are read each run.
const FLAG_SCAN_MESSAGES: u32 = 1000;

/// What a folder's run leaves for the end of the sync: changes, then the checkpoint that covers
/// them. Applied after every folder's new messages, so a message moved between mapped folders
/// is found in its new folder before it leaves the old one.
pub struct Pending {
    pub remote_folder: String,
    pub changes: Vec<Change>,
    pub checkpoint: Checkpoint,
}

pub struct FolderSync<'a> {
    pub env: &'a Env<'a>,
    pub crm_folder: CrmFolder,
    pub remote_folder: &'a str,
    pub address: &'a str,
    pub gmail: bool,
    pub qresync: bool,
}

impl<'a> FolderSync<'a> {
    /// What delivering this folder's messages needs to know of it.
    pub fn scope(&self) -> FolderScope<'a> {
        FolderScope {
            env: self.env,
            crm_folder: self.crm_folder,
            remote_folder: self.remote_folder,
            address: self.address,
            gmail: self.gmail,
        }
    }
}

impl FolderSync<'_> {
    /// Delivers what is new in the folder; returns the changes still to apply.
    pub fn run(
        &self,
        session: &mut Session,
        report: &mut FolderReport,
    ) -> Result<Pending, SyncError> {
        let env = self.env;
        let saved = checkpoint::load(env.kv, self.remote_folder)?;
        let known = saved.as_ref().and_then(|c| {
            Some(Known {
                uid_validity: c.uid_validity,
                modseq: c.modseq.filter(|_| self.qresync && c.last_uid > 0)?,
                last_uid: c.last_uid,
            })
        });
        // A session resumed after IDLE still has the folder open: asking it what changed spares
        // the server opening the folder again, its largest cost in a large folder. Not while a
        // first sync or a rescan is under way: their end needs EXAMINE's UIDNEXT.
        let still_open = match (&saved, known) {
            (Some(c), Some(k)) if c.backfill_since.is_none() && !c.reset_pending => {
                examine::changes_while_open(session, self.remote_folder, k)?
            }
            _ => None,
        };
        let opened = match still_open {
            Some(opened) => opened,
            None => examine::examine(session, self.remote_folder, known).map_err(|e| match e {
                ExamineError::Refused(text) => SyncError::FolderMissing(text),
                ExamineError::Imap(e) => SyncError::Imap(e),
            })?,
        };
        let since = || super::backfill_since(env);
        let mut changes = Vec::new();
        let mut cp = match saved {
            None => {
                report.first_sync = true;
                let c = fresh(opened.uid_validity, opened.highest_modseq, since(), false);
                checkpoint::save(env.kv, self.remote_folder, &c)?;
                c
            }
            Some(c) if c.uid_validity != opened.uid_validity => {
                // The rescan reaches as far back as the first sync did, so what the CRM holds
                // is matched, not marked removed by the reset.
                report.uid_validity_reset = true;
                let window = c.synced_since.unwrap_or_else(since);
                let c = fresh(opened.uid_validity, opened.highest_modseq, window, true);
                checkpoint::save(env.kv, self.remote_folder, &c)?;
                c
            }
            Some(c) => {
                let location = |uid| self.location(c.uid_validity, uid);
                for uid in &opened.vanished {
                    changes.push(Change::Vanished(location(*uid)));
                }
                for (uid, flags) in opened.changed.iter().filter(|(u, _)| *u <= c.last_uid) {
                    changes.push(Change::FlagsChanged(location(*uid), *flags));
                }
                if known.is_none() && c.last_uid > 0 {
                    changes.extend(self.flag_changes(session, &c, opened.highest_modseq)?);
                }
                report.first_sync = c.backfill_since.is_some();
                report.uid_validity_reset = c.reset_pending;
                c
            }
        };

        // A message whose normalisation stopped an earlier run comes as its headers only.
        let suspect = suspect::load(env.kv, self.remote_folder)?;
        let poisoned = suspect
            .filter(|s| s.uid_validity == cp.uid_validity && s.uid > cp.last_uid)
            .map(|s| s.uid);
        let candidates: Vec<(u32, bool)> = self
            .candidates(session, &cp, opened.uid_next)?
            .into_iter()
            .map(|(uid, oversized)| (uid, oversized || Some(uid) == poisoned))
            .collect();
        // A first sync (or rescan) cut short has delivered up to its checkpoint already: what
        // was deleted since must be found before the count is trusted again.
        if known.is_none() && (cp.backfill_since.is_none() || cp.last_uid > 0) {
            changes.extend(self.expunges(session, &cp, opened.exists, candidates.len())?);
        }
        let batches = fetch_plan::batches(
            &candidates,
            env.config.limits.max_delivery_batch,
            self.gmail,
        );
        let wrote_suspect = self.fetch_and_deliver(
            session,
            &batches,
            candidates.len() as u32,
            poisoned,
            &mut cp,
            report,
        )?;
        if suspect.is_some() || wrote_suspect {
            suspect::clear(env.kv, self.remote_folder)?;
        }

        if cp.backfill_since.take().is_some() {
            // What the window left out is behind the checkpoint for good.
            let before_run = opened.uid_next.unwrap_or(1).saturating_sub(1);
            cp.last_uid = cp.last_uid.max(before_run);
            checkpoint::save(env.kv, self.remote_folder, &cp)?;
        }
        if cp.reset_pending {
            changes.push(Change::FolderReset(
                self.remote_folder.to_string(),
                cp.uid_validity,
            ));
        }
        let mut done = cp.clone();
        done.modseq = opened.highest_modseq;
        done.reset_pending = false;
        // The count covers every UID up to the checkpoint only if none came after EXAMINE.
        let seen_by_examine = opened.uid_next.map(|n| n.saturating_sub(1));
        done.exists = (seen_by_examine == Some(cp.last_uid)).then_some(opened.exists);
        Ok(Pending {
            remote_folder: self.remote_folder.to_string(),
            changes,
            checkpoint: done,
        })
    }

    fn location(&self, uid_validity: u32, uid: u32) -> Location {
        Location {
            remote_folder: self.remote_folder.to_string(),
            uid_validity,
            uid,
        }
    }

    /// The UIDs to fetch, in UID order, each with whether it is over the size limit. Searches
    /// only: a first sync's window (SINCE), or what is above the checkpoint; then LARGER.
    fn candidates(
        &self,
        session: &mut Session,
        cp: &Checkpoint,
        uid_next: Option<u32>,
    ) -> Result<Vec<(u32, bool)>, SyncError> {
        let criteria = match &cp.backfill_since {
            Some(since) => format!("SINCE {since}"),
            // Nothing new since the checkpoint: no second round trip.
            None if uid_next.is_some_and(|n| n <= cp.last_uid.saturating_add(1)) => {
                return Ok(Vec::new());
            }
            None if cp.last_uid == u32::MAX => return Ok(Vec::new()),
            None => format!("UID {}:*", cp.last_uid + 1),
        };
        let uids: Vec<u32> = examine::search(session, &criteria)?
            .into_iter()
            .filter(|u| *u > cp.last_uid)
            .collect();
        let (Some(first), Some(last)) = (uids.first(), uids.last()) else {
            return Ok(Vec::new());
        };
        let max = self.env.config.limits.max_message_bytes;
        let oversized = examine::search(session, &format!("UID {first}:{last} LARGER {max}"))?;
        Ok(uids
            .into_iter()
            .map(|u| (u, oversized.binary_search(&u).is_ok()))
            .collect())
    }

    /// Without QRESYNC, the flags of known messages for the CRM to compare: with CONDSTORE,
    /// those changed since the checkpoint's mod-sequence (nothing to ask when it has not moved);
    /// without, the latest `FLAG_SCAN_MESSAGES`.
    fn flag_changes(
        &self,
        session: &mut Session,
        cp: &Checkpoint,
        highest_modseq: Option<u64>,
    ) -> Result<Vec<Change>, SyncError> {
        let (from, modifier) = match (cp.modseq, highest_modseq) {
            (Some(old), Some(now)) if now == old => return Ok(Vec::new()),
            (Some(old), Some(_)) => (1, format!(" (CHANGEDSINCE {old})")),
            _ => (
                cp.last_uid.saturating_sub(FLAG_SCAN_MESSAGES - 1).max(1),
                String::new(),
            ),
        };
        let mut changes = Vec::new();
        fetch::pipelined::<SyncError>(
            session,
            &[FetchCommand {
                set: format!("{from}:{}", cp.last_uid),
                items: format!("(UID FLAGS){modifier}"),
            }],
            1,
            |event| {
                if let FetchEvent::Message(m) = event
                    && (from..=cp.last_uid).contains(&m.uid)
                {
                    let flags: Flags = m.flags.unwrap_or_default();
                    changes.push(Change::FlagsChanged(
                        self.location(cp.uid_validity, m.uid),
                        flags,
                    ));
                }
                Ok(())
            },
        )?;
        Ok(changes)
    }

    /// Without QRESYNC: when the folder holds fewer messages than at the last sync plus the new
    /// ones (or that count is not known), the UIDs it still holds, for the CRM to find what
    /// vanished.
    fn expunges(
        &self,
        session: &mut Session,
        cp: &Checkpoint,
        exists: u32,
        new: usize,
    ) -> Result<Vec<Change>, SyncError> {
        // An unknown count (a run cut short, mail that came during the last run) means asking.
        if cp
            .exists
            .is_some_and(|before| u64::from(exists) >= u64::from(before) + new as u64)
        {
            return Ok(Vec::new());
        }
        let uids = examine::search(session, &format!("UID 1:{}", cp.last_uid.max(1)))?;
        Ok(vec![Change::Present {
            remote_folder: self.remote_folder.to_string(),
            uid_validity: cp.uid_validity,
            up_to: cp.last_uid,
            uids: uids.into_iter().filter(|u| *u <= cp.last_uid).collect(),
        }])
    }

    /// Fetches the batches pipelined and delivers them in order, each once its commands are
    /// complete and its records in; the checkpoint moves past each as it is delivered.
    /// `poisoned` is the UID kept as its headers only because normalising it stopped an earlier
    /// run. Returns whether a message was written down as the suspect while it was normalised.
    fn fetch_and_deliver(
        &self,
        session: &mut Session,
        batches: &[Batch],
        total: u32,
        poisoned: Option<u32>,
        cp: &mut Checkpoint,
        report: &mut FolderReport,
    ) -> Result<bool, SyncError> {
        let mut commands = Vec::new();
        let mut batch_of = Vec::new();
        let mut unfinished: Vec<usize> = Vec::new();
        for (i, batch) in batches.iter().enumerate() {
            commands.extend(batch.commands.iter().cloned());
            batch_of.extend(std::iter::repeat_n(i, batch.commands.len()));
            unfinished.push(batch.commands.len());
        }
        let uid_validity = cp.uid_validity;
        let last_uids = batches.iter().map(Batch::last_uid).collect();
        let mut deliverer = Deliverer::new(self.scope(), (last_uids, cp), total, poisoned, report);
        let fetched = fetch::pipelined::<SyncError>(session, &commands, PIPELINE_DEPTH, |event| {
            match event {
                FetchEvent::Message(m) => {
                    // Only the UIDs asked for: a server's unsolicited answers are dropped here.
                    let b = batches.partition_point(|b| b.last_uid() < m.uid);
                    let asked = batches
                        .get(b)
                        .is_some_and(|b| b.uids.binary_search(&m.uid).is_ok());
                    if !asked {
                        return Ok(());
                    }
                    if m.body.is_none() {
                        deliverer.gmail_ids(m);
                    } else {
                        deliverer.add(b, m, uid_validity, batches[b].header_only)?;
                    }
                }
                FetchEvent::Done(i) => {
                    let b = batch_of[i];
                    unfinished[b] -= 1;
                    if unfinished[b] == 0 {
                        deliverer.fetched(b)?;
                    }
                }
            }
            Ok(())
        });
        // A connection that failed leaves what came whole before it to deliver and checkpoint;
        // after any other failure (the inbox's, storage's) nothing more is delivered.
        if let Err(e) = fetched {
            if matches!(e, SyncError::Imap(_)) {
                deliverer.finish()?;
            }
            return Err(e);
        }
        deliverer.finish()?;
        Ok(deliverer.wrote_suspect)
    }
}

fn fresh(uid_validity: u32, modseq: Option<u64>, since: String, reset: bool) -> Checkpoint {
    Checkpoint {
        uid_validity,
        last_uid: 0,
        modseq,
        synced_since: Some(since.clone()),
        backfill_since: Some(since),
        reset_pending: reset,
        exists: None,
    }
}
