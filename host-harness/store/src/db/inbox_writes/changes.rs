//! Changes to places the inbox knows (flags, vanished UIDs, a folder reset or its full list of
//! UIDs), and the removal of messages a whole pass found nowhere.

use super::{Events, InboxTx, in_turn, refresh};
use crate::db::StoreResult;
use crate::inbox_store::{Change, ChangeCounts, Update};
use crate::turns::Fence;

/// Applies `changes` in order, under the mailbox's lock (in its turn `turn`, if one is given);
/// then brings each touched message in line once. Consecutive vanished UIDs of one folder go in one step.
pub(crate) async fn apply(
    tx: &mut impl InboxTx,
    turn: Option<&Fence>,
    changes: &[Change],
) -> StoreResult<ChangeCounts> {
    tx.lock_mailbox().await?;
    in_turn(tx, turn).await?;
    let mut counts = ChangeCounts::default();
    let mut touched = Vec::new();
    let mut rest = changes;
    while let Some((change, after)) = rest.split_first() {
        rest = after;
        match change {
            Change::Flags(place, flags) => match tx.set_place_flags(place, *flags).await? {
                None => counts.unknown += 1,
                Some(id) => touched.push(id),
            },
            Change::Vanished(first) => {
                let of_folder = |c: &Change| match c {
                    Change::Vanished(l)
                        if (&l.remote_folder, l.uid_validity)
                            == (&first.remote_folder, first.uid_validity) =>
                    {
                        Some(l.uid)
                    }
                    _ => None,
                };
                let uids: Vec<u32> = std::iter::once(first.uid)
                    .chain(after.iter().map_while(of_folder))
                    .collect();
                rest = &after[uids.len() - 1..];
                let gone = tx
                    .remove_places(&first.remote_folder, first.uid_validity, &uids)
                    .await?;
                counts.unknown +=
                    u32::try_from(uids.len().saturating_sub(gone.len())).unwrap_or(u32::MAX);
                touched.extend(gone);
            }
            Change::Moved {
                from,
                to,
                folder,
                flags,
            } => match tx.move_place(from, to, *folder, *flags).await? {
                None => counts.unknown += 1,
                Some(id) => touched.push(id),
            },
            Change::FolderReset(folder, validity) => {
                touched.extend(tx.remove_other_validities(folder, *validity).await?);
            }
            Change::Present(folder, validity, up_to, present) => {
                let gone: Vec<u32> = tx
                    .places_up_to(folder, *validity, *up_to)
                    .await?
                    .into_iter()
                    .filter(|(uid, _)| present.binary_search(uid).is_err())
                    .map(|(uid, _)| uid)
                    .collect();
                if !gone.is_empty() {
                    touched.extend(tx.remove_places(folder, *validity, &gone).await?);
                }
            }
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let mut events = Events::default();
    for id in touched {
        let update = refresh(tx, id).await?;
        match update {
            Some(Update::Removed) => counts.removed += 1,
            Some(_) => counts.updated += 1,
            None => {}
        }
        events.changed(id, update);
    }
    events.append(tx).await?;
    Ok(counts)
}

/// Removes those of `ids` that still have no place, under the mailbox's lock, each with its
/// `message.removed` event; returns them, sorted, with the CRM folder each was in.
pub(crate) async fn settle_unplaced(
    tx: &mut impl InboxTx,
    ids: &[i64],
) -> StoreResult<Vec<(i64, u8)>> {
    tx.lock_mailbox().await?;
    let mut settled = tx.remove_unplaced(ids).await?;
    settled.sort_unstable();
    let mut events = Events::default();
    for &(id, _) in &settled {
        tx.note_update(id, Update::Removed.name()).await?;
        events.changed(id, Some(Update::Removed));
    }
    events.append(tx).await?;
    Ok(settled)
}
