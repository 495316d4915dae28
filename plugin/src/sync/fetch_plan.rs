//! Which UIDs a run fetches and in which commands: batches in UID order, capped in messages,
//! with each message over the size limit fetched alone, as headers only.

use crate::imap::GMAIL_ITEMS;
use crate::imap::examine::compact;
use crate::imap::fetch::FetchCommand;

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

/// Splits `(uid, oversized)` (UID order) into batches of at most `max_messages`; each oversized
/// message gets a batch of its own, headers only.
pub fn batches(candidates: &[(u32, bool)], max_messages: u32, gmail: bool) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut uids: Vec<u32> = Vec::new();
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
    for &(uid, oversized) in candidates {
        if oversized {
            close(&mut uids, false, &mut out);
            close(&mut vec![uid], true, &mut out);
            continue;
        }
        if uids.len() as u32 >= max_messages.max(1) {
            close(&mut uids, false, &mut out);
        }
        uids.push(uid);
    }
    close(&mut uids, false, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_uid_order_and_the_cap() {
        let candidates: Vec<(u32, bool)> = (1..=5).map(|u| (u, false)).collect();
        let b = batches(&candidates, 2, false);
        let uids: Vec<Vec<u32>> = b.iter().map(|b| b.uids.clone()).collect();
        assert_eq!(uids, [vec![1, 2], vec![3, 4], vec![5]]);
        assert!(b.iter().all(|b| b.commands.len() == 1));
        assert_eq!(b[0].commands[0].set, "1:2");
    }

    #[test]
    fn an_oversized_message_is_fetched_alone_as_headers() {
        let b = batches(&[(1, false), (2, true), (3, false)], 10, false);
        assert_eq!(b.len(), 3);
        assert!(b[1].header_only && b[1].commands[0].items.contains("HEADER"));
        assert!(!b[0].header_only && !b[2].header_only);
    }

    #[test]
    fn gmail_ids_are_fetched_before_the_messages() {
        let b = batches(&[(1, false)], 10, true);
        assert_eq!(b[0].commands.len(), 2);
        assert!(b[0].commands[0].items.contains("X-GM-MSGID"));
    }

    #[test]
    fn scattered_uids_are_asked_for_in_compact_sets() {
        let b = batches(
            &[
                (1, false),
                (2, false),
                (3, false),
                (7, false),
                (9, false),
                (10, false),
            ],
            10,
            false,
        );
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].commands[0].set, "1:3,7,9:10");
        assert_eq!(b[0].last_uid(), 10);
    }

    #[test]
    fn a_cap_of_zero_still_fetches_one_message_per_batch() {
        let b = batches(&[(4, false), (5, false)], 0, false);
        let uids: Vec<Vec<u32>> = b.iter().map(|b| b.uids.clone()).collect();
        assert_eq!(uids, [vec![4], vec![5]]);
    }

    #[test]
    fn the_messages_around_an_oversized_one_keep_their_order_and_the_cap() {
        let candidates = [(1, false), (2, false), (3, false), (4, true), (5, false)];
        let b = batches(&candidates, 2, true);
        let uids: Vec<(Vec<u32>, bool)> =
            b.iter().map(|b| (b.uids.clone(), b.header_only)).collect();
        assert_eq!(
            uids,
            [
                (vec![1, 2], false),
                (vec![3], false),
                (vec![4], true),
                (vec![5], false)
            ]
        );
        // Gmail's ids are asked for the headers-only message too.
        assert_eq!(b[2].commands.len(), 2);
        assert_eq!(b[2].commands[1].items, HEADER_ITEMS);
    }
}
