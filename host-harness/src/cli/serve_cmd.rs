//! `serve`: the always-on service in the foreground. Keeps every linked mailbox in sync and
//! serves the API until SIGTERM or Ctrl-C, then lets running syncs reach a checkpoint and stops.

use host_harness::PluginHost;
use host_harness::service::{self, ServiceSettings};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct Args {
    /// Listen here instead of `service.listen` (port 0: any free port, printed on start).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

pub async fn run(host: PluginHost, settings: &toml::Table, args: Args) -> anyhow::Result<()> {
    let mut config = ServiceSettings::from_table(settings)
        .map_err(|e| anyhow::anyhow!("the [service] settings are not valid: {e}"))?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if config.api_token.is_none() {
        warnln!(
            "no API token (service.api_token or MAILSYNC_API_TOKEN): every /api request is refused"
        );
    }
    let shutdown = CancellationToken::new();
    let running = service::start(host, config, shutdown.clone()).await?;
    // The line a supervisor (or a test) waits for.
    sayln!("listening on http://{}", running.address);
    wait_for_signal().await?;
    warnln!("shutting down: running syncs stop at their next checkpoint");
    shutdown.cancel();
    running.stopped().await?;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
