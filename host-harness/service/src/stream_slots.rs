//! Room for event streams: a node keeps at most so many open in all, and a panel session at most
//! a few (a browser's tabs), so one client cannot hold a node's connections and outbox readers.
//! A slot is given back when its stream ends, however it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct StreamSlots {
    total: Arc<Semaphore>,
    per_session: Mutex<HashMap<String, usize>>,
    per_session_max: usize,
}

/// One open stream's room; dropping it gives the room back.
pub struct StreamSlot {
    _total: OwnedSemaphorePermit,
    session: Option<(Arc<StreamSlots>, String)>,
}

impl StreamSlots {
    pub fn new(max: usize, per_session_max: usize) -> Arc<Self> {
        Arc::new(StreamSlots {
            total: Arc::new(Semaphore::new(max)),
            per_session: Mutex::new(HashMap::new()),
            per_session_max,
        })
    }

    /// Room for one more stream, for the panel session kept under `session` (or the platform's,
    /// with `None`); none when the node or the session has its fill.
    pub fn take(self: &Arc<Self>, session: Option<&str>) -> Option<StreamSlot> {
        let total = self.total.clone().try_acquire_owned().ok()?;
        let session = match session {
            None => None,
            Some(key) => {
                let mut open = self.per_session.lock().unwrap_or_else(|p| p.into_inner());
                let count = open.entry(key.to_string()).or_insert(0);
                if *count >= self.per_session_max {
                    return None;
                }
                *count += 1;
                Some((self.clone(), key.to_string()))
            }
        };
        Some(StreamSlot {
            _total: total,
            session,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some((slots, key)) = &self.session {
            let mut open = slots.per_session.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = open.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    open.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_and_the_node_each_have_their_fill_and_get_room_back() {
        let slots = StreamSlots::new(3, 2);
        let a1 = slots.take(Some("a")).expect("room");
        let _a2 = slots.take(Some("a")).expect("room");
        assert!(slots.take(Some("a")).is_none(), "a session's fill");
        let b1 = slots.take(Some("b")).expect("another session has room");
        assert!(slots.take(None).is_none(), "the node's fill");
        drop(a1);
        let _a3 = slots.take(Some("a")).expect("room back when a stream ends");
        drop(b1);
        assert!(
            slots.take(None).is_some(),
            "the platform's stream fits again"
        );
    }
}
