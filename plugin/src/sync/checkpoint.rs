//! A folder's checkpoint in host storage: how far sync got (UIDVALIDITY, last UID, mod-sequence),
//! written in one storage batch only after the inbox acknowledged what it covers.

use serde::{Deserialize, Serialize};

use crate::account::store;
use crate::errors::MailboxError;
use crate::ports::KeyValue;

pub const PREFIX: &str = "sync/folder/";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub uid_validity: u32,
    /// Every message with a UID up to this one is in the CRM (or outside the backfill window).
    pub last_uid: u32,
    /// Changes up to this mod-sequence are in the CRM; `None` without CONDSTORE.
    pub modseq: Option<u64>,
    /// Set while the first sync (or a rescan) is under way: its backfill date (`1-Jan-2024`).
    pub backfill_since: Option<String>,
    /// The first sync's backfill date, kept: a rescan after a UIDVALIDITY change reaches as far.
    #[serde(default)]
    pub synced_since: Option<String>,
    /// Set while a rescan after a UIDVALIDITY change is under way.
    pub reset_pending: bool,
    /// How many messages the folder held when it was last synced to its end (all of them at or
    /// below `last_uid`): without QRESYNC, fewer now than that plus the new ones means expunges.
    #[serde(default)]
    pub exists: Option<u32>,
}

fn key(remote_folder: &str) -> String {
    format!("{PREFIX}{remote_folder}")
}

pub fn load(kv: &dyn KeyValue, remote_folder: &str) -> Result<Option<Checkpoint>, MailboxError> {
    store::read(kv, &key(remote_folder))
}

pub fn save(kv: &dyn KeyValue, remote_folder: &str, c: &Checkpoint) -> Result<(), MailboxError> {
    kv.batch(vec![store::set(&key(remote_folder), c)])?;
    Ok(())
}
