//! Opening a folder read-only for sync: ENABLE QRESYNC, EXAMINE (with QRESYNC's known state, so
//! the answer itself brings flag changes and expunges) or, for a folder a resumed session still
//! has open, the same asked of it in place; and UID SEARCH SINCE for a first sync.

use imap_next::imap_types::fetch::MessageDataItem;
use imap_next::imap_types::response::{Code, Data};
use imap_next::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use imap_next::imap_types::status::StatusDataItem;

use super::fetch::flags_of;
use super::{Answer, ImapError, Session, utf7};
use crate::model::Flags;

/// What the server says about a folder when it is opened.
#[derive(Debug, Default)]
pub struct Examined {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub exists: u32,
    /// `None` when the server keeps no mod-sequences for the folder.
    pub highest_modseq: Option<u64>,
    /// UIDs expunged since the known mod-sequence (QRESYNC).
    pub vanished: Vec<u32>,
    /// Flags changed since the known mod-sequence (QRESYNC), by UID.
    pub changed: Vec<(u32, Flags)>,
}

/// Why a folder could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ExamineError {
    /// The server said NO: the folder does not exist (any more) or cannot be opened.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Imap(#[from] ImapError),
}

/// Turns QRESYNC on where the server has it; true when it is on.
pub fn enable_qresync(session: &mut Session) -> Result<bool, ImapError> {
    if !session.has_capability("QRESYNC") {
        return Ok(false);
    }
    Ok(session.raw_command("ENABLE QRESYNC")?.is_ok())
}

/// The folder's name as an IMAP quoted string, in modified UTF-7.
pub fn quoted_name(name: &str) -> String {
    let encoded = utf7::encode(name);
    format!("\"{}\"", encoded.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What sync already has of a folder, for QRESYNC.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub uid_validity: u32,
    pub modseq: u64,
    /// The highest UID synced: vanished UIDs above it mean nothing to us.
    pub last_uid: u32,
}

/// EXAMINE `name`; with `known` and QRESYNC enabled, the answer also lists what vanished and
/// what changed since.
pub fn examine(
    session: &mut Session,
    name: &str,
    known: Option<Known>,
) -> Result<Examined, ExamineError> {
    let mut line = format!("EXAMINE {}", quoted_name(name));
    let cap = known.map_or(0, |k| k.last_uid);
    if let Some(k) = known {
        line.push_str(&format!(
            " (QRESYNC ({} {} 1:{}))",
            k.uid_validity,
            k.modseq,
            k.last_uid.max(1)
        ));
    } else if session.has_capability("CONDSTORE") {
        line.push_str(" (CONDSTORE)");
    }
    // A failed EXAMINE closes the folder open before it (RFC 3501, 6.3.1).
    session.set_examined(None);
    let answer = session.raw_command(&line)?;
    if !answer.is_ok() {
        return Err(ExamineError::Refused(answer.describe()));
    }
    let mut examined = Examined::default();
    for code in answer.codes.iter().chain(answer.status.code()) {
        match code {
            Code::UidValidity(v) => examined.uid_validity = v.get(),
            Code::UidNext(n) => examined.uid_next = Some(n.get()),
            Code::HighestModSeq(m) => examined.highest_modseq = Some(m.get()),
            _ => {}
        }
    }
    absorb(&mut examined, answer.data, cap)?;
    if examined.uid_validity == 0 {
        return Err(ExamineError::Imap(ImapError::Protocol(
            "EXAMINE gave no UIDVALIDITY".into(),
        )));
    }
    session.set_examined(Some(name));
    Ok(examined)
}

/// What changed in `name` since `known`, when this session still has it open (a session
/// resumed after IDLE): STATUS for the folder's HIGHESTMODSEQ (RFC 9051, 6.3.11 allows it on the
/// open folder; unlike NOOP's, its HIGHESTMODSEQ is always given), then `UID FETCH 1:<last> (FLAGS)
/// (CHANGEDSINCE <modseq> VANISHED)` (RFC 7162, 3.2.6) for flag changes and expunges, so the
/// server does not open the folder again. `None` when the session has another folder open, or
/// none, or the server reports another UIDVALIDITY: then the folder must be examined.
///
/// The mod-sequence returned is the highest one these answers named (STATUS's HIGHESTMODSEQ, a
/// changed message's MODSEQ). The FETCH comes last and reports every change since `known`, so
/// every change up to that mod-sequence is in the answers; one after it is reported next time.
pub fn changes_while_open(
    session: &mut Session,
    name: &str,
    known: Known,
) -> Result<Option<Examined>, ImapError> {
    if session.examined() != Some(name) {
        return Ok(None);
    }
    let mut examined = Examined {
        uid_validity: known.uid_validity,
        highest_modseq: Some(known.modseq),
        ..Examined::default()
    };
    let status = session.raw_command(&status_line(name))?;
    if !take_in(session, &mut examined, status, known)? {
        return Ok(None);
    }
    let fetch = format!(
        "UID FETCH 1:{} (FLAGS) (CHANGEDSINCE {} VANISHED)",
        known.last_uid.max(1),
        known.modseq
    );
    let changes = session.raw_command(&fetch)?;
    if !take_in(session, &mut examined, changes, known)? {
        return Ok(None);
    }
    examined.vanished.sort_unstable();
    examined.vanished.dedup();
    Ok(Some(examined))
}

/// Whether `name`, still open in this session, changed after a sync that left its checkpoint at
/// `modseq`. A change made while the sync was asking (a flag set between its questions) is
/// reported once, in the answer of whichever command came next, and not again when IDLE starts:
/// idling on it would leave it until the next change. STATUS gives the folder's HIGHESTMODSEQ
/// now; a change reported in STATUS's own answer counts too.
pub fn changed_after(session: &mut Session, name: &str, modseq: u64) -> Result<bool, ImapError> {
    let answer = session.raw_command(&status_line(name))?;
    if !answer.is_ok() {
        return Err(ImapError::Protocol(format!(
            "STATUS of the open folder failed: {}",
            answer.describe()
        )));
    }
    let mut changed = false;
    for data in &answer.data {
        match data {
            Data::Status { items, .. } => {
                changed |= status_highest_modseq(items).is_some_and(|m| m > modseq);
            }
            Data::Exists(_) | Data::Expunge(_) | Data::Vanished { .. } | Data::Fetch { .. } => {
                changed = true
            }
            _ => {}
        }
    }
    Ok(changed)
}

fn status_line(name: &str) -> String {
    format!("STATUS {} (HIGHESTMODSEQ)", quoted_name(name))
}

/// The HIGHESTMODSEQ a STATUS answer gives, if any.
fn status_highest_modseq(items: &[StatusDataItem]) -> Option<u64> {
    items.iter().find_map(|item| match item {
        StatusDataItem::HighestModSeq(m) => Some(*m),
        _ => None,
    })
}

/// Takes one answer of `changes_while_open` into `examined`; false when the server reports another
/// UIDVALIDITY, and the folder is no longer taken as open.
fn take_in(
    session: &mut Session,
    examined: &mut Examined,
    answer: Answer,
    known: Known,
) -> Result<bool, ImapError> {
    if !answer.is_ok() {
        return Err(ImapError::Protocol(format!(
            "asking the open folder what changed failed: {}",
            answer.describe()
        )));
    }
    for code in answer.codes.iter().chain(answer.status.code()) {
        match code {
            Code::UidValidity(v) if v.get() != known.uid_validity => {
                session.set_examined(None);
                return Ok(false);
            }
            Code::HighestModSeq(m) => examined.raise_modseq(m.get()),
            _ => {}
        }
    }
    if let Some(m) = absorb(examined, answer.data, known.last_uid)? {
        examined.raise_modseq(m);
    }
    Ok(true)
}

impl Examined {
    fn raise_modseq(&mut self, modseq: u64) {
        self.highest_modseq = self.highest_modseq.max(Some(modseq));
    }
}

/// Takes an answer's untagged data into `examined`: the folder's count, the UIDs that vanished
/// (up to `cap`, the highest UID sync has) and the flags that changed. Returns the highest
/// MODSEQ among the changed messages.
fn absorb(
    examined: &mut Examined,
    data: Vec<Data<'static>>,
    cap: u32,
) -> Result<Option<u64>, ImapError> {
    let mut highest = None;
    for data in data {
        match data {
            Data::Exists(n) => examined.exists = n,
            Data::Status { items, .. } => highest = highest.max(status_highest_modseq(&items)),
            Data::Vanished { known_uids, .. } => {
                let room = MAX_VANISHED.saturating_sub(examined.vanished.len());
                let uids = expand_at_most(&known_uids, cap, room).ok_or_else(|| {
                    ImapError::Protocol(format!(
                        "the server reported more than {MAX_VANISHED} vanished UIDs at once"
                    ))
                })?;
                examined.vanished.extend(uids);
                // At most every known UID once: repeated ranges cannot grow it without end.
                if examined.vanished.len() > cap as usize {
                    examined.vanished.sort_unstable();
                    examined.vanished.dedup();
                }
            }
            Data::Fetch { items, .. } => {
                let mut uid = None;
                let mut flags = None;
                for item in items.into_inner() {
                    match item {
                        MessageDataItem::Uid(u) => uid = Some(u.get()),
                        MessageDataItem::Flags(f) => flags = Some(flags_of(&f)),
                        MessageDataItem::ModSeq(m) => highest = highest.max(Some(m.get())),
                        _ => {}
                    }
                }
                if let (Some(uid), Some(flags)) = (uid, flags) {
                    examined.changed.push((uid, flags));
                }
            }
            _ => {}
        }
    }
    Ok(highest)
}

/// The UIDs `UID SEARCH <criteria>` finds (`SINCE 1-Jan-2024`, `UID 5:* LARGER 1000`), sorted.
pub fn search(session: &mut Session, criteria: &str) -> Result<Vec<u32>, ImapError> {
    let answer = session.raw_command(&format!("UID SEARCH {criteria}"))?;
    if !answer.is_ok() {
        return Err(ImapError::Protocol(format!(
            "UID SEARCH failed: {}",
            answer.describe()
        )));
    }
    let mut uids: Vec<u32> = answer
        .data
        .into_iter()
        .flat_map(|d| match d {
            Data::Search(found, ..) => found.into_iter().map(|u| u.get()).collect(),
            _ => Vec::new(),
        })
        .collect();
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// Vanished UIDs one EXAMINE may report (4 MB of them): a hostile server's `VANISHED
/// (EARLIER) 1:*` over a UID near 2^32 is a protocol error, not 16 GB.
pub const MAX_VANISHED: usize = 1_000_000;

/// `expand`, or `None` when the set holds more than `limit` UIDs (counted before any is made).
pub fn expand_at_most(set: &SequenceSet, cap: u32, limit: usize) -> Option<Vec<u32>> {
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => cap,
    };
    let mut count: u64 = 0;
    for seq in set.0.as_ref() {
        count += match seq {
            Sequence::Single(s) => u64::from(value(s) <= cap),
            Sequence::Range(a, b) => {
                let (lo, hi) = (value(a).min(value(b)), value(a).max(value(b)).min(cap));
                if lo <= hi { u64::from(hi - lo) + 1 } else { 0 }
            }
        };
        if count > limit as u64 {
            return None;
        }
    }
    Some(expand(set, cap))
}

/// The UIDs of a set up to `cap` (`*` is `cap`): UIDs above what sync has mean nothing to it.
pub fn expand(set: &SequenceSet, cap: u32) -> Vec<u32> {
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => cap,
    };
    let mut uids = Vec::new();
    for seq in set.0.as_ref() {
        match seq {
            Sequence::Single(s) if value(s) <= cap => uids.push(value(s)),
            Sequence::Single(_) => {}
            Sequence::Range(a, b) => {
                let (lo, hi) = (value(a).min(value(b)), value(a).max(value(b)).min(cap));
                if lo <= hi {
                    uids.extend(lo..=hi);
                }
            }
        }
    }
    uids
}

/// A UID set in IMAP's compact form (`1:4,7,9:10`), from sorted UIDs.
pub fn compact(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}
