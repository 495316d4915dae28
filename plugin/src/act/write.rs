//! The IMAP writes of an action: SELECT (with CONDSTORE where the server has it), a flag STORE
//! guarded by `UNCHANGEDSINCE` and read back, and a move by `UID MOVE` or, without MOVE, `UID
//! COPY`, `\Deleted` and `UID EXPUNGE` of that UID only (never a bare EXPUNGE).

use imap_next::imap_types::extensions::uidplus::UidElement;
use imap_next::imap_types::fetch::MessageDataItem;
use imap_next::imap_types::response::{Code, Data};

use super::SeenAt;
use crate::imap::examine::quoted_name;
use crate::imap::fetch::flags_of;
use crate::imap::{Answer, ImapError, Session};
use crate::model::{Flags, Location};

/// One flag to set or clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    Seen(bool),
    Flagged(bool),
    Answered,
}

impl FlagChange {
    fn of(self, flags: &Flags) -> bool {
        match self {
            FlagChange::Seen(_) => flags.seen,
            FlagChange::Flagged(_) => flags.flagged,
            FlagChange::Answered => flags.answered,
        }
    }

    fn wanted(self) -> bool {
        match self {
            FlagChange::Seen(on) | FlagChange::Flagged(on) => on,
            FlagChange::Answered => true,
        }
    }

    fn atom(self) -> &'static str {
        match self {
            FlagChange::Seen(_) => "\\Seen",
            FlagChange::Flagged(_) => "\\Flagged",
            FlagChange::Answered => "\\Answered",
        }
    }
}

/// What became of one place; each but `Gone` with the message's place and flags after it, when
/// the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceOutcome {
    Applied(Option<SeenAt>),
    Already(Option<SeenAt>),
    Superseded(Option<SeenAt>),
    Gone,
}

#[derive(Debug)]
pub enum WriteError {
    Imap(ImapError),
    /// The server refused a write (its answer).
    Refused(String),
}

impl From<ImapError> for WriteError {
    fn from(e: ImapError) -> Self {
        WriteError::Imap(e)
    }
}

/// A folder opened for writing.
struct Selected {
    uid_validity: u32,
    /// The server keeps mod-sequences for it (CONDSTORE, and no NOMODSEQ).
    modseq: bool,
}

/// SELECT `name`; `None` when the server refused it (the folder went).
fn select(session: &mut Session, name: &str) -> Result<Option<Selected>, ImapError> {
    let condstore = session.has_capability("CONDSTORE");
    let line = format!(
        "SELECT {}{}",
        quoted_name(name),
        if condstore { " (CONDSTORE)" } else { "" }
    );
    let answer = session.raw_command(&line)?;
    if !answer.is_ok() {
        return Ok(None);
    }
    let mut selected = Selected {
        uid_validity: 0,
        modseq: false,
    };
    for code in answer.codes.iter().chain(answer.status.code()) {
        match code {
            Code::UidValidity(v) => selected.uid_validity = v.get(),
            Code::HighestModSeq(_) => selected.modseq = condstore,
            _ => {}
        }
    }
    Ok(Some(selected))
}

/// The message's flags (and mod-sequence, when asked) at `uid` of the selected folder; `None`
/// when no message has that UID.
fn fetch_flags(
    session: &mut Session,
    uid: u32,
    modseq: bool,
) -> Result<Option<(Flags, Option<u64>)>, ImapError> {
    let items = if modseq {
        "UID FLAGS MODSEQ"
    } else {
        "UID FLAGS"
    };
    let answer = session.raw_command(&format!("UID FETCH {uid} ({items})"))?;
    if !answer.is_ok() {
        return Err(ImapError::Protocol(format!(
            "UID FETCH {uid} failed: {}",
            answer.describe()
        )));
    }
    for data in answer.data {
        let Data::Fetch { items, .. } = data else {
            continue;
        };
        let (mut found, mut flags, mut seq) = (None, None, None);
        for item in items.into_inner() {
            match item {
                MessageDataItem::Uid(u) => found = Some(u.get()),
                MessageDataItem::Flags(f) => flags = Some(flags_of(&f)),
                MessageDataItem::ModSeq(m) => seq = Some(m.get()),
                _ => {}
            }
        }
        if let (Some(u), Some(flags)) = (found, flags)
            && u == uid
        {
            return Ok(Some((flags, seq)));
        }
    }
    Ok(None)
}

/// Opens the place's folder and reads the message there: its flags and mod-sequence, with
/// whether the folder keeps mod-sequences; `None` when it is not there any more.
fn open_place(
    session: &mut Session,
    place: &SeenAt,
) -> Result<Option<(Flags, Option<u64>, bool)>, ImapError> {
    let location = &place.location;
    let Some(selected) = select(session, &location.remote_folder)? else {
        return Ok(None);
    };
    if selected.uid_validity != location.uid_validity {
        return Ok(None);
    }
    Ok(fetch_flags(session, location.uid, selected.modseq)?
        .map(|(flags, seq)| (flags, seq, selected.modseq)))
}

fn refused(what: &str, answer: &Answer) -> WriteError {
    WriteError::Refused(format!("{what}: {}", answer.describe()))
}

/// Sets or clears one flag at each place. A place whose flag the mailbox changed since the CRM
/// saw it is left as the mailbox has it (superseded); with CONDSTORE, `UNCHANGEDSINCE` closes
/// the gap between the read and the write. The flags are read back after the write either way.
pub fn set_flag(
    session: &mut Session,
    places: &[SeenAt],
    change: FlagChange,
) -> Result<Vec<PlaceOutcome>, WriteError> {
    let mut outcomes = Vec::with_capacity(places.len());
    for place in places {
        let uid = place.location.uid;
        let at = |flags: Flags| {
            Some(SeenAt {
                location: place.location.clone(),
                flags,
            })
        };
        let Some((flags, modseq, keeps_modseq)) = open_place(session, place)? else {
            outcomes.push(PlaceOutcome::Gone);
            continue;
        };
        if change.of(&flags) == change.wanted() {
            outcomes.push(PlaceOutcome::Already(at(flags)));
            continue;
        }
        if change.of(&flags) != change.of(&place.flags) {
            outcomes.push(PlaceOutcome::Superseded(at(flags)));
            continue;
        }
        let guard = match (keeps_modseq, modseq) {
            (true, Some(seq)) => format!(" (UNCHANGEDSINCE {seq})"),
            _ => String::new(),
        };
        let sign = if change.wanted() { '+' } else { '-' };
        let line = format!(
            "UID STORE {uid}{guard} {sign}FLAGS.SILENT ({})",
            change.atom()
        );
        let answer = session.raw_command(&line)?;
        if !answer.is_ok() {
            return Err(refused("STORE", &answer));
        }
        let modified = answer
            .codes
            .iter()
            .chain(answer.status.code())
            .any(|c| matches!(c, Code::Modified(_)));
        outcomes.push(match fetch_flags(session, uid, false)? {
            None => PlaceOutcome::Gone,
            Some((now, _)) if !modified && change.of(&now) == change.wanted() => {
                PlaceOutcome::Applied(at(now))
            }
            Some((now, _)) => PlaceOutcome::Superseded(at(now)),
        });
    }
    Ok(outcomes)
}

/// Moves the message from each place to folder `to`: `UID MOVE` where the server has MOVE,
/// else `UID COPY`, `\Deleted` and, with UIDPLUS, `UID EXPUNGE` of that UID alone (without
/// UIDPLUS the original stays marked `\Deleted`, for the user's client to expunge).
///
/// A message gone from its place but found in `to` by its Message-ID was moved there already (an
/// earlier attempt whose answer was lost): `Already`, with its place there.
pub fn move_to(
    session: &mut Session,
    from: &[SeenAt],
    to: &str,
    message_id: &str,
) -> Result<Vec<PlaceOutcome>, WriteError> {
    let has_move = session.has_capability("MOVE");
    let has_uidplus = session.has_capability("UIDPLUS");
    let mut outcomes = Vec::with_capacity(from.len());
    for place in from {
        let uid = place.location.uid;
        let Some((flags, _, _)) = open_place(session, place)? else {
            outcomes.push(match found_in(session, to, message_id)? {
                Some(at) => PlaceOutcome::Already(Some(at)),
                None => PlaceOutcome::Gone,
            });
            continue;
        };
        let destination = quoted_name(to);
        let copied = if has_move {
            let answer = session.raw_command(&format!("UID MOVE {uid} {destination}"))?;
            if !answer.is_ok() {
                return Err(refused("MOVE", &answer));
            }
            copied_uid(&answer)
        } else {
            let answer = session.raw_command(&format!("UID COPY {uid} {destination}"))?;
            if !answer.is_ok() {
                return Err(refused("COPY", &answer));
            }
            let copied = copied_uid(&answer);
            let answer =
                session.raw_command(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))?;
            if !answer.is_ok() {
                return Err(refused("STORE \\Deleted", &answer));
            }
            if has_uidplus {
                let answer = session.raw_command(&format!("UID EXPUNGE {uid}"))?;
                if !answer.is_ok() {
                    return Err(refused("UID EXPUNGE", &answer));
                }
            }
            copied
        };
        outcomes.push(PlaceOutcome::Applied(copied.map(|(uid_validity, uid)| {
            SeenAt {
                location: Location {
                    remote_folder: to.to_string(),
                    uid_validity,
                    uid,
                },
                flags,
            }
        })));
    }
    Ok(outcomes)
}

/// The message with `message_id` in `folder`, with its flags there, if it is there.
fn found_in(
    session: &mut Session,
    folder: &str,
    message_id: &str,
) -> Result<Option<SeenAt>, ImapError> {
    let Some(selected) = select(session, folder)? else {
        return Ok(None);
    };
    // With its brackets, so that `<k1@x>` is not found in `<k10@x>`.
    let criteria = format!("HEADER Message-ID \"<{message_id}>\"");
    let Some(uid) = crate::imap::examine::search(session, &criteria)?
        .last()
        .copied()
    else {
        return Ok(None);
    };
    Ok(fetch_flags(session, uid, false)?.map(|(flags, _)| SeenAt {
        location: Location {
            remote_folder: folder.to_string(),
            uid_validity: selected.uid_validity,
            uid,
        },
        flags,
    }))
}

/// The destination's UIDVALIDITY and the message's UID there, from COPYUID (UIDPLUS).
fn copied_uid(answer: &Answer) -> Option<(u32, u32)> {
    answer
        .codes
        .iter()
        .chain(answer.status.code())
        .find_map(|code| match code {
            Code::CopyUid {
                uid_validity,
                destination,
                ..
            } => match destination.0.as_ref().first()? {
                UidElement::Single(uid) | UidElement::Range(uid, _) => {
                    Some((uid_validity.get(), uid.get()))
                }
            },
            _ => None,
        })
}
