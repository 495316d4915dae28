//! The world `make demo` and `make serve` run in: a fake Google and Microsoft, a Dovecot that
//! trusts the fake Google's tokens and holds Anna's realistic mailbox, and the host settings that
//! point at them (the consent page over plain HTTP on loopback, so a person's browser opens it
//! without a certificate warning; the redirect back to whatever port the host listens on).

use std::path::Path;

use host_harness::HostSettings;
use host_harness::settings::ProviderSettings;

use crate::dovecot::{Dovecot, STANDARD_FOLDERS, Seeder};
use crate::fake_provider::{FakeProvider, Flavour};
use crate::mail_fixtures::{days_ago, plain};
use crate::postfix::Postfix;
use crate::tls_server::TestPki;

pub const ANNA: &str = "anna@example.nl";
/// Left open: the CLI's loopback listener, or the service, takes its own port.
pub const REDIRECT_URI: &str = "http://127.0.0.1:0/oauth/callback";

pub struct DemoWorld {
    pub google: FakeProvider,
    pub microsoft: FakeProvider,
    pub dovecot: Dovecot,
    /// The providers' submission server, delivering into that Dovecot and filing what Anna
    /// sends in her Sent, as Gmail does.
    pub postfix: Postfix,
    pub settings: HostSettings,
    pub api_token: String,
}

impl DemoWorld {
    /// Starts everything, with the CA under `dir`; with `interactive`, the providers show a
    /// consent page for a person to answer instead of answering it themselves.
    pub async fn start(dir: &Path, interactive: bool) -> anyhow::Result<Self> {
        let pki = TestPki::in_dir(dir);
        let google = FakeProvider::start(Flavour::Google, &pki).await;
        let microsoft = FakeProvider::start(Flavour::Microsoft, &pki).await;
        let secret = format!("demo-secret-{}", rand::random::<u64>());
        google.register_client(
            "crm-demo.apps.googleusercontent.com",
            Some(&secret),
            REDIRECT_URI,
        );
        google.add_account("g-1", ANNA);
        microsoft.register_client("crm-demo-client", None, REDIRECT_URI);
        microsoft.add_account("m-1", "anna@contoso.com");
        google.world().interactive = interactive;
        microsoft.world().interactive = interactive;
        let dovecot =
            Dovecot::start_for_submission(&pki, &google.introspection_url, STANDARD_FOLDERS);
        let postfix = Postfix::start(&pki, &dovecot, true);
        seed_mailbox(&dovecot).await?;

        let mut settings = HostSettings::default();
        settings.platform.feature_flags = vec!["link-mailbox".into()];
        settings.platform.redirect_uri = Some(REDIRECT_URI.into());
        let imap = &dovecot.imaps_endpoint();
        let endpoints = |fake: &FakeProvider| {
            let mut e = fake.endpoints(imap);
            e.insert("authorize".into(), fake.browser_authorize_url.clone());
            e
        };
        settings.platform.providers = vec![
            ProviderSettings {
                id: "google".into(),
                enabled: true,
                client_id: Some("crm-demo.apps.googleusercontent.com".into()),
                client_secret: Some(secret.into()),
                endpoints: endpoints(&google),
                ..Default::default()
            },
            ProviderSettings {
                id: "microsoft".into(),
                enabled: true,
                client_id: Some("crm-demo-client".into()),
                tenant: Some("organizations".into()),
                endpoints: endpoints(&microsoft),
                ..Default::default()
            },
        ];
        for provider in &mut settings.platform.providers {
            provider
                .endpoints
                .insert("submission".into(), postfix.endpoint());
        }
        settings.policy.local_hosts = vec!["127.0.0.1".into()];
        settings.tls.extra_roots = vec![pki.ca_pem.clone()];
        let api_token = format!("demo-api-token-{:016x}", rand::random::<u64>());
        settings
            .service
            .insert("api_token".into(), api_token.clone().into());
        Ok(DemoWorld {
            google,
            microsoft,
            dovecot,
            postfix,
            settings,
            api_token,
        })
    }

    pub async fn seeder(&self) -> Seeder {
        self.dovecot.seeder(ANNA).await
    }

    /// How many messages of `user`'s `folder` carry `message_id` (with its angle brackets), as
    /// another mail client sees it.
    pub async fn count_in(&self, user: &str, folder: &str, message_id: &str) -> usize {
        let mut seeder = self.dovecot.seeder(user).await;
        seeder.run(&format!("EXAMINE \"{folder}\"")).await;
        let found = seeder
            .answers(&format!("UID SEARCH HEADER Message-ID \"{message_id}\""))
            .await;
        found
            .iter()
            .filter_map(|line| line.trim().strip_prefix("* SEARCH"))
            .map(|rest| rest.split_whitespace().count())
            .sum()
    }
}

/// Anna's mailbox: a folder of her own, and samples in several folders (plain text, HTML,
/// attachments, Latin-1, Windows-1252, Japanese and Cyrillic charsets, a reply thread, a mailing
/// list, an auto-reply, sent mail), one message older than the backfill window, some already read.
async fn seed_mailbox(dovecot: &Dovecot) -> anyhow::Result<()> {
    let mut seeder = dovecot.seeder(ANNA).await;
    seeder.create("Klanten").await;
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
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

/// The `n`th reply from a customer, as new mail for Anna's inbox.
pub fn customer_reply(n: u64) -> Vec<u8> {
    let topics = ["Levering", "Factuur", "Afspraak", "Offerte", "Contract"];
    let topic = topics[(n as usize) % topics.len()];
    plain(
        &format!("customer-{n}-{:x}", rand::random::<u32>()),
        "Bob Jansen <bob@crm-customer.nl>",
        "Anna de Vries <anna@example.nl>",
        &format!("Re: {topic} #{n}"),
        "Hallo Anna,\r\n\r\nDank voor je bericht; ik kom erop terug.\r\n\r\nGroet, Bob",
    )
}
