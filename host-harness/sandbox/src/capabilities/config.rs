//! `config`: the platform administrator's settings, read-only to the plugin, with each
//! provider's endpoints resolved (the real ones unless overridden).

use crate::bindings::config::{
    self, ClientCredentials, Endpoint, Limits, PlatformSettings, ProviderSettings,
};
use crate::state::HostState;

impl config::Host for HostState {
    /// The settings, with the client secret of the call's own provider only (none before the
    /// mailbox has one): a call cannot read the secret of a provider it was not linked through.
    async fn settings(&mut self) -> wasmtime::Result<PlatformSettings> {
        let own = self.provider().await?;
        let own = own.as_deref();
        let platform = self.shared.platform();
        let p = &platform.settings;
        Ok(PlatformSettings {
            providers: p
                .providers
                .iter()
                .map(|s| ProviderSettings {
                    id: s.id.clone(),
                    display_name: s.display_name(),
                    enabled: s.enabled,
                    credentials: s.client_id.as_ref().map(|id| ClientCredentials {
                        client_id: id.clone(),
                        client_secret: s
                            .client_secret
                            .as_ref()
                            .filter(|_| own == Some(s.id.as_str()))
                            .map(|secret| secret.expose().to_string()),
                    }),
                    tenant: s.tenant.clone(),
                    endpoints: s
                        .resolved_endpoints()
                        .into_iter()
                        .map(|(name, value)| Endpoint { name, value })
                        .collect(),
                    scopes: s.scopes.clone(),
                    authorize_params: s
                        .authorize_params
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    sent_copy: match s.sent_copy {
                        crate::providers::SentCopy::Auto => config::SentCopy::Auto,
                        crate::providers::SentCopy::Append => config::SentCopy::Append,
                        crate::providers::SentCopy::None => config::SentCopy::None,
                    },
                })
                .collect(),
            feature_flags: p.feature_flags.clone(),
            redirect_uri: p.redirect_uri.clone(),
            limits: Limits {
                max_message_bytes: p.limits.max_message_bytes,
                max_delivery_batch: p.limits.max_delivery_batch,
                max_body_bytes: p.limits.max_body_bytes,
                backfill_days: p.limits.backfill_days,
            },
        })
    }
}

/// `config` as a `@0.1.0` component imports it: the same settings, without what 0.2.0 added
/// (`sent-copy`), which its types do not hold.
impl crate::plugin_versions::v0_1::crm::mail_sync::config::Host for HostState {
    async fn settings(
        &mut self,
    ) -> wasmtime::Result<crate::plugin_versions::v0_1::crm::mail_sync::config::PlatformSettings>
    {
        let current = config::Host::settings(self).await?;
        crate::plugin_versions::same_shape(&current)
    }
}
