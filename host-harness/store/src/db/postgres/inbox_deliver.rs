//! Delivering a batch to the inbox in PostgreSQL, in a few statements rather than a few per
//! message: new records are inserted at once, and the usual message (new, at a place no record
//! holds) is placed with the others in one statement; any other is handled one at a time,
//! exactly as before, so a batch ends as if its messages had been delivered in order.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Transaction;
use serde_json::json;
use tokio_postgres::Statement;

use super::events::append_within;
use super::inbox_write::{Events, changed_event, folder_name, message_at, refresh};
use super::{MailboxLock, PostgresStore, lock_mailbox_with, lock_statement};
use crate::db::StoreResult;
use crate::inbox_store::{DeliveryCounts, Location, NewMessage};

/// A place in the mailbox: remote folder, UIDVALIDITY, UID.
type Place = (String, i64, i64);

fn place_of(l: &Location) -> Place {
    (
        l.remote_folder.clone(),
        i64::from(l.uid_validity),
        i64::from(l.uid),
    )
}

/// Inserts the batch's records whose key the mailbox does not have yet.
const INSERT_NEW: &str = "INSERT INTO inbox_messages (mailbox, dedupe_key, message_id, thread_key,
         subject, date_utc, direction, size, truncated, folder, flags, record_json)
     SELECT $1, k, i, t, s, d, dir, sz, tr, f, fl, r
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                 $8::int8[], $9::bool[], $10::int2[], $11::int2[], $12::text[])
          WITH ORDINALITY AS b(k, i, t, s, d, dir, sz, tr, f, fl, r, n)
     ORDER BY n
     ON CONFLICT (mailbox, dedupe_key) DO NOTHING
     RETURNING id, dedupe_key";

/// The records holding any of a batch's places now.
const HOLDERS: &str = "SELECT l.remote_folder, l.uid_validity, l.uid, l.message
     FROM inbox_locations l
     JOIN unnest($2::text[], $3::int8[], $4::int8[]) AS b(f, v, u)
       ON l.remote_folder = b.f AND l.uid_validity = b.v AND l.uid = b.u
     WHERE l.mailbox = $1";

/// Inserts the batch's records whose key the mailbox does not have yet; their ids by key.
async fn insert_new(
    tx: &Transaction<'_>,
    insert: &Statement,
    mailbox: &str,
    batch: &[NewMessage],
) -> StoreResult<HashMap<String, i64>> {
    let column = |f: fn(&NewMessage) -> &str| batch.iter().map(f).collect::<Vec<_>>();
    let subjects: Vec<Option<&str>> = batch.iter().map(|m| m.subject.as_deref()).collect();
    let sizes: Vec<i64> = batch.iter().map(|m| m.size as i64).collect();
    let truncated: Vec<bool> = batch.iter().map(|m| m.truncated).collect();
    let folders: Vec<i16> = batch.iter().map(|m| i16::from(m.folder)).collect();
    let flags: Vec<i16> = batch.iter().map(|m| i16::from(m.flags)).collect();
    let rows = tx
        .query(
            insert,
            &[
                &mailbox,
                &column(|m| &m.dedupe_key),
                &column(|m| &m.message_id),
                &column(|m| &m.thread_key),
                &subjects,
                &column(|m| &m.date_utc),
                &column(|m| m.direction),
                &sizes,
                &truncated,
                &folders,
                &flags,
                &column(|m| &m.record_json),
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(1), r.get(0))).collect())
}

/// The records holding any of the batch's places now.
async fn holders(
    tx: &Transaction<'_>,
    select: &Statement,
    mailbox: &str,
    batch: &[NewMessage],
) -> StoreResult<HashMap<Place, i64>> {
    let folders: Vec<&str> = batch
        .iter()
        .map(|m| m.location.remote_folder.as_str())
        .collect();
    let validities: Vec<i64> = batch
        .iter()
        .map(|m| i64::from(m.location.uid_validity))
        .collect();
    let uids: Vec<i64> = batch.iter().map(|m| i64::from(m.location.uid)).collect();
    let rows = tx
        .query(select, &[&mailbox, &folders, &validities, &uids])
        .await?;
    Ok(rows
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect())
}

/// Places gathered for one statement.
#[derive(Default)]
struct Pending {
    folders: Vec<String>,
    validities: Vec<i64>,
    uids: Vec<i64>,
    messages: Vec<i64>,
    shown_in: Vec<i16>,
    flags: Vec<i16>,
}

impl Pending {
    fn push(&mut self, m: &NewMessage, id: i64) {
        let (folder, validity, uid) = place_of(&m.location);
        self.folders.push(folder);
        self.validities.push(validity);
        self.uids.push(uid);
        self.messages.push(id);
        self.shown_in.push(i16::from(m.folder));
        self.flags.push(i16::from(m.flags));
    }

    /// Writes the places gathered so far.
    async fn place(&mut self, tx: &Transaction<'_>, mailbox: &str) -> StoreResult<()> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let insert = tx
            .prepare_cached(
                "INSERT INTO inbox_locations (mailbox, remote_folder, uid_validity, uid, message, folder, flags)
                 SELECT $1, * FROM unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int2[], $7::int2[])
                 ON CONFLICT (mailbox, remote_folder, uid_validity, uid)
                 DO UPDATE SET message = excluded.message, folder = excluded.folder, flags = excluded.flags",
            )
            .await?;
        tx.execute(
            &insert,
            &[
                &mailbox,
                &self.folders,
                &self.validities,
                &self.uids,
                &self.messages,
                &self.shown_in,
                &self.flags,
            ],
        )
        .await?;
        *self = Pending::default();
        Ok(())
    }
}

fn created_event(events: &mut Events, id: i64, m: &NewMessage) {
    events.push((
        "message.created",
        json!({ "message": id, "message_id": m.message_id, "folder": folder_name(i16::from(m.folder)) }),
    ));
}

/// One message the batch statements did not cover: `new_id` when its record was inserted
/// by this batch. Its place is written, a record that held the place before is brought in
/// line, and the message counted.
async fn one_at_a_time(
    tx: &Transaction<'_>,
    mailbox: &str,
    m: &NewMessage,
    new_id: Option<i64>,
    counts: &mut DeliveryCounts,
    events: &mut Events,
) -> StoreResult<()> {
    let id = match new_id {
        Some(id) => id,
        None => {
            // A redelivered batch comes this way message by message: prepared once.
            let existing = tx
                .prepare_cached(
                    "SELECT id FROM inbox_messages WHERE mailbox = $1 AND dedupe_key = $2",
                )
                .await?;
            tx.query_one(&existing, &[&mailbox, &m.dedupe_key])
                .await?
                .get(0)
        }
    };
    // A place held by another record (a dedupe key that changed) leaves it.
    let previous = message_at(tx, mailbox, &m.location)
        .await?
        .filter(|p| *p != id);
    let mut place = Pending::default();
    place.push(m, id);
    place.place(tx, mailbox).await?;
    if let Some(previous) = previous {
        let what = refresh(tx, previous).await?;
        changed_event(events, previous, what);
    }
    if new_id.is_some() {
        counts.created += 1;
        created_event(events, id, m);
    } else if let Some(what) = refresh(tx, id).await? {
        counts.updated += 1;
        changed_event(events, id, Some(what));
    } else {
        counts.unchanged += 1;
    }
    Ok(())
}

impl PostgresStore {
    pub(super) async fn deliver(
        &self,
        mailbox: &str,
        batch: &[NewMessage],
    ) -> StoreResult<DeliveryCounts> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Prepared first (once per connection), so the three below go to the server back to
        // back, in this order, and are answered in one round trip.
        let insert = tx.prepare_cached(INSERT_NEW).await?;
        let select = tx.prepare_cached(HOLDERS).await?;
        let lock = lock_statement(&tx).await?;
        let (locked, inserted, held) = tokio::join!(
            biased;
            lock_mailbox_with(&tx, &lock, MailboxLock::Inbox, mailbox),
            insert_new(&tx, &insert, mailbox, batch),
            holders(&tx, &select, mailbox, batch),
        );
        locked?;
        let (mut inserted, held) = (inserted?, held?);
        let (mut counts, mut events) = (DeliveryCounts::default(), Events::new());
        let mut pending = Pending::default();
        let mut seen: HashSet<Place> = HashSet::new();
        for m in batch {
            // Only the first message with a key inserted by this batch is new.
            let new_id = inserted.remove(&m.dedupe_key);
            let place = place_of(&m.location);
            let untouched = !held.contains_key(&place) && seen.insert(place);
            match new_id {
                Some(id) if untouched => {
                    pending.push(m, id);
                    counts.created += 1;
                    created_event(&mut events, id, m);
                }
                _ => {
                    // In order: the places gathered so far are written first.
                    pending.place(&tx, mailbox).await?;
                    one_at_a_time(&tx, mailbox, m, new_id, &mut counts, &mut events).await?;
                }
            }
        }
        pending.place(&tx, mailbox).await?;
        append_within(&tx, mailbox, &events).await?;
        tx.commit().await?;
        Ok(counts)
    }
}
