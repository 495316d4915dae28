//! What the API's handlers, the panel and the sync passes share: the host, the settings, the
//! scheduler, push, metrics, events, the panel's sessions, the leases, the event streams and the
//! outbox worker.

use std::net::SocketAddr;
use std::sync::Arc;

use mailsync_sandbox::plugin_host::PluginHost;
use tokio_util::sync::CancellationToken;

use crate::events::Events;
use crate::metrics::Metrics;
use crate::outbox_worker::OutboxWorker;
use crate::scheduler::SchedulerHandle;
use crate::settings::ServiceSettings;
use crate::stream_slots::StreamSlots;
use crate::{leases, push, sessions};

/// What the API's handlers and the sync passes share.
pub struct ServiceContext {
    pub host: PluginHost,
    pub config: ServiceSettings,
    pub scheduler: SchedulerHandle,
    pub push: Arc<push::Push>,
    pub metrics: Arc<Metrics>,
    pub events: Events,
    /// Cancelled when the service shuts down: long requests (the event stream) end with it.
    pub shutdown: CancellationToken,
    /// Browsers signed in to the panel.
    pub sessions: sessions::Sessions,
    /// Where the service listens.
    pub address: SocketAddr,
    /// The mailboxes this node keeps in sync.
    pub leases: Arc<leases::Leases>,
    /// Room for event streams.
    pub streams: Arc<StreamSlots>,
    /// Works the outboxes: nudged when a send is queued here.
    pub outbox: Arc<OutboxWorker>,
}

impl ServiceContext {
    /// The port the provider's redirect comes back to, when the settings' redirect URI leaves it
    /// open (`http://127.0.0.1:0/oauth/callback`): this service's own.
    pub fn redirect_port(&self) -> Option<u16> {
        let platform = self.host.shared().platform();
        let uri = url::Url::parse(platform.settings.redirect_uri.as_deref()?).ok()?;
        (uri.port() == Some(0)).then_some(self.address.port())
    }

    /// Whether browsers reach the panel over HTTPS (through a reverse proxy).
    pub fn behind_https(&self) -> bool {
        self.config
            .public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }

    /// The name of the panel's session cookie: `__Host-` behind HTTPS.
    pub fn session_cookie(&self) -> &'static str {
        if self.behind_https() {
            sessions::SECURE_COOKIE
        } else {
            sessions::COOKIE
        }
    }

    /// The browser's panel session, if its cookie names a live one.
    pub async fn session_of(&self, headers: &axum::http::HeaderMap) -> Option<sessions::Session> {
        let id = sessions::session_id(headers, self.session_cookie())?;
        self.sessions.get(&id).await
    }
}
