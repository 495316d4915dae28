//! What a sync reports as it goes (folder, counts, bytes), and who may watch it: the CLI's
//! progress bar, the service's metrics. Shared vocabulary below the capabilities and `shared.rs`.

use std::sync::Arc;

/// What a delivery says about a folder's progress, for whoever watches the sync.
#[derive(Debug, Clone)]
pub struct SyncProgress {
    pub mailbox: String,
    pub remote_folder: String,
    pub crm_folder: &'static str,
    pub done: u32,
    pub total: u32,
    pub bytes: u64,
}

/// Who watches sync's progress (the CLI's progress bar); nobody by default.
#[derive(Default)]
pub struct ProgressObserver(std::sync::RwLock<Option<ObserverFn>>);

type ObserverFn = Arc<dyn Fn(&SyncProgress) + Send + Sync>;

impl ProgressObserver {
    pub fn set(&self, observer: Option<ObserverFn>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = observer;
    }

    pub fn notify(&self, progress: &SyncProgress) {
        let observer = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(observer) = observer {
            observer(progress);
        }
    }
}
