//! The fake Google and Microsoft for `make demo`: `serve` runs both over HTTPS, with a Dovecot
//! that trusts the fake Google's tokens and holds a seeded mailbox, and writes host settings that
//! point at them; `browse` plays the user's browser, consent answered automatically; `new-mail`
//! delivers a reply and flags a message, as a correspondent and the user would.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use host_harness::HostSettings;
use host_harness::settings::ProviderSettings;
use tests::dovecot::{Dovecot, STANDARD_FOLDERS, Seeder};
use tests::fake_provider::{FakeProvider, Flavour};
use tests::mail_fixtures::{days_ago, plain};
use tests::tls_server::TestPki;

const ANNA: &str = "anna@example.nl";

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
    /// Deliver a new reply to Anna's INBOX and flag the first message there (seen, flagged),
    /// in the Dovecot of a running `serve --dir DIR`.
    NewMail {
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
        Command::NewMail { dir } => runtime.block_on(new_mail(dir)),
        Command::Browse { ca, url } => runtime.block_on(browse(ca, url)),
    }
}

async fn serve(dir: PathBuf) -> anyhow::Result<()> {
    let pki = TestPki::in_dir(&dir);
    // Port 0: `mailsync-host link` listens on any free port and says which (RFC 8252).
    let redirect_uri = "http://127.0.0.1:0/oauth/callback".to_string();
    let google = FakeProvider::start(Flavour::Google, &pki).await;
    let microsoft = FakeProvider::start(Flavour::Microsoft, &pki).await;
    let secret = format!("demo-secret-{}", rand::random::<u64>());
    google.register_client(
        "crm-demo.apps.googleusercontent.com",
        Some(&secret),
        &redirect_uri,
    );
    google.add_account("g-1", ANNA);
    let dovecot = Dovecot::start(&pki, &google.introspection_url, STANDARD_FOLDERS);
    seed_mailbox(&dovecot).await?;
    std::fs::write(dir.join("imap-port"), dovecot.imap_port.to_string())?;
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
            client_secret: Some(secret.into()),
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

/// Anna's mailbox: a folder of her own, and samples in several folders (plain text, HTML,
/// attachments, Latin-1, Windows-1252, Japanese and Cyrillic charsets, a reply thread, a mailing
/// list, an auto-reply, sent mail), one message older than the backfill window, some already read.
async fn seed_mailbox(dovecot: &Dovecot) -> anyhow::Result<()> {
    let mut seeder = dovecot.seeder(ANNA).await;
    seeder.create("Klanten").await;
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let recent = days_ago(3);
    let placed: &[(&str, &str, &str)] = &[
        ("INBOX", "01-plain.eml", "\\Seen"),
        ("INBOX", "12-reply.eml", ""),
        ("INBOX", "04-alternative.eml", ""),
        ("INBOX", "05-attachments.eml", "\\Seen"),
        ("INBOX", "06-latin1-qp.eml", ""),
        ("INBOX", "07-windows-1252.eml", ""),
        ("INBOX", "08-iso-2022-jp.eml", ""),
        ("INBOX", "16-auto-reply.eml", "\\Seen"),
        ("INBOX", "17-list.eml", ""),
        ("Archive", "03-html-only.eml", "\\Seen"),
        ("Archive", "10-koi8-r.eml", "\\Seen \\Flagged"),
        ("Archive", "25-forwarded.eml", "\\Seen"),
        ("Trash", "02-encoded-subject.eml", "\\Seen"),
        ("Klanten", "29-iso-8859-2.eml", ""),
    ];
    for (folder, sample, flags) in placed {
        let bytes = std::fs::read(corpus.join(sample))?;
        seeder
            .append_with(folder, flags, Some(&recent), &bytes)
            .await;
    }
    let sent = plain(
        "offer-anna-1",
        "Anna de Vries <anna@example.nl>",
        "Bob Jansen <bob@crm-customer.nl>",
        "Offerte Q1",
        "Hallo Bob,\r\n\r\nIn de bijlage vind je de offerte voor Q1.\r\n\r\nGroet, Anna",
    );
    seeder
        .append_with("Sent", "\\Seen", Some(&recent), &sent)
        .await;
    let old = std::fs::read(corpus.join("11-groups.eml"))?;
    seeder
        .append_with("INBOX", "\\Seen", Some(&days_ago(90)), &old)
        .await;
    Ok(())
}

async fn new_mail(dir: PathBuf) -> anyhow::Result<()> {
    let port: u16 = std::fs::read_to_string(dir.join("imap-port"))?
        .trim()
        .parse()?;
    let mut seeder = Seeder::connect(port, ANNA).await;
    let reply = b"Message-ID: <reply-new@mail.example.org>\r\n\
In-Reply-To: <reply-12@crm-customer.nl>\r\n\
References: <root-0@mail.example.org> <plain-1@mail.example.org> <reply-12@crm-customer.nl>\r\n\
Date: Wed, 25 Nov 2026 09:15:00 +0100\r\nFrom: Bob Jansen <bob@crm-customer.nl>\r\n\
To: Anna de Vries <anna@example.nl>\r\nSubject: Re: Quarterly planning\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nThursday at ten, then. Tot dan!\r\n";
    seeder.append("INBOX", reply).await;
    seeder.run("SELECT INBOX").await;
    seeder.run("UID STORE 2 +FLAGS (\\Seen \\Flagged)").await;
    println!("delivered \"Re: Quarterly planning\" to INBOX; flagged the reply from Bob");
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
