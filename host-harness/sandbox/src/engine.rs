//! The wasmtime engine the host runs every component on: epoch interruption for the per-call
//! time budget, a pool of instance slots, and a cache of compiled components (`.cwasm`).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::limits::{INSTANCES, MEMORIES, TABLES};

/// How often the epoch advances: the granularity of the time budget.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// An engine that makes instances on demand (tools that compile or inspect a component).
pub fn new_engine() -> wasmtime::Result<Engine> {
    Engine::new(&base_config())
}

/// How much of a freed slot's linear memory stays mapped, reset in place to the component's
/// initial contents, so that the next instance in the slot does not fault those pages in again.
pub const KEPT_RESIDENT_PER_SLOT: usize = 1024 * 1024;

/// The host's engine for `instances` alive at once: instances come from a pool of
/// preallocated slots, each with room for the limits of `limits.rs`; its memory images are
/// copy-on-write, so a fresh instance maps the component's data rather than copying it.
///
/// The pool has twice as many slots: a store gives its admission back (`HostState` is dropped)
/// just before wasmtime frees its instance, so for that moment one instance may hold two.
///
/// Where the kernel has the `PAGEMAP_SCAN` ioctl (Linux 6.7), a freed slot keeps the first
/// [`KEPT_RESIDENT_PER_SLOT`] of the pages its instance wrote resident, each reset in place to
/// the image's bytes (or zero); wasmtime scans for the pages written and decommits the rest.
/// Freed slots are then reused before unused ones, so only the slots in use at the busiest
/// moment so far keep pages. Without the ioctl, every written page is decommitted, since
/// resetting a fixed range with `memset` costs more than the faults it saves.
pub fn new_pooled_engine(instances: u32) -> wasmtime::Result<Engine> {
    let slots = instances.saturating_mul(2);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(INSTANCES as u32))
        .max_core_instances_per_component(INSTANCES as u32)
        .total_memories(slots.saturating_mul(MEMORIES as u32))
        .max_memories_per_module(MEMORIES as u32)
        .total_tables(slots.saturating_mul(TABLES as u32))
        .max_tables_per_module(TABLES as u32)
        .total_stacks(slots);
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEPT_RESIDENT_PER_SLOT)
            .max_unused_warm_slots(0);
    }
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// Advances the engine's epoch every `EPOCH_TICK` until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch ticker thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Whether a component came from the cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    Cache,
    Compiled,
}

/// Loads a component, from `cache_dir` when it holds this exact component compiled by this
/// exact engine, else compiling it and storing the result there.
///
/// A `.cwasm` file is native code the host runs: the cache is used only when its directory is
/// the host user's own and nobody else may write in it (it is made so when missing), and a
/// cached file only when it is the host user's own and nobody else may write it. Otherwise the
/// component is compiled, and nothing is cached.
pub fn load_component(
    engine: &Engine,
    wasm: &[u8],
    cache_dir: Option<&Path>,
) -> wasmtime::Result<(Component, LoadedFrom)> {
    let Some(dir) = cache_dir.filter(|dir| usable_cache_dir(dir)) else {
        return Ok((Component::new(engine, wasm)?, LoadedFrom::Compiled));
    };
    let path = cache_path(engine, wasm, dir);
    let trusted = || match crate::file_modes::check_private_file(&path) {
        Ok(()) => true,
        Err(why) => {
            tracing::warn!(path = %path.display(), "not using the cached component: {why}");
            false
        }
    };
    if path.exists() && trusted() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (it is in the file name), into the host's own cache directory.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok((component, LoadedFrom::Cache)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable cached component: {e}")
            }
        }
    }
    let component = Component::new(engine, wasm)?;
    if let Err(e) = store_atomically(&path, &component.serialize()?) {
        tracing::warn!(path = %path.display(), "cannot cache the compiled component: {e}");
    }
    Ok((component, LoadedFrom::Compiled))
}

/// Makes the cache directory (mode 0700) when missing; refuses one that is not private.
fn usable_cache_dir(dir: &Path) -> bool {
    if let Err(e) = crate::file_modes::create_private_dir(dir) {
        tracing::warn!(dir = %dir.display(), "no component cache: {e}");
        return false;
    }
    match crate::file_modes::check_private_dir(dir) {
        Ok(()) => true,
        Err(why) => {
            tracing::warn!(dir = %dir.display(), "refusing the component cache: {why}");
            false
        }
    }
}

fn cache_path(engine: &Engine, wasm: &[u8], dir: &Path) -> PathBuf {
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let content: String = Sha256::digest(wasm)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(format!("{content}-{:016x}.cwasm", engine_hash.finish()))
}

fn store_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = crate::file_modes::create_private_file(&tmp)?;
    file.write_all(bytes)?;
    std::fs::rename(&tmp, path)
}
