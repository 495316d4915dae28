//! Where connections wait while their mailbox's plugin is not running: one per mailbox, put
//! here by the plugin (IMAP IDLE) and taken by whoever watches it or by the plugin's next call.
//! Typed by the capability that parks (`capabilities::imap_parking`); this holds them only.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;

/// One parked thing per mailbox.
#[derive(Default)]
pub struct Parking(Mutex<HashMap<String, Box<dyn Any + Send>>>);

impl Parking {
    /// Parks `item` for `mailbox`; what was parked before for it is returned (to be dropped).
    pub fn put(&self, mailbox: &str, item: Box<dyn Any + Send>) -> Option<Box<dyn Any + Send>> {
        self.lock().insert(mailbox.to_string(), item)
    }

    pub fn take(&self, mailbox: &str) -> Option<Box<dyn Any + Send>> {
        self.lock().remove(mailbox)
    }

    /// Mailboxes with something parked.
    pub fn mailboxes(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Box<dyn Any + Send>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
