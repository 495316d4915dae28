//! How a call into the plugin can end other than with its answer. A trap, a refusal or a limit
//! ends that one call with one of these; the host and its other mailboxes go on.

use crate::limits::{MemoryLimitExceeded, TableLimitExceeded};

/// The host's record of a mailbox's provider could not be read, so the call that needed it
/// is stopped (as [`CallError::Host`]).
#[derive(Debug, thiserror::Error)]
#[error("reading the mailbox's provider: {message}")]
pub struct ProviderUnreadable {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the plugin ran past its time budget of {budget_ms} ms and was stopped")]
    TimeBudgetExceeded { budget_ms: u64 },
    #[error(
        "the plugin asked for {desired} bytes of memory, over its cap of {limit} bytes, and was stopped"
    )]
    MemoryLimitExceeded { limit: u64, desired: u64 },
    #[error(
        "the plugin asked for {desired} table elements, over its cap of {limit}, and was stopped"
    )]
    TableLimitExceeded { limit: u64, desired: u64 },
    #[error(
        "the plugin passed the host more than {limit} bytes in one call, and was stopped before they were copied"
    )]
    HostcallTooLarge { limit: u64 },
    #[error("the plugin trapped: {message}")]
    Trap { message: String },
    #[error("the plugin could not be instantiated: {message}")]
    Instantiate { message: String },
    #[error("the host's database failed: {message}")]
    Host { message: String },
    #[error("{waiting} calls already wait for this mailbox; try again shortly")]
    TurnBusy { waiting: usize },
    #[error(
        "this mailbox's turn could not be kept (the database did not answer), so the call was stopped before another node could take the turn; try again"
    )]
    TurnLost,
    #[error(
        "the component speaks crm:mail-sync@{version}, which has no `{export}`: load a plugin built against 0.2.0"
    )]
    NotInContract {
        export: &'static str,
        version: &'static str,
    },
}

/// A store call that failed ends the call as the host's failure, with what the store said.
impl From<crate::db::StoreError> for CallError {
    fn from(e: crate::db::StoreError) -> Self {
        CallError::Host {
            message: e.to_string(),
        }
    }
}

impl CallError {
    /// Reads a wasmtime error from a call: the limit it hit, or the trap it was. `budget_ms` and
    /// `hostcall_cap` are the call's time budget and its store's hostcall fuel.
    pub fn from_call(err: wasmtime::Error, budget_ms: u64, hostcall_cap: u64) -> Self {
        if let Some(m) = err.downcast_ref::<MemoryLimitExceeded>() {
            return CallError::MemoryLimitExceeded {
                limit: m.limit,
                desired: m.desired,
            };
        }
        if let Some(t) = err.downcast_ref::<TableLimitExceeded>() {
            return CallError::TableLimitExceeded {
                limit: t.limit,
                desired: t.desired,
            };
        }
        if let Some(unreadable) = err.downcast_ref::<ProviderUnreadable>() {
            return CallError::Host {
                message: unreadable.to_string(),
            };
        }
        if crate::hostcall_fuel::exhausted(&err) {
            return CallError::HostcallTooLarge {
                limit: hostcall_cap,
            };
        }
        if err.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return CallError::TimeBudgetExceeded { budget_ms };
        }
        CallError::Trap {
            message: format!("{err:#}"),
        }
    }
}

/// A host that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read the plugin component {path}: {source}")]
    ReadComponent {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot compile or link the plugin component: {0:#}")]
    Component(wasmtime::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
    #[error("the policy cannot be enforced: {0}")]
    Policy(#[from] crate::policy::PolicyError),
    #[error("cannot open the database: {0}")]
    Database(#[from] crate::db::StoreError),
}
