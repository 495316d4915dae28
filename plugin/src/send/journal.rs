//! The journal of messages the submission server accepted whose copy no Sent folder keeps: a
//! later attempt at the same draft (after a crash before the outbox's record) finds it here and
//! sends nothing. One stored list per day of the drafts' dates (the outbox fixed each at queueing); the last three days are kept.

use crate::account::store;
use crate::errors::MailboxError;
use crate::ports::{Env, KvWrite, Level};

const PREFIX: &str = "sent-journal/";
/// Days of drafts kept: a draft is retried for hours at most, never days.
const DAYS_KEPT: usize = 3;

/// The day of a draft's date (seconds since the epoch), which the outbox fixed at queueing:
/// days since the epoch, zero-padded so the days sort as text.
fn day_of(date: i64) -> String {
    format!("{:06}", date.div_euclid(86_400))
}

fn key(day: &str) -> String {
    format!("{PREFIX}{day}")
}

/// Whether the server accepted the draft of `date` with `message_id` before.
pub fn holds(env: &Env, date: i64, message_id: &str) -> Result<bool, MailboxError> {
    let accepted: Vec<String> = store::read(env.kv, &key(&day_of(date)))?.unwrap_or_default();
    Ok(accepted.iter().any(|m| m == message_id))
}

/// Records that the server accepted `message_id`; days beyond the last few go. A failure is
/// logged, never an error: the message is sent, and an error would have it sent again.
pub fn record(env: &Env, date: i64, message_id: &str) {
    let day = &day_of(date);
    let written = (|| -> Result<(), MailboxError> {
        let mut accepted: Vec<String> = store::read(env.kv, &key(day))?.unwrap_or_default();
        accepted.push(message_id.to_string());
        let mut writes = vec![store::set(&key(day), &accepted)];
        let mut days = env.kv.list_keys(PREFIX)?;
        days.sort();
        days.retain(|k| k.as_str() != key(day));
        let newer_first: Vec<String> = days.into_iter().rev().collect();
        for old in newer_first.into_iter().skip(DAYS_KEPT - 1) {
            writes.push(KvWrite::Delete(old));
        }
        env.kv.batch(writes)?;
        Ok(())
    })();
    if let Err(e) = written {
        env.log.log(
            Level::Warn,
            "the message was sent, but the journal of sent messages could not be written",
            &[("error", &format!("{:?}", e.kind))],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::day_of;

    #[test]
    fn days_sort_as_text() {
        assert_eq!(day_of(1_796_635_200), "020794");
        assert_eq!(day_of(86_399), "000000");
        assert!(day_of(86_400 * 9) < day_of(86_400 * 10));
    }
}
