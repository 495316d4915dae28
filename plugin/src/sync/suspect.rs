//! The message being normalised when a sync died: before a large message is normalised, its
//! location is written down; a run that ends in a trap leaves it there, and the next run fetches
//! that message as its headers only, so one message can never stop its folder for good.

use serde::{Deserialize, Serialize};

use crate::account::store;
use crate::errors::MailboxError;
use crate::ports::{KeyValue, KvWrite};

/// Messages from this size on are written down before they are normalised (a small message
/// cannot take the instance's memory or time).
pub const SUSPECT_BYTES: usize = 1024 * 1024;
/// Why a suspect is kept as its headers only.
pub const REASON: &str = "normalising the whole message stopped an earlier sync";

const PREFIX: &str = "sync/suspect/";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspect {
    pub uid_validity: u32,
    pub uid: u32,
}

fn key(remote_folder: &str) -> String {
    format!("{PREFIX}{remote_folder}")
}

pub fn load(kv: &dyn KeyValue, remote_folder: &str) -> Result<Option<Suspect>, MailboxError> {
    store::read(kv, &key(remote_folder))
}

/// Writes down the message about to be normalised.
pub fn save(kv: &dyn KeyValue, remote_folder: &str, s: Suspect) -> Result<(), MailboxError> {
    kv.batch(vec![store::set(&key(remote_folder), &s)])?;
    Ok(())
}

/// Forgets the folder's suspect: its run got past it.
pub fn clear(kv: &dyn KeyValue, remote_folder: &str) -> Result<(), MailboxError> {
    kv.batch(vec![KvWrite::Delete(key(remote_folder))])?;
    Ok(())
}
