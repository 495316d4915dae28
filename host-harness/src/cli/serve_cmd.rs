//! `serve`: the always-on service in the foreground. Keeps every linked mailbox in sync and
//! serves the API until SIGTERM or Ctrl-C, then lets running syncs reach a checkpoint and stops.

use host_harness::PluginHost;
use host_harness::service::http_errors::Lang as ApiLang;
use host_harness::service::sessions::PanelUser;
use host_harness::service::{self, ServiceSettings};

use super::panel_view::Lang;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct Args {
    /// Listen here instead of `service.listen` (port 0: any free port, printed on start).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Print a one-time sign-in link to the panel (valid for an hour) for this CRM user, who
    /// manages `--mailbox` and administers the settings: a developer's own harness.
    #[arg(long, value_name = "USER")]
    panel_login: Option<String>,
}

pub async fn run(
    host: PluginHost,
    settings: &toml::Table,
    args: Args,
    mailbox: &str,
    lang: Lang,
) -> anyhow::Result<()> {
    let mut config = ServiceSettings::from_table(settings)
        .map_err(|e| anyhow::anyhow!("the [service] settings are not valid: {e}"))?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if config.api_token.is_none() {
        warnln!(
            "no API token (service.api_token or MAILSYNC_API_TOKEN): the platform cannot call /api (only a --panel-login session can)"
        );
    }
    let shutdown = CancellationToken::new();
    let running = service::start(host, config, shutdown.clone()).await?;
    // The line a supervisor (or a test) waits for.
    sayln!("listening on http://{}", running.address);
    if let Some(user) = args.panel_login {
        let who = PanelUser {
            user,
            mailbox: mailbox.to_string(),
            admin: true,
        };
        let lang = match lang {
            Lang::En => ApiLang::En,
            Lang::Nl => ApiLang::Nl,
        };
        let ticket = running
            .context
            .sessions
            .issue_ticket_lasting(who, Some(lang), std::time::Duration::from_secs(3600))
            .await
            .map_err(|e| anyhow::anyhow!("the panel's sign-in link was not made: {e}"))?;
        sayln!(
            "panel: http://{}/panel/login?ticket={ticket}",
            running.address
        );
    }
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
