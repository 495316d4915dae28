//! The `[service]` section of the settings file: where the service listens, its token, the
//! schedule, push, webhooks, the cluster, the public origin and the HTTP limits, checked whole.

use std::net::SocketAddr;

use mailsync_sandbox::settings::SecretText;
use serde::Deserialize;

use crate::scheduler::ScheduleSettings;
use crate::{http_server, leases, webhooks};

/// The `[service]` section of the settings file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettings {
    /// Where the API listens; loopback unless an administrator chooses otherwise.
    pub listen: SocketAddr,
    /// The platform's bearer token for `/api` [default: `MAILSYNC_API_TOKEN`]; without one, no
    /// bearer gets through (only a panel session from `serve --panel-login` can call `/api`).
    pub api_token: Option<SecretText>,
    pub schedule: ScheduleSettings,
    /// Push through IMAP IDLE for each mapped inbox folder; off, the schedule alone syncs.
    pub push: bool,
    /// Where every event is POSTed, signed (`[[service.webhooks]]`: `url`, `secret`).
    pub webhooks: Vec<webhooks::WebhookSettings>,
    /// Leases among the nodes that share a database (`[service.cluster]`).
    pub cluster: leases::ClusterSettings,
    /// The origin browsers reach the panel at, when a TLS reverse proxy serves it
    /// (`https://mail.crm.example`): its session cookie is then `__Host-` and `Secure`, and a
    /// sign-in must come from that origin. Unset, the panel is served as it listens.
    pub public_url: Option<url::Url>,
    /// What one client may take of the node (`[service.http]`).
    pub http: http_server::HttpLimits,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8025)),
            api_token: None,
            schedule: ScheduleSettings::default(),
            push: true,
            webhooks: Vec::new(),
            cluster: leases::ClusterSettings::default(),
            public_url: None,
            http: http_server::HttpLimits::default(),
        }
    }
}

impl ServiceSettings {
    /// The section as the settings file gives it (an empty table for none).
    pub fn from_table(table: &toml::Table) -> Result<Self, String> {
        let mut settings: ServiceSettings = toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        if settings.cluster.node.is_none() {
            settings.cluster.node = std::env::var("MAILSYNC_NODE").ok();
        }
        if settings.api_token.is_none() {
            settings.api_token = std::env::var("MAILSYNC_API_TOKEN")
                .ok()
                .map(SecretText::from);
        }
        settings.http.check()?;
        if let Some(url) = &settings.public_url
            && (!matches!(url.scheme(), "http" | "https")
                || url.host().is_none()
                || url.path() != "/"
                || url.query().is_some())
        {
            return Err(format!(
                "service.public_url must be an origin such as https://mail.crm.example, not {url}"
            ));
        }
        if settings
            .api_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return Err("service.api_token must be at least 16 characters".into());
        }
        Ok(settings)
    }
}
