//! Which UIDs a run fetches and in which commands: batches in UID order, capped in messages and
//! bytes, with messages over the size limit fetched as headers only.

use crate::imap::GMAIL_ITEMS;
use crate::imap::examine::compact;
use crate::imap::fetch::FetchCommand;

/// Raw bytes per batch: one `inbox.deliver` call holds at most about this much.
pub const BATCH_BYTES: u64 = 16 * 1024 * 1024;

const FULL_ITEMS: &str = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])";
const HEADER_ITEMS: &str = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])";

/// One batch: its fetch commands (Gmail's ids first, then the messages), delivered together.
#[derive(Debug, Clone)]
pub struct Batch {
    pub commands: Vec<FetchCommand>,
    pub uids: Vec<u32>,
    pub header_only: bool,
}

impl Batch {
    pub fn last_uid(&self) -> u32 {
        self.uids.last().copied().unwrap_or(0)
    }
}

/// Splits `(uid, size)` (UID order) into batches of at most `max_messages` and `BATCH_BYTES`;
/// each message over `max_message_bytes` gets a batch of its own, headers only.
pub fn batches(
    sized: &[(u32, u64)],
    max_messages: u32,
    max_message_bytes: u64,
    gmail: bool,
) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut uids: Vec<u32> = Vec::new();
    let mut bytes = 0u64;
    let close = |uids: &mut Vec<u32>, header_only: bool, out: &mut Vec<Batch>| {
        if uids.is_empty() {
            return;
        }
        let uids = std::mem::take(uids);
        let set = compact(&uids);
        let mut commands = Vec::new();
        if gmail {
            commands.push(FetchCommand {
                set: set.clone(),
                items: GMAIL_ITEMS.into(),
            });
        }
        commands.push(FetchCommand {
            set,
            items: if header_only {
                HEADER_ITEMS
            } else {
                FULL_ITEMS
            }
            .into(),
        });
        out.push(Batch {
            commands,
            uids,
            header_only,
        });
    };
    for &(uid, size) in sized {
        if size > max_message_bytes {
            close(&mut uids, false, &mut out);
            bytes = 0;
            close(&mut vec![uid], true, &mut out);
            continue;
        }
        if !uids.is_empty()
            && (uids.len() as u32 >= max_messages.max(1) || bytes + size > BATCH_BYTES)
        {
            close(&mut uids, false, &mut out);
            bytes = 0;
        }
        uids.push(uid);
        bytes += size;
    }
    close(&mut uids, false, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_uid_order_and_caps() {
        let sized: Vec<(u32, u64)> = (1..=5).map(|u| (u, 10)).collect();
        let b = batches(&sized, 2, 100, false);
        let uids: Vec<Vec<u32>> = b.iter().map(|b| b.uids.clone()).collect();
        assert_eq!(uids, [vec![1, 2], vec![3, 4], vec![5]]);
        assert!(b.iter().all(|b| b.commands.len() == 1));
    }

    #[test]
    fn an_oversized_message_is_fetched_alone_as_headers() {
        let b = batches(&[(1, 10), (2, 500), (3, 10)], 10, 100, false);
        assert_eq!(b.len(), 3);
        assert!(b[1].header_only && b[1].commands[0].items.contains("HEADER"));
        assert!(!b[0].header_only && !b[2].header_only);
    }

    #[test]
    fn bytes_close_a_batch() {
        let big = BATCH_BYTES / 2 + 1;
        let b = batches(&[(1, big), (2, big), (3, 1)], 100, u64::MAX, false);
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn gmail_ids_are_fetched_before_the_messages() {
        let b = batches(&[(1, 10)], 10, 100, true);
        assert_eq!(b[0].commands.len(), 2);
        assert!(b[0].commands[0].items.contains("X-GM-MSGID"));
    }
}
