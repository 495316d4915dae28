//! What one mailbox may keep in the plugin's storage: bytes and keys, counted as writes happen
//! (one row per mailbox), so a batch over the quota is refused before it commits.

/// A mailbox's storage allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub bytes: u64,
    pub keys: u64,
}

/// What a mailbox holds, or would hold after a refused batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub bytes: u64,
    pub keys: u64,
}

/// A batch that would take a mailbox over its quota; nothing of it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the mailbox's storage would hold {} bytes in {} keys; its quota is {} bytes and {} keys",
    .would_use.bytes, .would_use.keys, .quota.bytes, .quota.keys
)]
pub struct OverQuota {
    pub quota: Quota,
    pub would_use: Usage,
}

/// Whether a batch that takes usage from `before` to `after` may commit: within the quota, or
/// not growing (a mailbox over its quota may always delete).
pub(crate) fn allows(quota: Option<Quota>, before: Usage, after: Usage) -> bool {
    let Some(q) = quota else {
        return true;
    };
    let within = after.bytes <= q.bytes && after.keys <= q.keys;
    let shrinking = after.bytes <= before.bytes && after.keys <= before.keys;
    within || shrinking
}
