//! `storage`: key-value storage scoped to the call's mailbox. The plugin names keys only; the
//! host adds the mailbox, so no plugin call can read or write another mailbox's state.

use crate::bindings::storage::{self, QuotaUse, StorageError, Write};
use crate::capabilities::size_cap;
use crate::db::{Database, KvWrite, KvWriteError, Quota};
use crate::state::HostState;

const MAX_KEY_BYTES: usize = 512;

impl storage::Host for HostState {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, StorageError>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(self
            .blocking(move |db, mailbox| db.kv_get(&mailbox, &key))
            .await)
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), StorageError>> {
        self.batch(vec![Write::Set((key, value))]).await
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), StorageError>> {
        self.batch(vec![Write::Delete(key)]).await
    }

    async fn list_keys(
        &mut self,
        prefix: String,
    ) -> wasmtime::Result<Result<Vec<String>, StorageError>> {
        Ok(self
            .blocking(move |db, mailbox| db.kv_list(&mailbox, &prefix))
            .await)
    }

    async fn batch(&mut self, writes: Vec<Write>) -> wasmtime::Result<Result<(), StorageError>> {
        let cap = self.shared.platform().policy.storage_value_cap_bytes;
        let mut total = 0u64;
        let mut checked = Vec::with_capacity(writes.len());
        for write in writes {
            let (key, value) = match write {
                Write::Set((key, value)) => (key, Some(value)),
                Write::Delete(key) => (key, None),
            };
            if let Err(e) = check_key(&key) {
                return Ok(Err(e));
            }
            total += value.as_ref().map_or(0, |v| v.len() as u64);
            if total > cap {
                return Ok(Err(StorageError::TooLarge(size_cap(cap, total))));
            }
            checked.push(match value {
                Some(v) => KvWrite::Set(key, v),
                None => KvWrite::Delete(key),
            });
        }
        let platform = self.shared.platform();
        let policy = &platform.policy;
        let quota = Quota {
            bytes: policy.storage_quota_bytes,
            keys: policy.storage_quota_keys,
        };
        let db = self.shared.db.clone();
        let mailbox = self.mailbox.id.clone();
        let turn = self.turn.clone();
        let written = tokio::task::spawn_blocking(move || {
            db.kv_write_in_turn(turn.as_ref(), &mailbox, &checked, Some(quota))
                .map(|()| checked)
        })
        .await;
        Ok(match written {
            Ok(Ok(checked)) => {
                let set = checked.iter().filter_map(|w| match w {
                    KvWrite::Set(key, _) => Some(key.as_str()),
                    KvWrite::Delete(_) => None,
                });
                self.shared.faults.after_storage_write(set)?;
                Ok(())
            }
            Ok(Err(KvWriteError::OverQuota(over))) => Err(StorageError::OverQuota(QuotaUse {
                quota_bytes: over.quota.bytes,
                quota_keys: over.quota.keys,
                bytes: over.would_use.bytes,
                keys: over.would_use.keys,
            })),
            Ok(Err(KvWriteError::Store(e))) => Err(StorageError::Unavailable(e.to_string())),
            Err(e) => Err(StorageError::Unavailable(e.to_string())),
        })
    }
}

impl HostState {
    /// Runs a database operation off the async workers, scoped to this call's mailbox.
    fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database, String) -> crate::db::StoreResult<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StorageError>> + Send + 'static {
        let db = self.shared.db.clone();
        let mailbox = self.mailbox.id.clone();
        async move {
            db.run_blocking(move |db| op(db, mailbox))
                .await
                .map_err(|e| StorageError::Unavailable(e.to_string()))
        }
    }
}

fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        Err(StorageError::InvalidKey(format!(
            "keys are 1 to {MAX_KEY_BYTES} bytes; this one is {}",
            key.len()
        )))
    } else {
        Ok(())
    }
}
