//! The always-on service (`mailsync-host serve`): keeps every linked mailbox in sync on a
//! schedule, raises events for the CRM, and serves the platform's HTTP API. It depends on the
//! host library, never the reverse.

pub mod api;
pub mod events;
pub mod http_server;
pub mod leases;
pub mod metrics;
pub mod panel;
pub mod push;
pub mod scheduler;
pub mod sync_pass;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::plugin_host::PluginHost;
use crate::settings::SecretText;
use events::Events;
use metrics::Metrics;
use scheduler::{ScheduleSettings, SchedulerHandle};

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
    pub sessions: panel::sessions::Sessions,
    /// Where the service listens.
    pub address: SocketAddr,
    /// The mailboxes this node keeps in sync.
    pub leases: Arc<leases::Leases>,
    /// Room for event streams.
    pub streams: Arc<api::stream_slots::StreamSlots>,
}

impl ServiceContext {
    /// The port the provider's redirect comes back to, when the settings' redirect URI leaves it
    /// open (`http://127.0.0.1:0/oauth/callback`): this service's own.
    pub fn redirect_port(&self) -> Option<u16> {
        let platform = self.host.services().platform();
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
            panel::sessions::SECURE_COOKIE
        } else {
            panel::sessions::COOKIE
        }
    }

    /// The browser's panel session, if its cookie names a live one.
    pub async fn session_of(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Option<panel::sessions::Session> {
        let id = panel::sessions::session_id(headers, self.session_cookie())?;
        self.sessions.get(&id).await
    }
}

/// Takes up an administrator's change made on another node (providers, the "Link mailbox"
/// flag) within a heartbeat.
async fn follow_admin_choices(
    host: PluginHost,
    every: std::time::Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match host.follow_admin_choices().await {
            Ok(true) => tracing::info!("the administrator's choices changed on another node"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "the administrator's choices cannot be read"),
        }
    }
}

/// A running service: where it listens, and how to wait for its end.
pub struct RunningService {
    pub address: SocketAddr,
    pub context: Arc<ServiceContext>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningService {
    /// Waits until the service has stopped (after `shutdown` was cancelled).
    pub async fn stopped(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Starts the service: binds the API, starts watching every mailbox with a provider, and runs
/// until `shutdown` is cancelled. Then it stops taking requests, lets running syncs end, and
/// returns.
pub async fn start(
    host: PluginHost,
    config: ServiceSettings,
    shutdown: CancellationToken,
) -> std::io::Result<RunningService> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    let services = host.services_arc();
    // A host whose earlier service was shut down takes deliveries again.
    services
        .draining
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let metrics = Arc::new(Metrics::new(services.clone()));
    let events = Events::new(services.db.clone(), services.outbox_written.clone());
    // Webhooks first: a new one's cursor is set before any event of this run is raised.
    let deliveries = tokio_util::task::TaskTracker::new();
    webhooks::start(
        &config.webhooks,
        &events,
        metrics.clone(),
        services.mailbox_lease.clone(),
        services.tls.clone(),
        &shutdown,
        &deliveries,
    )
    .await
    .map_err(std::io::Error::other)?;
    deliveries.close();
    let pass = Arc::new(sync_pass::SyncPass {
        host: host.clone(),
        metrics: metrics.clone(),
        events: events.clone(),
    });
    let seed = fastrand::u64(..);
    let (scheduler, scheduler_task) =
        scheduler::spawn(config.schedule.clone(), pass, seed, shutdown.clone());
    let push = push::Push::new(
        host.clone(),
        metrics.clone(),
        config.schedule.clone(),
        config.push,
        shutdown.clone(),
        scheduler.clone(),
    );
    // The first round before the API answers: this node's mailboxes are watched from the start.
    let leases = leases::Leases::new(config.cluster.clone(), metrics.clone());
    let mut last_round = std::time::Instant::now();
    leases
        .round(&services.db, &scheduler, &push, &mut last_round)
        .await;
    let heartbeat = tokio::spawn(leases.clone().run(
        services.db.clone(),
        scheduler.clone(),
        push.clone(),
        shutdown.clone(),
        last_round,
    ));
    tokio::spawn(follow_admin_choices(
        host.clone(),
        config.cluster.heartbeat(),
        shutdown.clone(),
    ));
    tracing::info!(%address, node = %leases.node, mailboxes = leases.count(), "service started");
    let streams = api::stream_slots::StreamSlots::new(
        config.http.max_streams,
        config.http.max_streams_per_session,
    );
    let context = Arc::new(ServiceContext {
        host,
        config,
        scheduler,
        push: push.clone(),
        metrics,
        events,
        shutdown: shutdown.clone(),
        sessions: panel::sessions::Sessions::new(services.db.clone()),
        address,
        leases: leases.clone(),
        streams,
    });
    let app = api::router(context.clone());
    let limits = context.config.http.clone();
    let draining = services.clone();
    let db = services.db.clone();
    let task = tokio::spawn(async move {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            draining
                .draining
                .store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let served = http_server::serve(listener, app, limits, stop).await;
        // Syncs that run end their pass; new ones do not start; idle connections log out.
        let _ = scheduler_task.await;
        push.stopped().await;
        let _ = heartbeat.await;
        // Others take this node's mailboxes over at once, not when the leases expire.
        leases.release_all(&db).await;
        deliveries.wait().await;
        served
    });
    Ok(RunningService {
        address,
        context,
        task,
    })
}
