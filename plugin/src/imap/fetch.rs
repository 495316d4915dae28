//! UID FETCH, pipelined: several commands in flight at once, each message handed on as its
//! response arrives (and dropped after), each command's end reported so its batch can be
//! delivered and checkpointed. Responses the codec cannot read (Gmail's `X-GM-*` items, a message
//! with a NUL byte) go through `raw_fetch`'s reader.

use imap_next::client::Event;
use imap_next::imap_types::core::Tag;
use imap_next::imap_types::fetch::MessageDataItem;
use imap_next::imap_types::flag::{Flag, FlagFetch};
use imap_next::imap_types::response::{Data, Status, StatusKind};

pub use super::fetched::Fetched;
use super::session::{Incoming, status_kind};
use super::{ImapError, Session, raw_fetch};
use crate::model::Flags;

/// One UID FETCH: the UID set (`1:4,7`, `5:*`) and the items, as IMAP text.
#[derive(Debug, Clone)]
pub struct FetchCommand {
    pub set: String,
    pub items: String,
}

pub enum FetchEvent {
    /// A message (of whichever command asked for its UID).
    Message(Fetched),
    /// Command `index` completed: every message of it has been handed on.
    Done(usize),
}

/// Runs `commands` with up to `depth` in flight, handing each message and each command's end to
/// `on_event`. The server may run pipelined commands in parallel (Dovecot does): messages and
/// completions can come in any order. A command answered NO or BAD is an error; so is whatever
/// `on_event` returns.
pub fn pipelined<E: From<ImapError>>(
    session: &mut Session,
    commands: &[FetchCommand],
    depth: usize,
    mut on_event: impl FnMut(FetchEvent) -> Result<(), E>,
) -> Result<(), E> {
    let mut in_flight: std::collections::VecDeque<(usize, Tag<'static>)> = Default::default();
    let mut next = 0;
    while next < commands.len() || !in_flight.is_empty() {
        while next < commands.len() && in_flight.len() < depth.max(1) {
            let c = &commands[next];
            let tag = session.send_raw(&format!("UID FETCH {} {}", c.set, c.items))?;
            in_flight.push_back((next, tag));
            next += 1;
        }
        session.begin_command();
        match session.next_incoming()? {
            Incoming::Event(Event::DataReceived {
                data: Data::Fetch { items, .. },
            }) => on_event(FetchEvent::Message(fetched(items.into_inner())))?,
            Incoming::Unparsed(bytes) => match raw_fetch::read_fetch(&bytes) {
                Some(message) => on_event(FetchEvent::Message(message))?,
                None => {
                    return Err(ImapError::Protocol(
                        "the server sent something that is not IMAP".into(),
                    )
                    .into());
                }
            },
            Incoming::Event(Event::StatusReceived { status })
            | Incoming::Event(Event::CommandRejected { status, .. }) => {
                if let Status::Bye(bye) = &status {
                    return Err(ImapError::Protocol(format!(
                        "the server ended the session: {}",
                        bye.text
                    ))
                    .into());
                }
                let Some(position) = in_flight
                    .iter()
                    .position(|(_, tag)| Some(tag) == status.tag())
                else {
                    continue;
                };
                let (index, _) = in_flight.remove(position).expect("position is in range");
                if status_kind(&status) != Some(StatusKind::Ok) {
                    return Err(ImapError::Protocol(format!(
                        "UID FETCH failed: {}",
                        status.text()
                    ))
                    .into());
                }
                on_event(FetchEvent::Done(index))?;
            }
            Incoming::Event(_) => {}
        }
    }
    Ok(())
}

fn fetched(items: Vec<MessageDataItem<'static>>) -> Fetched {
    let mut message = Fetched::default();
    for item in items {
        match item {
            MessageDataItem::Uid(uid) => message.uid = uid.get(),
            MessageDataItem::Flags(flags) => message.flags = Some(flags_of(&flags)),
            MessageDataItem::InternalDate(date) => {
                message.internal_date = Some(date.as_ref().timestamp())
            }
            MessageDataItem::Rfc822Size(size) => message.size = Some(u64::from(size)),
            MessageDataItem::BodyExt { data, .. } => {
                message.body = Some(
                    data.0
                        .map(|s| s.into_inner().into_owned())
                        .unwrap_or_default(),
                )
            }
            _ => {}
        }
    }
    message
}

/// The flags the CRM keeps, from a FETCH's FLAGS.
pub fn flags_of(flags: &[FlagFetch<'_>]) -> Flags {
    let mut out = Flags::default();
    for flag in flags {
        match flag {
            FlagFetch::Flag(Flag::Seen) => out.seen = true,
            FlagFetch::Flag(Flag::Answered) => out.answered = true,
            FlagFetch::Flag(Flag::Flagged) => out.flagged = true,
            FlagFetch::Flag(Flag::Draft) => out.draft = true,
            _ => {}
        }
    }
    out
}
