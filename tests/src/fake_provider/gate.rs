//! A gate at the token endpoint: requests that reach it wait until the test opens it, so a test
//! can hold one exchange in flight while it sends another.

use std::sync::Arc;

use tokio::sync::{Semaphore, watch};

#[derive(Clone)]
pub struct TokenGate {
    arrived: Arc<watch::Sender<usize>>,
    open: Arc<Semaphore>,
}

impl TokenGate {
    pub(super) fn closed() -> Self {
        TokenGate {
            arrived: Arc::new(watch::channel(0).0),
            open: Arc::new(Semaphore::new(0)),
        }
    }

    /// Counts a request, then waits until the gate is open.
    pub(super) async fn pass(&self) {
        self.arrived.send_modify(|n| *n += 1);
        if let Ok(permit) = self.open.acquire().await {
            permit.forget();
            self.open.add_permits(1);
        }
    }

    /// Waits until `n` requests have reached the gate.
    pub async fn reached(&self, n: usize) {
        let mut seen = self.arrived.subscribe();
        seen.wait_for(|arrived| *arrived >= n)
            .await
            .expect("the gate lives as long as its provider");
    }

    /// How many requests reached the gate.
    pub fn requests(&self) -> usize {
        *self.arrived.borrow()
    }

    /// Lets every waiting and later request through.
    pub fn open(&self) {
        self.open.add_permits(1);
    }
}
