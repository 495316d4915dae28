//! The wall clock the plugin reads through WASI: the system's, moved by an offset that a test or a
//! simulation may set to reach an expiry without waiting for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime_wasi::HostWallClock;

/// Shared by every call of one host; cloning shares the offset.
#[derive(Clone, Default)]
pub struct PluginClock {
    offset_secs: Arc<AtomicI64>,
}

impl PluginClock {
    /// Moves the plugin's clock forward by `by` (cumulative).
    pub fn advance(&self, by: Duration) {
        self.offset_secs
            .fetch_add(by.as_secs() as i64, Ordering::SeqCst);
    }
}

impl HostWallClock for PluginClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let offset = self.offset_secs.load(Ordering::SeqCst);
        if offset >= 0 {
            system + Duration::from_secs(offset as u64)
        } else {
            system.saturating_sub(Duration::from_secs(offset.unsigned_abs()))
        }
    }
}
