//! The fake Google and Microsoft for `make demo` and `make serve`: `serve` runs both, with a
//! Dovecot that trusts the fake Google's tokens and holds a seeded mailbox, and writes host
//! settings that point at them (optionally a consent page for a person, and new mail now and
//! then); `browse` plays the user's browser, consent answered automatically; `new-mail` delivers
//! a reply and flags a message, as a correspondent and the user would.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tests::demo_world::{ANNA, DemoWorld, customer_reply};
use tests::dovecot::Seeder;

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
        /// Show a consent page (choose the account, Allow) for a person to answer.
        #[arg(long)]
        interactive: bool,
        /// Deliver a new customer reply to Anna's inbox every this many seconds.
        #[arg(long)]
        new_mail_every: Option<u64>,
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
        Command::Serve {
            dir,
            interactive,
            new_mail_every,
        } => runtime.block_on(serve(dir, interactive, new_mail_every)),
        Command::NewMail { dir } => runtime.block_on(new_mail(dir)),
        Command::Browse { ca, url } => runtime.block_on(browse(ca, url)),
    }
}

async fn serve(dir: PathBuf, interactive: bool, new_mail_every: Option<u64>) -> anyhow::Result<()> {
    let world = DemoWorld::start(&dir, interactive).await?;
    std::fs::write(dir.join("imap-port"), world.dovecot.imap_port.to_string())?;
    std::fs::write(dir.join("settings.toml"), toml::to_string(&world.settings)?)?;
    std::fs::write(dir.join("ready"), "")?;
    if let Some(seconds) = new_mail_every {
        let mut seeder = world.seeder().await;
        tokio::spawn(async move {
            for n in 1.. {
                tokio::time::sleep(Duration::from_secs(seconds.max(1))).await;
                seeder.append("INBOX", &customer_reply(n)).await;
            }
        });
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(world);
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
