//! What one instance may take from the host: linear memory summed over all its memories, table
//! elements summed over all its tables, and how many memories, tables and instances it may make.
//! A refused growth ends the call with a typed error the host can report, not an abort.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::ResourceLimiter;

/// Raised (as a trap) when the guest asks for more linear memory than its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the plugin asked for {desired} bytes of memory; its cap is {limit} bytes")]
pub struct MemoryLimitExceeded {
    pub limit: u64,
    pub desired: u64,
}

/// Raised (as a trap) when the guest asks for more table elements than its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the plugin asked for {desired} table elements; its cap is {limit}")]
pub struct TableLimitExceeded {
    pub limit: u64,
    pub desired: u64,
}

/// Table elements all of an instance's tables may hold together (a compiled Rust component
/// uses a few thousand; each costs the host a pointer or two).
pub const TABLE_ELEMENTS: u64 = 100_000;
/// Linear memories an instance may define: the component's one.
pub const MEMORIES: usize = 1;
/// Tables and core instances: what a component's glue modules need, with room to spare.
pub const TABLES: usize = 8;
pub const INSTANCES: usize = 16;

pub struct MemoryCap {
    limit: u64,
    /// Bytes of linear memory all memories hold now.
    memory_total: u64,
    /// Elements all tables hold now.
    table_total: u64,
    high_water: Option<Arc<AtomicU64>>,
}

impl MemoryCap {
    /// `limit` bounds the sum of the instance's linear memories; `high_water`, when given, keeps
    /// the largest such sum any instance sharing it reached.
    pub fn new(limit: u64, high_water: Option<Arc<AtomicU64>>) -> Self {
        MemoryCap {
            limit,
            memory_total: 0,
            table_total: 0,
            high_water,
        }
    }

    /// The sum after one memory or table goes from `current` to `desired`.
    fn grown(total: u64, current: usize, desired: usize) -> u64 {
        (total.saturating_sub(current as u64)).saturating_add(desired as u64)
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = Self::grown(self.memory_total, current, desired);
        if total > self.limit || maximum.is_some_and(|max| desired > max) {
            return Err(MemoryLimitExceeded {
                limit: self.limit,
                desired: total,
            }
            .into());
        }
        self.memory_total = total;
        if let Some(high_water) = &self.high_water {
            high_water.fetch_max(total, Ordering::Relaxed);
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = Self::grown(self.table_total, current, desired);
        if total > TABLE_ELEMENTS || maximum.is_some_and(|max| desired > max) {
            return Err(TableLimitExceeded {
                limit: TABLE_ELEMENTS,
                desired: total,
            }
            .into());
        }
        self.table_total = total;
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error)
    }

    fn instances(&self) -> usize {
        INSTANCES
    }

    fn tables(&self) -> usize {
        TABLES
    }

    fn memories(&self) -> usize {
        MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Config, Engine, Instance, Module, Store};

    const MIB: u64 = 1024 * 1024;
    const PAGE: u64 = 64 * 1024;

    fn store(limit: u64) -> Store<MemoryCap> {
        let engine = Engine::new(&Config::new()).unwrap();
        let mut store = Store::new(&engine, MemoryCap::new(limit, None));
        store.limiter(|cap| cap);
        store
    }

    fn instantiate(store: &mut Store<MemoryCap>, wat: &str) -> wasmtime::Result<Instance> {
        let module = Module::new(store.engine(), wat::parse_str(wat)?)?;
        Instance::new(&mut *store, &module, &[])
    }

    #[test]
    fn memories_are_capped_together_not_each() {
        // Two memories of 150 MiB each would fit a per-memory cap of 256 MiB; the sum does not.
        let pages = 150 * MIB / PAGE;
        let mut store = store(256 * MIB);
        let grow = instantiate(
            &mut store,
            &format!(
                r#"(module (memory 1)
                    (func (export "grow") (result i32) (memory.grow (i32.const {pages}))))"#
            ),
        )
        .unwrap();
        let grow = grow.get_typed_func::<(), i32>(&mut store, "grow").unwrap();
        assert_eq!(
            grow.call(&mut store, ()).unwrap(),
            1,
            "the first growth fits"
        );
        let err = grow.call(&mut store, ()).unwrap_err();
        let over = err.downcast_ref::<MemoryLimitExceeded>().expect("typed");
        assert_eq!(over.limit, 256 * MIB);
        assert_eq!(over.desired, (1 + 2 * pages) * PAGE);
    }

    #[test]
    fn a_second_memory_is_refused() {
        let mut store = store(256 * MIB);
        let err = instantiate(&mut store, "(module (memory 1) (memory 1))").unwrap_err();
        assert!(format!("{err:#}").contains("memory count"), "{err:#}");
    }

    #[test]
    fn a_huge_table_growth_is_refused_before_the_host_allocates_it() {
        let mut store = store(256 * MIB);
        let instance = instantiate(
            &mut store,
            r#"(module (table 1 funcref)
                (func (export "grow") (param i32) (result i32)
                    (table.grow (ref.null func) (local.get 0))))"#,
        )
        .unwrap();
        let grow = instance
            .get_typed_func::<i32, i32>(&mut store, "grow")
            .unwrap();
        assert_eq!(
            grow.call(&mut store, 1000).unwrap(),
            1,
            "a small growth fits"
        );
        let err = grow.call(&mut store, 100_000_000).unwrap_err();
        let over = err.downcast_ref::<TableLimitExceeded>().expect("typed");
        assert_eq!(over.limit, TABLE_ELEMENTS);
        assert_eq!(over.desired, 1001 + 100_000_000);
        // A table declared over the cap is refused at instantiation.
        let mut store = super::tests::store(256 * MIB);
        assert!(instantiate(&mut store, "(module (table 200000 funcref))").is_err());
    }

    #[test]
    fn too_many_tables_are_refused() {
        let mut store = store(256 * MIB);
        let tables = "(table 1 funcref) ".repeat(TABLES + 1);
        let err = instantiate(&mut store, &format!("(module {tables})")).unwrap_err();
        assert!(format!("{err:#}").contains("table count"), "{err:#}");
    }

    #[test]
    fn the_high_water_mark_is_the_sum() {
        let high = Arc::<AtomicU64>::default();
        let engine = Engine::new(&Config::new()).unwrap();
        let mut store = Store::new(&engine, MemoryCap::new(256 * MIB, Some(high.clone())));
        store.limiter(|cap| cap);
        instantiate(&mut store, "(module (memory 3))").unwrap();
        assert_eq!(high.load(Ordering::Relaxed), 3 * PAGE);
    }
}
