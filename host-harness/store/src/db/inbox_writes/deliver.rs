//! Delivering a batch: new records are inserted at once, and the usual message (new, at a place
//! no record holds) is placed with the others in one step; any other is handled one at a time,
//! so a batch ends as if its messages had been delivered in order.

use std::collections::HashSet;

use super::{Events, InboxTx, in_turn, refresh};
use crate::db::StoreResult;
use crate::inbox_store::{DeliveryCounts, Location, NewMessage};
use crate::turns::Fence;

/// Stores `batch` in the transaction `tx` was begun with, in the mailbox's turn `turn` if one
/// is given.
pub(crate) async fn deliver(
    tx: &mut impl InboxTx,
    turn: Option<&Fence>,
    batch: &[NewMessage],
) -> StoreResult<DeliveryCounts> {
    in_turn(tx, turn).await?;
    let start = tx.begin_delivery(batch).await?;
    let mut inserted = start.inserted;
    let (mut counts, mut events) = (DeliveryCounts::default(), Events::default());
    let mut pending: Vec<(&NewMessage, i64)> = Vec::new();
    let mut seen: HashSet<&Location> = HashSet::new();
    for m in batch {
        // Only the first message with a key inserted by this batch is new.
        let new_id = inserted.remove(&m.dedupe_key);
        let untouched = !start.held.contains_key(&m.location) && seen.insert(&m.location);
        match new_id {
            Some(id) if untouched => {
                pending.push((m, id));
                counts.created += 1;
                events.created(id, m);
            }
            _ => {
                // In order: the places gathered so far are written first.
                place(tx, &mut pending).await?;
                one_at_a_time(tx, m, new_id, &mut counts, &mut events).await?;
            }
        }
    }
    place(tx, &mut pending).await?;
    events.append(tx).await?;
    Ok(counts)
}

/// Writes the places gathered so far.
async fn place(tx: &mut impl InboxTx, pending: &mut Vec<(&NewMessage, i64)>) -> StoreResult<()> {
    if !pending.is_empty() {
        tx.place(pending).await?;
        pending.clear();
    }
    Ok(())
}

/// One message the batch steps did not cover: `new_id` when its record was inserted by this
/// batch. Its place is written, a record that held the place before is brought in line, and the
/// message counted.
async fn one_at_a_time(
    tx: &mut impl InboxTx,
    m: &NewMessage,
    new_id: Option<i64>,
    counts: &mut DeliveryCounts,
    events: &mut Events,
) -> StoreResult<()> {
    let id = match new_id {
        Some(id) => id,
        None => tx.id_of(&m.dedupe_key).await?,
    };
    // A place held by another record (a dedupe key that changed) leaves it.
    let previous = tx.message_at(&m.location).await?.filter(|p| *p != id);
    tx.place(&[(m, id)]).await?;
    if let Some(previous) = previous {
        let update = refresh(tx, previous).await?;
        events.changed(previous, update);
    }
    if new_id.is_some() {
        counts.created += 1;
        events.created(id, m);
    } else if let Some(update) = refresh(tx, id).await? {
        counts.updated += 1;
        events.changed(id, Some(update));
    } else {
        counts.unchanged += 1;
    }
    Ok(())
}
