//! The always-on service (`mailsync-host serve`): keeps every linked mailbox in sync on a
//! schedule, raises events for the CRM, and serves the platform's HTTP API. It depends on the
//! host library, never the reverse.

pub(crate) mod api;
pub(crate) mod context;
pub mod events;
pub mod http_errors;
pub mod http_server;
pub(crate) mod leases;
pub(crate) mod metrics;
pub(crate) mod outbox_worker;
pub(crate) mod panel;
pub(crate) mod push;
pub(crate) mod scheduler;
pub mod sessions;
pub(crate) mod settings;
pub(crate) mod stream_slots;
pub(crate) mod sync_pass;
pub mod webhooks;

pub use context::ServiceContext;
pub use settings::ServiceSettings;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use events::Events;
use mailsync_sandbox::plugin_host::PluginHost;
use metrics::Metrics;

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
    let shared = host.services_arc();
    // A host whose earlier service was shut down takes deliveries again.
    shared
        .draining
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let metrics = Arc::new(Metrics::new(shared.clone()));
    let events = Events::new(shared.db.clone(), shared.outbox_written.clone());
    // Webhooks first: a new one's cursor is set before any event of this run is raised.
    let deliveries = tokio_util::task::TaskTracker::new();
    webhooks::start(
        &config.webhooks,
        &events,
        metrics.clone(),
        shared.mailbox_turns.clone(),
        shared.tls.clone(),
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
        .round(&shared.db, &scheduler, &push, &mut last_round)
        .await;
    let heartbeat = tokio::spawn(leases.clone().run(
        shared.db.clone(),
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
    let (outbox, outbox_task) = outbox_worker::OutboxWorker::spawn(
        host.clone(),
        leases.clone(),
        metrics.clone(),
        shutdown.clone(),
    );
    tracing::info!(%address, node = %leases.node, mailboxes = leases.count(), "service started");
    let streams = stream_slots::StreamSlots::new(
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
        sessions: sessions::Sessions::new(shared.db.clone()),
        address,
        leases: leases.clone(),
        streams,
        outbox,
    });
    let app = api::router(context.clone())
        .merge(panel::router())
        .with_state(context.clone());
    let limits = context.config.http.clone();
    let draining = shared.clone();
    let db = shared.db.clone();
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
        let _ = outbox_task.await;
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

#[cfg(test)]
mod tests {
    use super::ServiceSettings;

    #[test]
    fn the_example_settings_files_service_section_is_valid() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../settings.example.toml");
        let settings =
            mailsync_sandbox::settings::HostSettings::load(&path).expect("the example loads");
        let service = ServiceSettings::from_table(&settings.service)
            .expect("the example's [service] section is valid");
        assert_eq!(service.schedule.max_concurrent_pushes, 16);
    }
}
