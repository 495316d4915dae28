//! Writing the inbox in PostgreSQL: changes (flags, vanished and reset places), each batch one
//! transaction under the mailbox's lock, a message's row brought in line with its locations
//! after each, and the CRM's `message.*` events appended last in the same transaction; the
//! helpers that deliveries (`inbox_deliver`) share.

use deadpool_postgres::Transaction;
use serde_json::{Value, json};

use super::events::append_within;
use super::{MailboxLock, PostgresStore, lock_mailbox};
use crate::db::StoreResult;
use crate::inbox_store::{Change, ChangeCounts, FOLDERS, Location};

/// The events a batch raises, appended at its end.
pub(super) type Events = Vec<(&'static str, Value)>;

pub(super) fn folder_name(folder: i16) -> &'static str {
    FOLDERS[usize::try_from(folder).unwrap_or(0).min(3)]
}

/// The folder and flags a message shows: its first location by priority, or `None` when it has
/// none left.
async fn shown(tx: &Transaction<'_>, message: i64) -> StoreResult<Option<(i16, i16)>> {
    let row = tx
        .query_opt(
            "SELECT folder, flags FROM inbox_locations WHERE message = $1 ORDER BY folder, uid LIMIT 1",
            &[&message],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Brings a message's row in line with its locations; returns what changed, if anything. A
/// message whose last place went is not removed here: it may have moved to a folder not looked
/// at yet. It is marked unplaced, and removed once a whole pass finds it nowhere
/// (`settle_unplaced`).
pub(super) async fn refresh(
    tx: &Transaction<'_>,
    message: i64,
) -> StoreResult<Option<&'static str>> {
    let row = tx
        .query_one(
            "SELECT folder, flags, removed, unplaced FROM inbox_messages WHERE id = $1",
            &[&message],
        )
        .await?;
    let (folder, flags, removed, unplaced): (i16, i16, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let now = shown(tx, message).await?;
    let what = match now {
        None if removed || unplaced => return Ok(None),
        None => {
            tx.execute(
                "UPDATE inbox_messages SET unplaced = true WHERE id = $1",
                &[&message],
            )
            .await?;
            return Ok(None);
        }
        Some((f, fl)) if (f, fl, removed) == (folder, flags, false) => {
            if unplaced {
                tx.execute(
                    "UPDATE inbox_messages SET unplaced = false WHERE id = $1",
                    &[&message],
                )
                .await?;
            }
            return Ok(None);
        }
        Some((f, fl)) => {
            tx.execute(
                "UPDATE inbox_messages SET folder = $2, flags = $3, removed = false, unplaced = false
                 WHERE id = $1",
                &[&message, &f, &fl],
            )
            .await?;
            if removed {
                "restored"
            } else if f != folder {
                "moved"
            } else {
                "flags"
            }
        }
    };
    let detail = match (what, now) {
        ("moved" | "restored", Some((f, _))) => format!("{what} to {}", folder_name(f)),
        _ => what.to_string(),
    };
    tx.execute(
        "INSERT INTO inbox_updates (message, what) VALUES ($1, $2)",
        &[&message, &detail],
    )
    .await?;
    Ok(Some(what))
}

/// The event for a message whose folder, flags or presence changed (`what`, from `refresh`).
pub(super) fn changed_event(events: &mut Events, message: i64, what: Option<&str>) {
    let Some(what) = what else { return };
    let kind = if what == "removed" {
        "message.removed"
    } else {
        "message.updated"
    };
    events.push((kind, json!({ "message": message, "change": what })));
}

pub(super) async fn message_at(
    tx: &Transaction<'_>,
    mailbox: &str,
    l: &Location,
) -> StoreResult<Option<i64>> {
    let statement = tx
        .prepare_cached(
            "SELECT message FROM inbox_locations
             WHERE mailbox = $1 AND remote_folder = $2 AND uid_validity = $3 AND uid = $4",
        )
        .await?;
    let row = tx
        .query_opt(
            &statement,
            &[
                &mailbox,
                &l.remote_folder,
                &i64::from(l.uid_validity),
                &i64::from(l.uid),
            ],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

impl PostgresStore {
    pub(super) async fn apply(
        &self,
        mailbox: &str,
        changes: &[Change],
    ) -> StoreResult<ChangeCounts> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_mailbox(&tx, MailboxLock::Inbox, mailbox).await?;
        let mut counts = ChangeCounts::default();
        let mut touched = Vec::new();
        let at = "mailbox = $1 AND remote_folder = $2 AND uid_validity = $3";
        for change in changes {
            match change {
                Change::Flags(l, flags) => {
                    let sql =
                        format!("UPDATE inbox_locations SET flags = $5 WHERE {at} AND uid = $4");
                    let flags = i16::from(*flags);
                    match message_at(&tx, mailbox, l).await? {
                        None => counts.unknown += 1,
                        Some(id) => {
                            let (validity, uid) = (i64::from(l.uid_validity), i64::from(l.uid));
                            tx.execute(
                                &sql,
                                &[&mailbox, &l.remote_folder, &validity, &uid, &flags],
                            )
                            .await?;
                            touched.push(id);
                        }
                    }
                }
                Change::Vanished(l) => {
                    let sql = format!("DELETE FROM inbox_locations WHERE {at} AND uid = $4");
                    match message_at(&tx, mailbox, l).await? {
                        None => counts.unknown += 1,
                        Some(id) => {
                            let (validity, uid) = (i64::from(l.uid_validity), i64::from(l.uid));
                            tx.execute(&sql, &[&mailbox, &l.remote_folder, &validity, &uid])
                                .await?;
                            touched.push(id);
                        }
                    }
                }
                Change::FolderReset(folder, validity) => {
                    let rows = tx
                        .query(
                            "DELETE FROM inbox_locations
                             WHERE mailbox = $1 AND remote_folder = $2 AND uid_validity != $3
                             RETURNING message",
                            &[&mailbox, folder, &i64::from(*validity)],
                        )
                        .await?;
                    touched.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
                }
                Change::Present(folder, validity, up_to, present) => {
                    let known = tx
                        .query(
                            &format!(
                                "SELECT uid, message FROM inbox_locations WHERE {at} AND uid <= $4"
                            ),
                            &[&mailbox, folder, &i64::from(*validity), &i64::from(*up_to)],
                        )
                        .await?;
                    for row in known {
                        let (uid, id): (i64, i64) = (row.get(0), row.get(1));
                        let gone =
                            u32::try_from(uid).is_ok_and(|u| present.binary_search(&u).is_err());
                        if gone {
                            tx.execute(
                                &format!("DELETE FROM inbox_locations WHERE {at} AND uid = $4"),
                                &[&mailbox, folder, &i64::from(*validity), &uid],
                            )
                            .await?;
                            touched.push(id);
                        }
                    }
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let mut events = Events::new();
        for id in touched {
            let what = refresh(&tx, id).await?;
            match what {
                Some("removed") => counts.removed += 1,
                Some(_) => counts.updated += 1,
                None => {}
            }
            changed_event(&mut events, id, what);
        }
        append_within(&tx, mailbox, &events).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Removes those of `ids` that still have no place, each with its `message.removed`
    /// event, under the mailbox's lock; returns them with the CRM folder each was in.
    pub(super) async fn settle_unplaced(
        &self,
        mailbox: &str,
        ids: &[i64],
    ) -> StoreResult<Vec<(i64, u8)>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_mailbox(&tx, MailboxLock::Inbox, mailbox).await?;
        let rows = tx
            .query(
                "UPDATE inbox_messages SET removed = true, unplaced = false
                 WHERE id = ANY($1) AND mailbox = $2 AND unplaced RETURNING id, folder",
                &[&ids, &mailbox],
            )
            .await?;
        let mut settled: Vec<(i64, u8)> = rows
            .iter()
            .map(|r| (r.get(0), u8::try_from(r.get::<_, i16>(1)).unwrap_or(0)))
            .collect();
        settled.sort_unstable();
        let mut events = Events::new();
        for &(id, _) in &settled {
            tx.execute(
                "INSERT INTO inbox_updates (message, what) VALUES ($1, 'removed')",
                &[&id],
            )
            .await?;
            changed_event(&mut events, id, Some("removed"));
        }
        append_within(&tx, mailbox, &events).await?;
        tx.commit().await?;
        Ok(settled)
    }
}
