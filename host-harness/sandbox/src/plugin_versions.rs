//! The contract versions the host speaks: `crm:mail-sync@0.2.0` in full, and components built
//! against `@0.1.0`, which run as before (they read; they cannot send), through one linker.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre};

use crate::bindings::act::{Action, ActionError, ActionReceipt, Target};
use crate::bindings::exports::crm::mail_sync::mailbox::{
    AccessChecked, LinkRequest, LinkStarted, MailboxError, MailboxStatus, ManualSettings, Unlinked,
};
use crate::bindings::folders::{FolderMapping, MappingStatus, RemoteFolder};
use crate::bindings::send::{Draft, SendError, SendReceipt};
use crate::bindings::sync::{SyncReport, WatchReport};
use crate::bindings::{MailSyncPlugin, MailSyncPluginPre, RawMessage};
use crate::bindings::{message::MessageRecord, normalizer::Job};
use crate::state::HostState;

/// The bindings of `@0.1.0`. Its imports that did not change are the current ones (one host
/// implementation serves both); `imap-socket` (a new error) and `config` (a new setting)
/// changed, and have adapters (`capabilities/imap_socket_v0_1.rs`, `capabilities/config.rs`).
pub mod v0_1 {
    wasmtime::component::bindgen!({
        world: "mail-sync-plugin",
        path: "../../wit/since_v0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "crm:mail-sync/capability-types": crate::bindings::capability_types,
            "crm:mail-sync/http-client": crate::bindings::http_client,
            "crm:mail-sync/storage": crate::bindings::storage,
            "crm:mail-sync/inbox": crate::bindings::inbox,
            "crm:mail-sync/log": crate::bindings::log,
            "crm:mail-sync/message": crate::bindings::message,
            "crm:mail-sync/normalizer": crate::bindings::normalizer,
            "crm:mail-sync/imap-socket.connection": crate::resources::imap_connection::Connection,
        },
    });
}

/// A version of the contract a component may be built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractVersion {
    V0_1,
    V0_2,
}

impl ContractVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1.0",
            ContractVersion::V0_2 => "0.2.0",
        }
    }

    /// The version whose `sync` interface `component` exports; `None` for a component that is
    /// not a mail-sync plugin of a version this host knows.
    pub fn of(component: &Component, engine: &wasmtime::Engine) -> Option<Self> {
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        let speaks = |v: &str| {
            exports
                .iter()
                .any(|e| e == &format!("crm:mail-sync/sync@{v}"))
        };
        if speaks("0.2.0") {
            Some(ContractVersion::V0_2)
        } else if speaks("0.1.0") {
            Some(ContractVersion::V0_1)
        } else {
            None
        }
    }
}

/// Adds every version's imports to `linker`: each component finds those of its own version.
/// An interface both versions share is the current one's host implementation, added again
/// under its `@0.1.0` name (bindgen's `with` shares its types, not its name in the linker).
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    use crate::bindings::crm::mail_sync as now;
    use wasmtime::component::HasSelf;
    MailSyncPlugin::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    macro_rules! shared {
        ($($module:ident = $name:literal),* $(,)?) => {$(
            let mut instance = linker.instance(concat!("crm:mail-sync/", $name, "@0.1.0"))?;
            now::$module::add_to_linker_instance::<_, HasSelf<_>>(&mut instance, |s| s)?;
        )*};
    }
    shared!(
        capability_types = "capability-types",
        message = "message",
        http_client = "http-client",
        storage = "storage",
        inbox = "inbox",
        log = "log",
        normalizer = "normalizer",
    );
    // The two that changed, through their adapters.
    v0_1::crm::mail_sync::imap_socket::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    v0_1::crm::mail_sync::config::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

/// A component ready to instantiate, in the version it speaks.
#[derive(Clone)]
pub enum PluginPre {
    V0_2(MailSyncPluginPre<HostState>),
    V0_1(v0_1::MailSyncPluginPre<HostState>),
}

impl PluginPre {
    pub fn new(pre: InstancePre<HostState>, version: ContractVersion) -> wasmtime::Result<Self> {
        Ok(match version {
            ContractVersion::V0_2 => PluginPre::V0_2(MailSyncPluginPre::new(pre)?),
            ContractVersion::V0_1 => PluginPre::V0_1(v0_1::MailSyncPluginPre::new(pre)?),
        })
    }

    pub async fn instantiate_async(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<PluginInstance> {
        Ok(match self {
            PluginPre::V0_2(pre) => PluginInstance::V0_2(pre.instantiate_async(store).await?),
            PluginPre::V0_1(pre) => PluginInstance::V0_1(pre.instantiate_async(store).await?),
        })
    }
}

/// One instance of the component: the host calls its exports through these methods, in the
/// current version's types whichever version it speaks.
pub enum PluginInstance {
    V0_2(MailSyncPlugin),
    V0_1(v0_1::MailSyncPlugin),
}

/// A value of one version's type as the same-shaped type of another: the versions' shared
/// interfaces are identical, so their serde forms are too.
pub(crate) fn same_shape<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    let json = serde_json::to_value(value)?;
    Ok(serde_json::from_value(json)?)
}

type Answer<T, E = MailboxError> = wasmtime::Result<Result<T, E>>;

/// Calls one export on either version: `$call` is written once and runs on each version's
/// bindings; a `@0.1.0` answer is brought to the current types.
macro_rules! either {
    ($self:ident, |$p:ident| $call:expr) => {
        match $self {
            PluginInstance::V0_2($p) => $call.await,
            PluginInstance::V0_1($p) => same_shape(&$call.await?),
        }
    };
}

impl PluginInstance {
    pub fn version(&self) -> ContractVersion {
        match self {
            PluginInstance::V0_2(_) => ContractVersion::V0_2,
            PluginInstance::V0_1(_) => ContractVersion::V0_1,
        }
    }

    pub async fn status(&self, s: &mut Store<HostState>) -> Answer<MailboxStatus> {
        either!(self, |p| p.crm_mail_sync_mailbox().call_status(&mut *s))
    }

    pub async fn link_start(
        &self,
        s: &mut Store<HostState>,
        request: &LinkRequest,
    ) -> Answer<LinkStarted> {
        match self {
            PluginInstance::V0_2(p) => p.crm_mail_sync_mailbox().call_link_start(s, request).await,
            PluginInstance::V0_1(p) => {
                let request = same_shape(request)?;
                let started = p.crm_mail_sync_mailbox().call_link_start(s, &request);
                same_shape(&started.await?)
            }
        }
    }

    pub async fn link_complete(
        &self,
        s: &mut Store<HostState>,
        user: &str,
        query: &[(String, String)],
    ) -> Answer<MailboxStatus> {
        either!(self, |p| p
            .crm_mail_sync_mailbox()
            .call_link_complete(&mut *s, user, query))
    }

    pub async fn unlink(&self, s: &mut Store<HostState>) -> Answer<Unlinked> {
        either!(self, |p| p.crm_mail_sync_mailbox().call_unlink(&mut *s))
    }

    pub async fn set_settings(
        &self,
        s: &mut Store<HostState>,
        settings: &ManualSettings,
    ) -> Answer<MailboxStatus> {
        match self {
            PluginInstance::V0_2(p) => {
                p.crm_mail_sync_mailbox()
                    .call_set_settings(s, settings)
                    .await
            }
            PluginInstance::V0_1(p) => {
                let settings = same_shape(settings)?;
                let status = p.crm_mail_sync_mailbox().call_set_settings(s, &settings);
                same_shape(&status.await?)
            }
        }
    }

    pub async fn check_access(
        &self,
        s: &mut Store<HostState>,
        force: bool,
    ) -> Answer<AccessChecked> {
        either!(self, |p| p
            .crm_mail_sync_mailbox()
            .call_check_access(&mut *s, force))
    }

    pub async fn list_remote(&self, s: &mut Store<HostState>) -> Answer<Vec<RemoteFolder>> {
        either!(self, |p| p
            .crm_mail_sync_folders()
            .call_list_remote(&mut *s))
    }

    pub async fn suggest(&self, s: &mut Store<HostState>) -> Answer<FolderMapping> {
        either!(self, |p| p.crm_mail_sync_folders().call_suggest(&mut *s))
    }

    pub async fn get_mapping(&self, s: &mut Store<HostState>) -> Answer<MappingStatus> {
        either!(self, |p| p
            .crm_mail_sync_folders()
            .call_get_mapping(&mut *s))
    }

    pub async fn set_mapping(
        &self,
        s: &mut Store<HostState>,
        mapping: &FolderMapping,
    ) -> Answer<MappingStatus> {
        match self {
            PluginInstance::V0_2(p) => p.crm_mail_sync_folders().call_set_mapping(s, mapping).await,
            PluginInstance::V0_1(p) => {
                let mapping = same_shape(mapping)?;
                let status = p.crm_mail_sync_folders().call_set_mapping(s, &mapping);
                same_shape(&status.await?)
            }
        }
    }

    pub async fn sync_once(&self, s: &mut Store<HostState>) -> Answer<SyncReport> {
        either!(self, |p| p.crm_mail_sync_sync().call_sync_once(&mut *s))
    }

    pub async fn watch(&self, s: &mut Store<HostState>, stop: bool) -> Answer<WatchReport> {
        either!(self, |p| p.crm_mail_sync_sync().call_watch(&mut *s, stop))
    }

    pub async fn normalize(
        &self,
        s: &mut Store<HostState>,
        message: &RawMessage,
        mailbox_address: &str,
    ) -> wasmtime::Result<MessageRecord> {
        match self {
            PluginInstance::V0_2(p) => {
                let normalize = p.crm_mail_sync_normalize();
                normalize.call_normalize(s, message, mailbox_address).await
            }
            PluginInstance::V0_1(p) => {
                let message = same_shape(message)?;
                let normalize = p.crm_mail_sync_normalize();
                normalize.call_normalize(s, &message, mailbox_address).await
            }
        }
    }

    /// `normalize-job`: its job and record are the same types in both versions.
    pub async fn normalize_job(
        &self,
        s: &mut Store<HostState>,
        job: &Job,
    ) -> wasmtime::Result<MessageRecord> {
        match self {
            PluginInstance::V0_2(p) => p.crm_mail_sync_normalize().call_normalize_job(s, job).await,
            PluginInstance::V0_1(p) => p.crm_mail_sync_normalize().call_normalize_job(s, job).await,
        }
    }

    /// `send`, which a `@0.1.0` component does not have (the caller asks `PluginHost::
    /// contract_version` first).
    pub async fn send(
        &self,
        s: &mut Store<HostState>,
        draft: &Draft,
    ) -> Answer<SendReceipt, SendError> {
        match self {
            PluginInstance::V0_2(p) => p.crm_mail_sync_send().call_send(s, draft).await,
            PluginInstance::V0_1(_) => Err(wasmtime::Error::msg(
                "a crm:mail-sync@0.1.0 component has no `send`",
            )),
        }
    }

    /// `act`, which a `@0.1.0` component does not have either.
    pub async fn act(
        &self,
        s: &mut Store<HostState>,
        target: &Target,
        action: Action,
    ) -> Answer<ActionReceipt, ActionError> {
        match self {
            PluginInstance::V0_2(p) => p.crm_mail_sync_act().call_act(s, target, action).await,
            PluginInstance::V0_1(_) => Err(wasmtime::Error::msg(
                "a crm:mail-sync@0.1.0 component has no `act`",
            )),
        }
    }
}
