//! The CLI's arguments and dispatch: global options pick the component, settings and database;
//! each subcommand lives in a file of its own.

mod audit_cmd;
mod normalize_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// SQLite database for storage and the inbox [default: <data dir>/mailsync-host/mailsync.db].
    #[arg(long, global = true, env = "MAILSYNC_DB")]
    db: Option<PathBuf>,
    /// The plugin component [default: the one built from plugin/].
    #[arg(long, global = true)]
    component: Option<PathBuf>,
    /// Where compiled components are cached [default: <cache dir>/mailsync-host].
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
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
    /// List every import and export of the component and what the policy grants each.
    Audit,
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let host = load_host(&cli)?;
    match cli.command {
        Command::Normalize(args) => runtime.block_on(normalize_cmd::run(&host, args)),
        Command::Audit => audit_cmd::run(&host),
    }
}

fn load_host(cli: &Cli) -> anyhow::Result<PluginHost> {
    let settings = match &cli.settings {
        Some(path) => HostSettings::load(path)?,
        None => HostSettings::default(),
    };
    let db_path = cli
        .db
        .clone()
        .unwrap_or_else(|| project_dir(dirs::data_dir()).join("mailsync.db"));
    let db = Database::open(&db_path)
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", db_path.display()))?;
    let cache_dir = cli
        .cache_dir
        .clone()
        .unwrap_or_else(|| project_dir(dirs::cache_dir()));
    let component = cli
        .component
        .clone()
        .unwrap_or_else(|| host_harness::BUNDLED_PLUGIN.into());
    Ok(PluginHost::load(
        &component,
        &settings,
        db,
        Some(&cache_dir),
    )?)
}

fn project_dir(base: Option<PathBuf>) -> PathBuf {
    base.unwrap_or_else(std::env::temp_dir)
        .join("mailsync-host")
}
