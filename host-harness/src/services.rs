//! What every call of every mailbox shares: the policy, the platform's settings, the database,
//! the TLS configuration, the log redactor and the plugin's clock. Built once per host process.

use std::sync::Arc;

use rustls::ClientConfig;

use crate::clock::PluginClock;
use crate::db::Database;
use crate::policy::Policy;
use crate::redact::Redactor;
use crate::settings::{HostSettings, PlatformSettings};

pub struct Services {
    pub policy: Policy,
    pub platform: PlatformSettings,
    pub db: Database,
    pub tls: Arc<ClientConfig>,
    pub redactor: Redactor,
    pub clock: PluginClock,
}

impl Services {
    pub fn new(settings: &HostSettings, db: Database, tls: Arc<ClientConfig>) -> Self {
        Services {
            policy: settings.effective_policy(),
            platform: settings.platform.clone(),
            db,
            tls,
            redactor: Redactor::new(settings.secrets()),
            clock: PluginClock::default(),
        }
    }
}
