//! A mailbox's send rates (so many a minute, so many a day), counted on the times its messages
//! were sent, which the store keeps for every node: whether one more may go now, or when.

/// The windows the rates are counted in, in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
pub const DAY_MS: i64 = 86_400_000;

/// The most messages a mailbox may send in a minute and in a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRates {
    pub per_minute: u32,
    pub per_day: u32,
}

impl SendRates {
    /// `None` when one more message may go at `now_ms`, given the times (oldest first, none
    /// older than a day needed) of those sent before; else the seconds until one may.
    pub fn wait_before_next(&self, sent: &[i64], now_ms: i64) -> Option<u32> {
        [(self.per_minute, MINUTE_MS), (self.per_day, DAY_MS)]
            .into_iter()
            .filter_map(|(limit, window)| {
                let within: Vec<i64> = sent
                    .iter()
                    .copied()
                    .filter(|&at| at > now_ms - window)
                    .collect();
                let limit = limit as usize;
                if limit == 0 {
                    // Sending switched off: never room, asked again after the window.
                    return Some((window / 1000) as u32);
                }
                if within.len() < limit {
                    return None;
                }
                // The window has room again once the send `limit` places from its end leaves it.
                let frees_at = within[within.len() - limit] + window;
                let wait_ms = (frees_at - now_ms).max(1);
                Some(((wait_ms + 999) / 1000) as u32)
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATES: SendRates = SendRates {
        per_minute: 2,
        per_day: 3,
    };

    #[test]
    fn within_the_rates_a_message_may_go() {
        assert_eq!(RATES.wait_before_next(&[], 1_000_000), None);
        assert_eq!(RATES.wait_before_next(&[990_000], 1_000_000), None);
        // A send older than the minute counts for the day only.
        assert_eq!(RATES.wait_before_next(&[900_000, 990_000], 1_000_000), None);
    }

    #[test]
    fn past_a_rate_the_wait_is_until_the_window_has_room() {
        // Two in the last minute: the older leaves the window at 970 s + 60 s.
        assert_eq!(
            RATES.wait_before_next(&[970_000, 990_000], 1_000_000),
            Some(30)
        );
        // Three in the day (the minute has room): the oldest leaves it a day after it went.
        assert_eq!(
            RATES.wait_before_next(&[100_000, 200_000, 930_000], 1_000_000),
            Some(((100_000 + DAY_MS - 1_000_000) / 1000) as u32)
        );
        // Both full: the longer wait.
        let day_full = [940_000, 970_000, 990_000];
        let wait = RATES.wait_before_next(&day_full, 1_000_000).unwrap();
        assert_eq!(wait as i64, (940_000 + DAY_MS - 1_000_000) / 1000);
    }

    #[test]
    fn a_rate_of_zero_lets_nothing_through() {
        let off = SendRates {
            per_minute: 0,
            per_day: 10,
        };
        assert_eq!(off.wait_before_next(&[], 1_000_000), Some(60));
    }
}
