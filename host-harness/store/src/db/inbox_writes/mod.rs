//! The inbox's writes, written once for both dialects: a delivery, a batch of changes and the
//! settling of unplaced messages, each over one transaction that a dialect lends as `InboxTx`.
//!
//! A message's row is brought in line with its locations after each write (`refresh`), and the
//! CRM's `message.*` events are appended last in the same transaction, so an event exists
//! exactly when its change does. SQLite's steps never wait; PostgreSQL's are its round trips,
//! several of which a delivery sends at once.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::StoreResult;
use crate::inbox_store::{Location, NewMessage, Update, folder_name};
use crate::turns::Fence;

mod changes;
mod deliver;

pub(crate) use changes::{apply, settle_unplaced};
pub(crate) use deliver::deliver;

/// A message's row as a refresh finds it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageState {
    pub folder: u8,
    pub flags: u8,
    pub removed: bool,
    pub unplaced: bool,
}

/// What a delivery finds when it starts: the ids of the records it inserted (the first message
/// of each key the mailbox did not have), and the records that held its places before.
pub(crate) struct DeliveryStart {
    pub inserted: HashMap<String, i64>,
    pub held: HashMap<Location, i64>,
}

/// One transaction on one mailbox's inbox, in a dialect's SQL. Every step is scoped to the
/// mailbox the transaction was begun for.
#[allow(async_fn_in_trait)]
pub(crate) trait InboxTx {
    /// Takes the mailbox's inbox lock (PostgreSQL; SQLite's one writer already excludes others).
    async fn lock_mailbox(&mut self) -> StoreResult<()>;
    /// Refuses the write (`Fenced`) unless `turn` is still the mailbox's current turn, and keeps
    /// it so until the transaction ends (PostgreSQL; SQLite's turns are this process's own).
    async fn check_turn(&mut self, turn: &Fence) -> StoreResult<()>;
    /// Takes the lock, inserts the batch's new records and finds the holders of its places.
    async fn begin_delivery(&mut self, batch: &[NewMessage]) -> StoreResult<DeliveryStart>;
    /// The id of the record with `dedupe_key`, which exists.
    async fn id_of(&mut self, dedupe_key: &str) -> StoreResult<i64>;
    /// The record found at `place`, if any.
    async fn message_at(&mut self, place: &Location) -> StoreResult<Option<i64>>;
    /// Writes each message's place, held by record `id`, in the order given; a place held
    /// before is taken over.
    async fn place(&mut self, places: &[(&NewMessage, i64)]) -> StoreResult<()>;
    /// Sets the flags seen at `place`; the record found there, if any.
    async fn set_place_flags(&mut self, place: &Location, flags: u8) -> StoreResult<Option<i64>>;
    /// Moves the message at `from` to `to` (CRM folder `folder`, flags `flags`): the message's
    /// id, or `None` when nothing is at `from`.
    async fn move_place(
        &mut self,
        from: &Location,
        to: &Location,
        folder: u8,
        flags: u8,
    ) -> StoreResult<Option<i64>>;
    /// Forgets the places `uids` of a folder in one statement; the record of each one that was
    /// known.
    async fn remove_places(
        &mut self,
        folder: &str,
        validity: u32,
        uids: &[u32],
    ) -> StoreResult<Vec<i64>>;
    /// Forgets a folder's places under any other UIDVALIDITY; the record of each.
    async fn remove_other_validities(
        &mut self,
        folder: &str,
        validity: u32,
    ) -> StoreResult<Vec<i64>>;
    /// The known places of a folder up to UID `up_to`: each UID and its record.
    async fn places_up_to(
        &mut self,
        folder: &str,
        validity: u32,
        up_to: u32,
    ) -> StoreResult<Vec<(u32, i64)>>;
    async fn message_state(&mut self, message: i64) -> StoreResult<MessageState>;
    /// The CRM folder and flags a message's first location by priority shows, if it has one.
    async fn shown(&mut self, message: i64) -> StoreResult<Option<(u8, u8)>>;
    async fn set_unplaced(&mut self, message: i64, unplaced: bool) -> StoreResult<()>;
    /// Shows the message in `folder` with `flags`, present and placed.
    async fn show(&mut self, message: i64, folder: u8, flags: u8) -> StoreResult<()>;
    /// Adds a row to the message's updates.
    async fn note_update(&mut self, message: i64, detail: &str) -> StoreResult<()>;
    /// Marks removed those of `ids` still unplaced; each with the CRM folder it showed in.
    async fn remove_unplaced(&mut self, ids: &[i64]) -> StoreResult<Vec<(i64, u8)>>;
    /// Appends the events, in order, to the outbox.
    async fn append_events(&mut self, events: &[(&'static str, Value)]) -> StoreResult<()>;
}

/// Refuses the write unless `turn`, when it is given, is still the mailbox's.
async fn in_turn(tx: &mut impl InboxTx, turn: Option<&Fence>) -> StoreResult<()> {
    match turn {
        Some(turn) => tx.check_turn(turn).await,
        None => Ok(()),
    }
}

/// The events a write raises, appended at its end.
#[derive(Default)]
pub(crate) struct Events(Vec<(&'static str, Value)>);

impl Events {
    fn created(&mut self, id: i64, m: &NewMessage) {
        self.0.push((
            "message.created",
            json!({ "message": id, "message_id": m.message_id, "folder": folder_name(m.folder) }),
        ));
    }

    fn changed(&mut self, message: i64, update: Option<Update>) {
        if let Some(update) = update {
            self.0.push((
                update.event_kind(),
                json!({ "message": message, "change": update.name() }),
            ));
        }
    }

    async fn append(self, tx: &mut impl InboxTx) -> StoreResult<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        tx.append_events(&self.0).await
    }
}

/// Brings a message's row in line with its locations; returns what changed, if anything. A
/// message whose last place went is not removed here: it may have moved to a folder not looked
/// at yet. It is marked unplaced, and removed once a whole pass finds it nowhere
/// (`settle_unplaced`).
async fn refresh(tx: &mut impl InboxTx, message: i64) -> StoreResult<Option<Update>> {
    let was = tx.message_state(message).await?;
    let (folder, flags) = match tx.shown(message).await? {
        None => {
            if !(was.removed || was.unplaced) {
                tx.set_unplaced(message, true).await?;
            }
            return Ok(None);
        }
        Some(now) if now == (was.folder, was.flags) && !was.removed => {
            if was.unplaced {
                tx.set_unplaced(message, false).await?;
            }
            return Ok(None);
        }
        Some(now) => now,
    };
    tx.show(message, folder, flags).await?;
    let update = if was.removed {
        Update::Restored
    } else if folder != was.folder {
        Update::Moved
    } else {
        Update::Flags
    };
    let detail = match update {
        Update::Moved | Update::Restored => format!("{} to {}", update.name(), folder_name(folder)),
        _ => update.name().to_string(),
    };
    tx.note_update(message, &detail).await?;
    Ok(Some(update))
}
