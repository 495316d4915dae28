//! Writing back: one action the platform asked for (seen, flagged, answered, a move between
//! mapped folders) made on the message in the mailbox, over an IMAP session that may write.

#[cfg(test)]
mod tests;
mod write;

use crate::account::{store, with_linked_access};
use crate::errors::MailboxError;
use crate::folders::{self, FolderMapping, imap_kind, logged_in};
use crate::model::{CrmFolder, Flags, Location};
use crate::ports::{Env, Level};
use write::{FlagChange, PlaceOutcome, WriteError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Seen(bool),
    Flagged(bool),
    Answered,
    MoveTo(CrmFolder),
}

/// A place the CRM last saw the message at, with the flags it saw there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenAt {
    pub location: Location,
    pub flags: Flags,
}

/// The message to act on, as the CRM knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub message_id: String,
    pub places: Vec<SeenAt>,
    pub gmail_message_id: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Already,
    /// The mailbox changed the same thing since the CRM saw it; nothing was written.
    Superseded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub outcome: Outcome,
    pub now_at: Vec<SeenAt>,
}

/// Why an action was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActFailure {
    Mailbox(MailboxError),
    /// At none of the places the CRM knows.
    Gone,
    NotMapped(CrmFolder),
    /// The server refused the write (its reply).
    Refused(String),
    Temporary(String),
}

impl From<MailboxError> for ActFailure {
    fn from(e: MailboxError) -> Self {
        ActFailure::Mailbox(e)
    }
}

/// Makes `action` on `target` in the linked mailbox.
pub fn act(env: &Env, target: &Target, action: Action) -> Result<Receipt, ActFailure> {
    let mapping: FolderMapping = store::read(env.kv, folders::mapping_key())?.unwrap_or_default();
    let plan = plan(&mapping, target, action)?;
    let outcome = with_linked_access(env, |provider, account, token| {
        let Some(mut session) = logged_in(env, provider, account, token)? else {
            return Ok(None); // the token was refused: a fresh one, and again
        };
        let done = match &plan {
            Plan::Flags(change, places) => write::set_flag(&mut session, places, *change),
            Plan::Move { from, to } => write::move_to(&mut session, from, to, &target.message_id),
            Plan::Nothing => Ok(Vec::new()),
        };
        session.logout();
        match done {
            Ok(places) => Ok(Some(Ok(places))),
            Err(WriteError::Imap(e)) => Err(imap_kind(e)),
            Err(WriteError::Refused(why)) => Ok(Some(Err(ActFailure::Refused(why)))),
        }
    })??;
    let receipt = match plan {
        Plan::Nothing => Receipt {
            outcome: Outcome::Already,
            now_at: Vec::new(),
        },
        _ => receipt(outcome)?,
    };
    env.log.log(
        Level::Info,
        "action made",
        &[("outcome", &format!("{:?}", receipt.outcome))],
    );
    Ok(receipt)
}

/// What to write where.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Flags(FlagChange, Vec<SeenAt>),
    Move {
        from: Vec<SeenAt>,
        to: String,
    },
    /// The message already is where the action would put it.
    Nothing,
}

/// The places the action concerns: those in folders still mapped (a place in a folder the CRM
/// no longer syncs is not the CRM's to change); for a move, those outside the destination,
/// other than Sent (a move never takes a sent copy away).
fn plan(mapping: &FolderMapping, target: &Target, action: Action) -> Result<Plan, ActFailure> {
    let mapped: Vec<(CrmFolder, &str)> = mapping
        .entries()
        .into_iter()
        .filter_map(|(f, remote)| remote.map(|r| (f, r)))
        .collect();
    let remote_of = |folder: CrmFolder| {
        mapped
            .iter()
            .find(|(f, _)| *f == folder)
            .map(|(_, r)| r.to_string())
    };
    let folder_of = |place: &SeenAt| -> Option<CrmFolder> {
        mapped
            .iter()
            .find(|(_, r)| *r == place.location.remote_folder)
            .map(|(f, _)| *f)
    };
    let places: Vec<SeenAt> = target
        .places
        .iter()
        .filter(|p| folder_of(p).is_some())
        .cloned()
        .collect();
    if places.is_empty() {
        return Err(ActFailure::Gone);
    }
    let change = match action {
        Action::Seen(on) => FlagChange::Seen(on),
        Action::Flagged(on) => FlagChange::Flagged(on),
        Action::Answered => FlagChange::Answered,
        Action::MoveTo(folder) => {
            let to = remote_of(folder).ok_or(ActFailure::NotMapped(folder))?;
            let from: Vec<SeenAt> = places
                .into_iter()
                .filter(|p| p.location.remote_folder != to && folder_of(p) != Some(CrmFolder::Sent))
                .collect();
            return Ok(if from.is_empty() {
                Plan::Nothing
            } else {
                Plan::Move { from, to }
            });
        }
    };
    Ok(Plan::Flags(change, places))
}

/// The receipt from each place's outcome: superseded if the mailbox won anywhere, else applied
/// if anything was written, else already; gone when no place held the message.
fn receipt(places: Vec<PlaceOutcome>) -> Result<Receipt, ActFailure> {
    if places.iter().all(|p| matches!(p, PlaceOutcome::Gone)) {
        return Err(ActFailure::Gone);
    }
    let has = |want: fn(&PlaceOutcome) -> bool| places.iter().any(want);
    let outcome = if has(|p| matches!(p, PlaceOutcome::Superseded(_))) {
        Outcome::Superseded
    } else if has(|p| matches!(p, PlaceOutcome::Applied(_))) {
        Outcome::Applied
    } else {
        Outcome::Already
    };
    let now_at = places
        .into_iter()
        .filter_map(|p| match p {
            PlaceOutcome::Applied(at)
            | PlaceOutcome::Already(at)
            | PlaceOutcome::Superseded(at) => at,
            PlaceOutcome::Gone => None,
        })
        .collect();
    Ok(Receipt { outcome, now_at })
}
