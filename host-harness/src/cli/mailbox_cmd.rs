//! `link`, `status`, `unlink` and `refresh`: the mailbox panel from a terminal. `link` opens the
//! consent page in a browser and completes on the loopback redirect (RFC 8252).

use std::process::Stdio;
use std::time::Duration;

use host_harness::PluginHost;
use host_harness::bindings::mailbox::LinkRequest;

use super::callback_listener::CallbackListener;
use super::panel_view::{self, Lang};

/// How long `link` waits for the redirect: as long as a link attempt lives.
const CALLBACK_WAIT: Duration = Duration::from_secs(10 * 60);

#[derive(clap::Args)]
pub struct LinkArgs {
    /// `google`, `microsoft`, or a custom provider's id from the settings.
    #[arg(long)]
    provider: String,
    /// The CRM user linking the mailbox.
    #[arg(long, default_value = "developer")]
    user: String,
    /// The account to preselect on the provider's sign-in page.
    #[arg(long)]
    login_hint: Option<String>,
    /// Print the URL only; do not start a browser.
    #[arg(long)]
    no_browser: bool,
}

#[derive(clap::Args)]
pub struct RefreshArgs {
    /// Refresh even when the access token is not yet due.
    #[arg(long)]
    force: bool,
}

pub async fn link(
    host: &PluginHost,
    mailbox_id: &str,
    redirect_uri: Option<&str>,
    args: LinkArgs,
    lang: Lang,
) -> anyhow::Result<()> {
    let redirect_uri = redirect_uri.ok_or_else(|| {
        anyhow::anyhow!(
            "no redirect URI: set platform.redirect_uri in the settings to a loopback address \
             such as http://127.0.0.1:8765/oauth/callback, registered with the provider"
        )
    })?;
    let mut listener = CallbackListener::bind(redirect_uri).await?;
    // A redirect URI with port 0 leaves the port to us: the plugin is told which one we took.
    let mut listening = url::Url::parse(redirect_uri)?;
    let redirect_port = (listening.port() == Some(0)).then_some(listener.port);
    let _ = listening.set_port(Some(listener.port));
    let mailbox = host.mailbox(mailbox_id);
    let user = args.user;
    let request = LinkRequest {
        user: user.clone(),
        provider: args.provider,
        login_hint: args.login_hint,
        redirect_port,
    };
    let started = panel_view::answer(mailbox.link_start(&request).await, lang)?;
    sayln!(
        "Open this page to link the mailbox (until {}):\n\n  {}\n",
        started.expires_at,
        started.authorization_url
    );
    if !args.no_browser {
        open_browser(&started.authorization_url);
    }
    warnln!("Waiting for the provider to send the browser back to {listening} ...");
    let callback = tokio::time::timeout(CALLBACK_WAIT, async {
        // Only the provider's redirect carries a `state`; anything else asking is not it.
        while let Some(callback) = listener.next().await {
            if callback.query.iter().any(|(k, _)| k == "state") {
                return Some(callback);
            }
            let _ = callback
                .reply
                .send("This is not a sign-in redirect; the link is still waiting.".into());
        }
        None
    })
    .await
    .map_err(|_| anyhow::anyhow!("no answer from the browser within 10 minutes"))?
    .ok_or_else(|| anyhow::anyhow!("the callback listener stopped"))?;
    match mailbox.link_complete(&user, &callback.query).await? {
        Ok(status) => {
            let _ = callback
                .reply
                .send("The mailbox is linked. You may close this tab.".into());
            sayln!("Linked.\n");
            say!("{}", panel_view::status(mailbox_id, &status, lang));
            Ok(())
        }
        Err(e) => {
            let _ = callback
                .reply
                .send(panel_view::text(&e.message, lang).to_string());
            Err(panel_view::error(e, lang))
        }
    }
}

/// Starts `$BROWSER` (its first entry, with its own arguments) or the desktop's opener on `url`;
/// if neither starts, the printed URL is the way.
fn open_browser(url: &str) {
    let configured = std::env::var("BROWSER").ok().and_then(|b| {
        let first = b.split(':').next()?.to_string();
        let mut words = first.split_whitespace().map(str::to_string);
        let program = words.next()?;
        Some((program, words.collect::<Vec<_>>()))
    });
    let (program, args) = configured.unwrap_or_else(|| {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        (opener.to_string(), Vec::new())
    });
    let started = std::process::Command::new(&program)
        .args(&args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if started.is_err() {
        warnln!("(could not start a browser with `{program}`; open the page yourself)");
    }
}

pub async fn status(host: &PluginHost, mailbox_id: &str, lang: Lang) -> anyhow::Result<()> {
    let status = panel_view::answer(host.mailbox(mailbox_id).status().await, lang)?;
    say!("{}", panel_view::status(mailbox_id, &status, lang));
    if status.state != host_harness::bindings::mailbox::LinkState::Unlinked {
        let mapping = panel_view::answer(host.mailbox(mailbox_id).mapping().await, lang)?;
        say!("{}", super::folders_cmd::status_lines(&mapping, lang));
    }
    let id = mailbox_id.to_string();
    let last = host
        .shared()
        .db
        .run_blocking(move |db| db.inbox().last_sync_run(&id))
        .await
        .map_err(|e| anyhow::anyhow!("the last sync cannot be read: {e}"))?;
    say!(
        "{}",
        super::sync_cmd::last_sync_lines(last.as_deref(), lang)
    );
    Ok(())
}

pub async fn unlink(host: &PluginHost, mailbox_id: &str, lang: Lang) -> anyhow::Result<()> {
    let unlinked = panel_view::answer(host.mailbox(mailbox_id).unlink().await, lang)?;
    sayln!("Mailbox removed.");
    for warning in &unlinked.warnings {
        sayln!("warning: {}", panel_view::text(warning, lang));
    }
    sayln!();
    say!("{}", panel_view::status(mailbox_id, &unlinked.status, lang));
    Ok(())
}

pub async fn refresh(
    host: &PluginHost,
    mailbox_id: &str,
    args: RefreshArgs,
    lang: Lang,
) -> anyhow::Result<()> {
    let checked = panel_view::answer(
        host.mailbox(mailbox_id).check_access(args.force).await,
        lang,
    )?;
    sayln!(
        "Access token {} (valid until {}){}.",
        if checked.refreshed {
            "refreshed"
        } else {
            "still valid"
        },
        checked.expires_at.as_deref().unwrap_or("unknown"),
        if checked.refresh_token_rotated {
            "; the provider rotated the refresh token and the new one is saved"
        } else {
            ""
        }
    );
    Ok(())
}
