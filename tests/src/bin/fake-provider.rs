//! The fake Google and Microsoft for `make demo`: `serve` runs both over HTTPS, with a Dovecot
//! that trusts the fake Google's tokens, and writes host settings that point at them; `browse`
//! plays the user's browser, consent answered automatically.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use host_harness::HostSettings;
use host_harness::settings::ProviderSettings;
use tests::dovecot::{Dovecot, STANDARD_FOLDERS};
use tests::fake_provider::{FakeProvider, Flavour};
use tests::tls_server::TestPki;

#[derive(Parser)]
#[command(about = "A fake OAuth2 provider (Google and Microsoft flavours) for the demo")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve both providers and a Dovecot until stopped (SIGTERM or Ctrl-C); write DIR/ca.pem,
    /// DIR/settings.toml, then DIR/ready.
    Serve {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Open URL as a browser would: follow the provider's redirect to the callback.
    Browse {
        /// The CA that signed the provider's certificate.
        #[arg(long)]
        ca: PathBuf,
        url: String,
    },
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    match Cli::parse().command {
        Command::Serve { dir } => runtime.block_on(serve(dir)),
        Command::Browse { ca, url } => runtime.block_on(browse(ca, url)),
    }
}

async fn serve(dir: PathBuf) -> anyhow::Result<()> {
    let pki = TestPki::in_dir(&dir);
    let redirect_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{redirect_port}/oauth/callback");
    let google = FakeProvider::start(Flavour::Google, &pki).await;
    let microsoft = FakeProvider::start(Flavour::Microsoft, &pki).await;
    let secret = format!("demo-secret-{}", rand::random::<u64>());
    google.register_client(
        "crm-demo.apps.googleusercontent.com",
        Some(&secret),
        &redirect_uri,
    );
    google.add_account("g-1", "anna@example.nl");
    let dovecot = Dovecot::start(&pki, &google.introspection_url, STANDARD_FOLDERS);
    // A mailbox with a folder of its own and a few messages from the sample corpus.
    let mut seeder = dovecot.seeder("anna@example.nl").await;
    seeder.create("Klanten").await;
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for sample in ["01-plain.eml", "05-attachments.eml", "12-reply.eml"] {
        seeder
            .append("INBOX", &std::fs::read(corpus.join(sample))?)
            .await;
    }
    microsoft.register_client("crm-demo-client", None, &redirect_uri);
    microsoft.add_account("m-1", "anna@contoso.com");

    let mut settings = HostSettings::default();
    settings.platform.feature_flags = vec!["link-mailbox".into()];
    settings.platform.redirect_uri = Some(redirect_uri);
    let imap = &dovecot.imaps_endpoint();
    settings.platform.providers = vec![
        ProviderSettings {
            id: "google".into(),
            enabled: true,
            client_id: Some("crm-demo.apps.googleusercontent.com".into()),
            client_secret: Some(secret),
            endpoints: google.endpoints(imap),
            ..Default::default()
        },
        ProviderSettings {
            id: "microsoft".into(),
            enabled: true,
            client_id: Some("crm-demo-client".into()),
            tenant: Some("organizations".into()),
            endpoints: microsoft.endpoints(imap),
            ..Default::default()
        },
    ];
    settings.policy.local_hosts = vec!["127.0.0.1".into()];
    settings.tls.extra_roots = vec![pki.ca_pem.clone()];
    std::fs::write(dir.join("settings.toml"), toml::to_string(&settings)?)?;
    std::fs::write(dir.join("ready"), "")?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(dovecot);
    Ok(())
}

async fn browse(ca: PathBuf, url: String) -> anyhow::Result<()> {
    let tls = host_harness::tls::client_config(&[ca])?;
    let browser = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .build()?;
    let page = browser.get(&url).send().await?.text().await?;
    eprintln!("browser: {}", page.trim());
    Ok(())
}
