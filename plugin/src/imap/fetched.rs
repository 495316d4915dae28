//! One fetched message's items, as both readers of FETCH answers give them: imap-codec's
//! (`fetch.rs`) and the raw reader for what it cannot parse (`raw_fetch.rs`).

use crate::model::{Flags, GmailIds};

/// One message's fetched items; what was not asked for is `None`.
#[derive(Debug, Default)]
pub struct Fetched {
    pub uid: u32,
    pub flags: Option<Flags>,
    /// Seconds since the Unix epoch.
    pub internal_date: Option<i64>,
    pub size: Option<u64>,
    /// `BODY[]` or `BODY[HEADER]`.
    pub body: Option<Vec<u8>>,
    pub gmail: Option<GmailIds>,
}
