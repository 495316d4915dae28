//! Who uses a SQLite file: every handle holds a shared `flock` on the database file for as long
//! as it is open (SQLite's own locks are `fcntl` locks, which `flock` does not touch), and a key
//! rotation makes its handle's lock exclusive, which fails while any other handle has the file.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::{SoleUse, StoreError, StoreResult};

/// How long an open waits for a key rotation to finish.
const WAIT_FOR_ROTATION: Duration = Duration::from_secs(30);

/// A handle's claim on the database file.
pub(super) struct Claim(Arc<File>);

/// `flock` without waiting.
fn flock(file: &File, operation: libc::c_int) -> std::io::Result<()> {
    flock_waiting(file, operation | libc::LOCK_NB)
}

fn flock_waiting(file: &File, operation: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor this `File` owns and keeps open.
    match unsafe { libc::flock(file.as_raw_fd(), operation) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

impl Claim {
    /// A shared claim on `path`, waiting while a rotation holds it alone.
    pub(super) fn shared(path: &Path) -> StoreResult<Self> {
        let file = File::open(path).map_err(|e| StoreError::InUse(e.to_string()))?;
        let started = Instant::now();
        let mut waits = 0u32;
        loop {
            match flock(&file, libc::LOCK_SH) {
                Ok(()) => return Ok(Claim(Arc::new(file))),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if waits == 0 {
                        tracing::info!(path = %path.display(), "another process has the database alone (a key rotation); waiting for it, up to {WAIT_FOR_ROTATION:?}");
                    }
                    waits += 1;
                    if started.elapsed() > WAIT_FOR_ROTATION {
                        return Err(StoreError::InUse(
                            "a key rotation has held it for too long".into(),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(StoreError::InUse(e.to_string())),
            }
        }
    }

    /// This handle's claim made sole, shared again when the guard drops.
    pub(super) fn sole(&self) -> StoreResult<SoleUse> {
        if let Err(e) = flock(&self.0, libc::LOCK_EX) {
            // A refused conversion may have let the shared lock go (flock(2)): take it again,
            // waiting, if need be, for a handle that got in meanwhile.
            let _ = flock_waiting(&self.0, libc::LOCK_SH);
            return Err(match e.kind() {
                std::io::ErrorKind::WouldBlock => StoreError::InUse(
                    "another process (or handle) has it open: stop it first".into(),
                ),
                _ => StoreError::InUse(e.to_string()),
            });
        }
        struct Shared(Arc<File>);
        impl Drop for Shared {
            fn drop(&mut self) {
                let _ = flock(&self.0, libc::LOCK_SH);
            }
        }
        Ok(SoleUse::new(Shared(self.0.clone())))
    }
}
