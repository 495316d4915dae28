//! Faults a resilience test arms: a crash after deliveries or before the outbox's record, a trap
//! after a storage write or while normalising, a panic in the host, failing provider reads. With the `test-hooks` feature only:
//! without it nothing can be armed, and every check passes.

/// The faults armed now; disarmed unless a test arms them.
#[derive(Default)]
pub struct Faults {
    #[cfg(feature = "test-hooks")]
    armed: armed::Armed,
}

impl Faults {
    /// Checked after each storage write: a trap when a test armed one for these keys.
    pub(crate) fn after_storage_write<'k>(
        &self,
        keys: impl Iterator<Item = &'k str>,
    ) -> wasmtime::Result<()> {
        #[cfg(feature = "test-hooks")]
        return self.armed.after_storage_write(keys);
        #[cfg(not(feature = "test-hooks"))]
        {
            drop(keys);
            Ok(())
        }
    }

    /// Checked before each job a worker takes: a trap, or a panic of the host's task, when a
    /// test armed one for a message holding its marker.
    pub(crate) fn before_normalizing(&self, bytes: &[u8]) -> wasmtime::Result<()> {
        #[cfg(feature = "test-hooks")]
        return self.armed.before_normalizing(bytes);
        #[cfg(not(feature = "test-hooks"))]
        {
            let _ = bytes;
            Ok(())
        }
    }

    /// Checked after each acknowledged delivery: a crash when a test armed one.
    pub(crate) fn after_delivery(&self) -> wasmtime::Result<()> {
        #[cfg(feature = "test-hooks")]
        return self.armed.after_delivery();
        #[cfg(not(feature = "test-hooks"))]
        Ok(())
    }

    /// Checked after a send's answer, before the outbox records how it ended: a crash when a
    /// test armed one, so the entry stays `sending` as a node that died there leaves it.
    pub(crate) fn before_outbox_record(&self) -> Result<(), &'static str> {
        #[cfg(feature = "test-hooks")]
        return self.armed.before_outbox_record();
        #[cfg(not(feature = "test-hooks"))]
        Ok(())
    }

    /// Checked before a mailbox's recorded provider is read: a failure when a test armed it.
    pub(crate) fn before_provider_read(&self) -> crate::db::StoreResult<()> {
        #[cfg(feature = "test-hooks")]
        return self.armed.before_provider_read();
        #[cfg(not(feature = "test-hooks"))]
        Ok(())
    }
}

#[cfg(feature = "test-hooks")]
impl Faults {
    /// What a test arms.
    pub fn arm(&self) -> &armed::Armed {
        &self.armed
    }
}

#[cfg(feature = "test-hooks")]
pub mod armed {
    //! What a test may arm, and the checks that fire it.

    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

    #[derive(Default)]
    pub struct Armed {
        crash_after_deliveries: AtomicU32,
        trap_after_writing: Mutex<Option<String>>,
        normalizing: Mutex<Option<(String, NormalizingFault)>>,
        provider_reads_fail: AtomicBool,
        crash_before_outbox_record: AtomicBool,
    }

    /// What an armed marker does to the worker that takes a message holding it.
    #[derive(Clone, Copy)]
    enum NormalizingFault {
        /// The instance traps, as if the message had killed it.
        Trap,
        /// The host's task panics, as a bug of the host would.
        Panic,
    }

    impl Armed {
        /// Arms a crash after `deliveries` more acknowledged deliveries (0 disarms): the call
        /// traps as if the host had died between the inbox's commit and the plugin's checkpoint.
        pub fn crash_after_deliveries(&self, deliveries: u32) {
            self.crash_after_deliveries.store(deliveries, SeqCst);
        }

        /// Arms a trap right after the next storage write of a key starting with `prefix`, as
        /// if the instance died in what the plugin does next (normalising a suspect message).
        pub fn trap_after_writing(&self, prefix: &str) {
            *self
                .trap_after_writing
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(prefix.to_string());
        }

        /// Arms a trap in the worker instance that normalises the next message handed on
        /// holding `marker`, as if that message had killed it.
        pub fn trap_normalizing(&self, marker: &str) {
            *self.normalizing() = Some((marker.to_string(), NormalizingFault::Trap));
        }

        /// Arms a panic in the host's worker task that takes the next message handed on holding
        /// `marker`, as a bug of the host would (not the message's doing).
        pub fn panic_normalizing(&self, marker: &str) {
            *self.normalizing() = Some((marker.to_string(), NormalizingFault::Panic));
        }

        /// Whether the panic `panic_normalizing` armed is still to come.
        pub fn panic_normalizing_armed(&self) -> bool {
            matches!(*self.normalizing(), Some((_, NormalizingFault::Panic)))
        }

        /// Makes every read of a mailbox's recorded provider fail, as if the database were down.
        pub fn fail_provider_reads(&self, fail: bool) {
            self.provider_reads_fail.store(fail, SeqCst);
        }

        /// Arms a crash after the next send's answer, before the outbox records it: the entry
        /// stays `sending`, as a node that died right after the server accepted leaves it.
        pub fn crash_before_outbox_record(&self) {
            self.crash_before_outbox_record.store(true, SeqCst);
        }

        pub(super) fn before_outbox_record(&self) -> Result<(), &'static str> {
            if self.crash_before_outbox_record.swap(false, SeqCst) {
                return Err("injected crash before the outbox's record");
            }
            Ok(())
        }

        fn normalizing(&self) -> std::sync::MutexGuard<'_, Option<(String, NormalizingFault)>> {
            self.normalizing.lock().unwrap_or_else(|p| p.into_inner())
        }

        pub(super) fn after_storage_write<'k>(
            &self,
            mut keys: impl Iterator<Item = &'k str>,
        ) -> wasmtime::Result<()> {
            let mut armed = self
                .trap_after_writing
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(prefix) = armed.as_deref()
                && keys.any(|k| k.starts_with(prefix))
            {
                *armed = None;
                return Err(wasmtime::Error::msg("injected trap after a storage write"));
            }
            Ok(())
        }

        /// One uncontended lock per job; disarms what fires.
        pub(super) fn before_normalizing(&self, bytes: &[u8]) -> wasmtime::Result<()> {
            let fired = {
                let mut armed = self.normalizing();
                let hit = armed.as_ref().is_some_and(|(marker, _)| {
                    bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
                });
                if hit {
                    armed.take().map(|(_, fault)| fault)
                } else {
                    None
                }
            };
            match fired {
                Some(NormalizingFault::Panic) => panic!("injected panic in a normalising worker"),
                Some(NormalizingFault::Trap) => {
                    Err(wasmtime::Error::msg("injected trap while normalising"))
                }
                None => Ok(()),
            }
        }

        pub(super) fn after_delivery(&self) -> wasmtime::Result<()> {
            let armed = self
                .crash_after_deliveries
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
            if armed == Ok(1) {
                return Err(wasmtime::Error::msg("injected crash after a delivery"));
            }
            Ok(())
        }

        pub(super) fn before_provider_read(&self) -> crate::db::StoreResult<()> {
            if self.provider_reads_fail.load(SeqCst) {
                return Err(crate::db::StoreError::Interrupted(
                    "injected failure reading a mailbox's provider".into(),
                ));
            }
            Ok(())
        }
    }
}
