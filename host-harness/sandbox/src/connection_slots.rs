//! How many IMAP connections each mailbox holds open across every call at once, capped per
//! account (Gmail allows 15 in all, and the user's own mail apps share them), and how many are
//! open in the whole process (a metric). A slot is freed when its connection is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct ConnectionSlots {
    per_mailbox: Mutex<HashMap<String, u32>>,
    open: AtomicI64,
}

/// One open connection's place; dropping it frees the place.
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    mailbox: String,
}

impl ConnectionSlots {
    /// A place for one more connection of `mailbox`, unless it already holds `cap`.
    pub fn take(self: &Arc<Self>, mailbox: &str, cap: u32) -> Option<Slot> {
        let mut held = self.per_mailbox.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(mailbox.to_string()).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            slots: self.clone(),
            mailbox: mailbox.to_string(),
        })
    }

    /// Connections open now, in the whole process.
    pub fn open(&self) -> i64 {
        self.open.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self
            .slots
            .per_mailbox
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.mailbox) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.mailbox);
            }
        }
        self.slots.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_holds_at_most_its_cap_and_a_dropped_slot_frees_a_place() {
        let slots = Arc::new(ConnectionSlots::default());
        let a1 = slots.take("a", 2).expect("first");
        let _a2 = slots.take("a", 2).expect("second");
        assert!(slots.take("a", 2).is_none(), "a third is refused");
        let _b = slots
            .take("b", 2)
            .expect("another mailbox has its own places");
        assert_eq!(slots.open(), 3);
        drop(a1);
        assert!(slots.take("a", 2).is_some());
        assert_eq!(
            slots.open(),
            2,
            "the slot taken in the assert is dropped again"
        );
    }
}
