//! The memory cap of one instance: wasmtime's `StoreLimits`, wrapped so that a refused growth
//! ends the call with a typed error the host can report, instead of an abort inside the guest.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Raised (as a trap) when the guest asks for more linear memory than its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the plugin asked for {desired} bytes of memory; its cap is {limit} bytes")]
pub struct MemoryLimitExceeded {
    pub limit: u64,
    pub desired: u64,
}

pub struct MemoryCap {
    inner: StoreLimits,
    limit: u64,
    high_water: Arc<AtomicU64>,
}

impl MemoryCap {
    /// `high_water` keeps the largest linear memory any instance sharing it grew to.
    pub fn new(limit: u64, high_water: Arc<AtomicU64>) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limit).unwrap_or(usize::MAX))
            .instances(64)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        MemoryCap {
            inner,
            limit,
            high_water,
        }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.inner.memory_growing(current, desired, maximum) {
            Ok(true) => {
                self.high_water.fetch_max(desired as u64, Ordering::Relaxed);
                Ok(true)
            }
            _ => Err(MemoryLimitExceeded {
                limit: self.limit,
                desired: desired as u64,
            }
            .into()),
        }
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
