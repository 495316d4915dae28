//! The CLI's arguments and dispatch: global options pick the component, settings and database;
//! each subcommand lives in a file of its own.

#[macro_use]
mod terminal;
mod act_cmd;
mod audit_cmd;
mod callback_listener;
mod folders_cmd;
mod key_cmd;
mod mailbox_cmd;
mod normalize_cmd;
mod panel_view;
mod send_cmd;
mod serve_cmd;
mod sync_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use host_harness::db::DatabaseUrl;
use host_harness::{Database, HostSettings, PluginHost};

#[derive(Parser)]
#[command(
    name = "mailsync-host",
    version,
    about = "Run the mail-sync plugin component in its sandboxed host"
)]
struct Cli {
    /// Host settings (TOML): platform settings, policy, TLS trust anchors. Defaults apply without it.
    #[arg(long, global = true, env = "MAILSYNC_SETTINGS")]
    settings: Option<PathBuf>,
    /// The database: a SQLite file (or `sqlite:PATH`), or `postgres://…` for several nodes
    /// [default: the settings' storage.database, else <data dir>/mailsync-host/mailsync.db].
    #[arg(long, global = true, env = "MAILSYNC_DB", hide_env_values = true)]
    db: Option<String>,
    /// The plugin component [default: the one built from plugin/].
    #[arg(long, global = true)]
    component: Option<PathBuf>,
    /// Where compiled components are cached [default: <cache dir>/mailsync-host].
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
    /// The mailbox the panel commands act on.
    #[arg(long, global = true, default_value = "default")]
    mailbox: String,
    /// The language of messages for the user.
    #[arg(long, global = true, value_enum, default_value = "en")]
    lang: panel_view::Lang,
    /// Log level for the host and the plugin (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Normalise raw RFC 5322 messages (files, or directories of them) into CRM records.
    Normalize(normalize_cmd::Args),
    /// Link the mailbox through a provider: consent in the browser, completed on the loopback
    /// redirect.
    Link(mailbox_cmd::LinkArgs),
    /// Show the mailbox panel: state, settings, providers, whether linking is available.
    Status,
    /// Remove the mailbox: revoke where the provider can, clear tokens, settings and state.
    Unlink,
    /// Make sure the linked mailbox has a valid access token.
    Refresh(mailbox_cmd::RefreshArgs),
    /// "Edit folders": list the mailbox's folders with their special-use attributes.
    Folders,
    /// The folder mapping the special-use attributes suggest.
    Suggest,
    /// Map CRM folders to the mailbox's: `map inbox=INBOX archive=Archive`, `map --clear deleted`.
    Map(folders_cmd::MapArgs),
    /// Sync every mapped folder once, with a progress bar per folder.
    Sync,
    /// The CRM's messages: a list, one in full (`--show ID`), or JSON.
    Messages(sync_cmd::MessagesArgs),
    /// Send a message as the linked mailbox, through its outbox (exactly once per key).
    Send(send_cmd::SendArgs),
    /// Act on a CRM message in the mailbox: --seen, --unseen, --flag, --unflag or --move-to.
    Act(act_cmd::ActArgs),
    /// List every import and export of the component and what the policy grants each.
    Audit,
    /// Seal every stored secret again under a new key, and keep the new key.
    RotateKey(key_cmd::RotateArgs),
    /// Run the always-on service: scheduled sync of every linked mailbox, and the HTTP API.
    Serve(serve_cmd::Args),
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            warnln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let settings = load_settings(&cli)?;
    if let Command::RotateKey(args) = &cli.command {
        return key_cmd::rotate(&database_url(&cli, &settings)?, &settings, args);
    }
    let host = load_host(&cli, &settings)?;
    let (mailbox, lang) = (cli.mailbox.as_str(), cli.lang);
    let redirect_uri = settings.platform.redirect_uri.as_deref();
    match cli.command {
        Command::Normalize(args) => runtime.block_on(normalize_cmd::run(&host, args)),
        Command::Link(args) => {
            runtime.block_on(mailbox_cmd::link(&host, mailbox, redirect_uri, args, lang))
        }
        Command::Status => runtime.block_on(mailbox_cmd::status(&host, mailbox, lang)),
        Command::Unlink => runtime.block_on(mailbox_cmd::unlink(&host, mailbox, lang)),
        Command::Refresh(args) => {
            runtime.block_on(mailbox_cmd::refresh(&host, mailbox, args, lang))
        }
        Command::Folders => runtime.block_on(folders_cmd::folders(&host, mailbox, lang)),
        Command::Suggest => runtime.block_on(folders_cmd::suggest(&host, mailbox, lang)),
        Command::Map(args) => runtime.block_on(folders_cmd::map(&host, mailbox, args, lang)),
        Command::Sync => runtime.block_on(sync_cmd::sync(&host, mailbox, lang)),
        Command::Messages(args) => runtime.block_on(sync_cmd::messages(&host, mailbox, args)),
        Command::Send(args) => runtime.block_on(send_cmd::send(&host, mailbox, args)),
        Command::Act(args) => runtime.block_on(act_cmd::act(&host, mailbox, args)),
        Command::Audit => audit_cmd::run(&host),
        Command::Serve(args) => {
            runtime.block_on(serve_cmd::run(host, &settings.service, args, mailbox, lang))
        }
        Command::RotateKey(_) => unreachable!("handled before the host is loaded"),
    }
}

fn load_settings(cli: &Cli) -> anyhow::Result<HostSettings> {
    Ok(match &cli.settings {
        Some(path) => HostSettings::load(path)?,
        None => HostSettings::default(),
    })
}

/// The database: `--db` (or `MAILSYNC_DB`), else the settings', else a file in the user's data
/// directory. Never in a shared temporary directory, where another user could have put a file
/// first.
fn database_url(cli: &Cli, settings: &HostSettings) -> anyhow::Result<DatabaseUrl> {
    let named = cli.db.clone().or_else(|| {
        settings
            .storage
            .database
            .as_ref()
            .map(|d| d.expose().to_string())
    });
    match (named, dirs::data_dir()) {
        (Some(url), _) => DatabaseUrl::parse(&url).map_err(|e| anyhow::anyhow!("--db: {e}")),
        (None, Some(data)) => Ok(DatabaseUrl::Sqlite(
            data.join("mailsync-host").join("mailsync.db"),
        )),
        (None, None) => anyhow::bail!(
            "no data directory is known for this user: name the database with --db or MAILSYNC_DB"
        ),
    }
}

/// Opens the database with its key (from the environment, the settings' key file, or beside a
/// SQLite file).
fn open_database(url: &DatabaseUrl, settings: &HostSettings) -> anyhow::Result<Database> {
    let env_key = std::env::var(host_harness::at_rest::KEY_ENV).ok();
    let keys = Database::keys_for(
        url,
        env_key.as_deref(),
        settings.storage.key_file.as_deref(),
    )?;
    Database::connect(url, keys).map_err(|e| anyhow::anyhow!("cannot open database {url}: {e}"))
}

fn load_host(cli: &Cli, settings: &HostSettings) -> anyhow::Result<PluginHost> {
    let db = open_database(&database_url(cli, settings)?, settings)?;
    // Without a cache directory of the user's own, components are compiled on every start.
    let cache_dir = cli
        .cache_dir
        .clone()
        .or_else(|| dirs::cache_dir().map(|d| d.join("mailsync-host")));
    let component = cli
        .component
        .clone()
        .unwrap_or_else(|| host_harness::BUNDLED_PLUGIN.into());
    Ok(PluginHost::load(
        &component,
        settings,
        db,
        cache_dir.as_deref(),
    )?)
}
