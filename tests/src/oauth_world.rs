//! A world for the link tests: a private CA, a fake Google and a fake Microsoft over HTTPS, and
//! the real plugin in a host whose settings point both providers at them. Every answer the tests
//! get back is captured, so the suite can check that no secret ever shows.

use std::path::PathBuf;

use host_harness::bindings::mailbox::{LinkRequest, LinkStarted, MailboxError, MailboxStatus};
use host_harness::settings::ProviderSettings;
use host_harness::{Database, HostSettings, Mailbox, PluginHost};

use crate::dovecot::{ConfiguredFolder, Dovecot};
use crate::fake_provider::{FakeProvider, Flavour};
use crate::postfix::Postfix;
use crate::secrets;
use crate::tls_server::TestPki;

pub const REDIRECT_URI: &str = "http://127.0.0.1:8765/oauth/callback";
/// A redirect URI that leaves the port to whoever listens: the service, in the browser tests.
pub const OPEN_REDIRECT_URI: &str = "http://127.0.0.1:0/oauth/callback";
pub const GOOGLE_CLIENT: &str = "crm-test.apps.googleusercontent.com";
pub const MICROSOFT_CLIENT: &str = "00000000-1111-2222-3333-444444444444";
/// Where IMAP would be; the link flow never connects to it.
pub const IMAP: &str = "imaps://127.0.0.1:9993";

/// How a world's Dovecot is set up.
pub struct DovecotSetup<'a> {
    pub folders: &'a [ConfiguredFolder],
    /// The token mechanisms it offers.
    pub mechanisms: &'a str,
    /// Reached on its plain port with STARTTLS instead of implicit TLS.
    pub starttls: bool,
    /// Lines added to its configuration (`mail_debug = yes` logs each mailbox a session opens).
    pub settings: &'a str,
    /// With a Postfix in front of it, the providers' submission server.
    pub submission: bool,
    /// That Postfix files a copy of what a user submits in the user's Sent, as Gmail does.
    pub server_keeps_sent: bool,
}

impl<'a> DovecotSetup<'a> {
    pub fn new(folders: &'a [ConfiguredFolder]) -> Self {
        DovecotSetup {
            folders,
            mechanisms: "xoauth2 oauthbearer",
            starttls: false,
            settings: "",
            submission: false,
            server_keeps_sent: false,
        }
    }
}

pub struct OAuthWorld {
    /// A real IMAP server that asks the fake Google about tokens, when the world has one.
    pub dovecot: Option<Dovecot>,
    /// A real submission server in front of that Dovecot, when the setup asked for one.
    pub postfix: Option<Postfix>,
    pub pki: TestPki,
    pub google: FakeProvider,
    pub microsoft: FakeProvider,
    pub host: PluginHost,
    pub db: Database,
    pub settings: HostSettings,
}

impl OAuthWorld {
    /// Both providers enabled, "Link mailbox" switched on.
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// As `start`, with the host's settings changed by `configure` first.
    pub async fn with(configure: impl FnOnce(&mut HostSettings)) -> Self {
        Self::build(None, configure).await
    }

    /// As `start`, with a Dovecot whose tokens the fake Google issues, holding `folders` for
    /// every user; both providers' IMAP endpoint is that Dovecot.
    pub async fn with_dovecot(folders: &[ConfiguredFolder]) -> Self {
        Self::build(Some(DovecotSetup::new(folders)), |_| {}).await
    }

    /// As `with_dovecot`, as `setup` says.
    pub async fn with_dovecot_setup(setup: DovecotSetup<'_>) -> Self {
        Self::build(Some(setup), |_| {}).await
    }

    /// As `with_dovecot_setup`, with the host's settings changed by `configure` first.
    pub async fn with_dovecot_setup_and(
        setup: DovecotSetup<'_>,
        configure: impl FnOnce(&mut HostSettings),
    ) -> Self {
        Self::build_with_db(Some(setup), configure, None, false).await
    }

    /// As `with_dovecot`, with the host's settings changed by `configure` first.
    pub async fn with_dovecot_and(
        folders: &[ConfiguredFolder],
        configure: impl FnOnce(&mut HostSettings),
    ) -> Self {
        Self::build_with_db(Some(DovecotSetup::new(folders)), configure, None, false).await
    }

    /// As `with_dovecot_and`, for a real browser: the providers show their consent page (pick
    /// an account, Allow), served over plain HTTP on loopback since the browser does not trust
    /// the test CA; the redirect comes back to whatever port the service listens on.
    pub async fn for_browser(
        folders: &[ConfiguredFolder],
        configure: impl FnOnce(&mut HostSettings),
    ) -> Self {
        Self::for_browser_with(DovecotSetup::new(folders), configure).await
    }

    /// As `for_browser`, with Dovecot (and Postfix) as `setup` says.
    pub async fn for_browser_with(
        setup: DovecotSetup<'_>,
        configure: impl FnOnce(&mut HostSettings),
    ) -> Self {
        let browser = |s: &mut HostSettings| {
            s.platform.redirect_uri = Some(OPEN_REDIRECT_URI.into());
            configure(s);
        };
        Self::build_with_db(Some(setup), browser, None, true).await
    }

    /// As `with_dovecot_and`, over `db` (a database on disk, say) instead of one in memory.
    pub async fn with_dovecot_on(
        folders: &[ConfiguredFolder],
        db: Database,
        configure: impl FnOnce(&mut HostSettings),
    ) -> Self {
        Self::build_with_db(Some(DovecotSetup::new(folders)), configure, Some(db), false).await
    }

    /// As `with_dovecot_setup_and`, over `db` (a database on disk, say).
    pub async fn with_dovecot_setup_on(
        setup: DovecotSetup<'_>,
        db: Database,
        configure: impl FnOnce(&mut HostSettings),
    ) -> Self {
        Self::build_with_db(Some(setup), configure, Some(db), false).await
    }

    /// The fake providers, without Dovecot, over `db` (a PostgreSQL node, say).
    pub async fn on_database(db: Database) -> Self {
        Self::build_with_db(None, |_| {}, Some(db), false).await
    }

    async fn build(
        dovecot: Option<DovecotSetup<'_>>,
        configure: impl FnOnce(&mut HostSettings),
    ) -> Self {
        Self::build_with_db(dovecot, configure, None, false).await
    }

    async fn build_with_db(
        dovecot: Option<DovecotSetup<'_>>,
        configure: impl FnOnce(&mut HostSettings),
        db: Option<Database>,
        browser: bool,
    ) -> Self {
        secrets::capture_logs();
        let pki = TestPki::new();
        let google = FakeProvider::start(Flavour::Google, &pki).await;
        let microsoft = FakeProvider::start(Flavour::Microsoft, &pki).await;
        let starttls = dovecot.as_ref().is_some_and(|d| d.starttls);
        let keeps_sent = dovecot.as_ref().is_some_and(|d| d.server_keeps_sent);
        let dovecot = dovecot.map(|d| match d.submission {
            true => Dovecot::start_for_submission(&pki, &google.introspection_url, d.folders),
            false => Dovecot::start_with_mechanisms(
                &pki,
                &google.introspection_url,
                d.folders,
                d.mechanisms,
                d.settings,
            ),
        });
        let postfix = dovecot
            .as_ref()
            .filter(|d| d.submission.is_some())
            .map(|d| Postfix::start(&pki, d, keeps_sent));
        let imap = match &dovecot {
            None => IMAP.to_string(),
            Some(d) if starttls => format!("imap://127.0.0.1:{}", d.imap_port),
            Some(d) => d.imaps_endpoint(),
        };
        let google_secret = format!("fake-secret-{}", rand::random::<u64>());
        google.add_account("g-1001", "anna@example.nl");
        google.add_account("g-1002", "bram@example.nl");
        microsoft.add_account("m-2001", "anna@contoso.com");
        microsoft.add_account("m-2002", "bram@contoso.com");

        let mut settings = HostSettings::default();
        settings.platform.feature_flags = vec!["link-mailbox".into()];
        settings.platform.redirect_uri = Some(REDIRECT_URI.into());
        settings.platform.providers = vec![
            ProviderSettings {
                id: "google".into(),
                enabled: true,
                client_id: Some(GOOGLE_CLIENT.into()),
                client_secret: Some(google_secret.clone().into()),
                endpoints: google.endpoints(&imap),
                ..Default::default()
            },
            ProviderSettings {
                id: "microsoft".into(),
                enabled: true,
                client_id: Some(MICROSOFT_CLIENT.into()),
                tenant: Some("organizations".into()),
                endpoints: microsoft.endpoints(&imap),
                ..Default::default()
            },
        ];
        if let Some(postfix) = &postfix {
            for provider in &mut settings.platform.providers {
                provider
                    .endpoints
                    .insert("submission".into(), postfix.endpoint());
            }
        }
        settings.policy.local_hosts = vec!["127.0.0.1".into()];
        settings.tls.extra_roots = vec![pki.ca_pem.clone()];
        if browser {
            for (provider, fake) in settings
                .platform
                .providers
                .iter_mut()
                .zip([&google, &microsoft])
            {
                let page = fake.browser_authorize_url.clone();
                provider.endpoints.insert("authorize".into(), page);
                fake.world().interactive = true;
            }
        }
        configure(&mut settings);
        // The clients are registered with the redirect URI the platform ended up with.
        let redirect = settings.platform.redirect_uri.clone().unwrap_or_default();
        google.register_client(GOOGLE_CLIENT, Some(&google_secret), &redirect);
        microsoft.register_client(MICROSOFT_CLIENT, None, &redirect);
        let db = db.unwrap_or_else(|| Database::open_in_memory().expect("in-memory database"));
        let host = PluginHost::load(
            host_harness::BUNDLED_PLUGIN.as_ref(),
            &settings,
            db.clone(),
            Some(&crate::component_cache()),
        )
        .expect("load the plugin");
        OAuthWorld {
            dovecot,
            postfix,
            pki,
            google,
            microsoft,
            host,
            db,
            settings,
        }
    }

    pub fn fake(&self, provider: &str) -> &FakeProvider {
        match provider {
            "google" => &self.google,
            _ => &self.microsoft,
        }
    }

    pub fn mailbox(&self, id: &str) -> Mailbox {
        self.host.mailbox(id)
    }

    /// `link-start` as the user `anna`; panics on a host failure, returns the plugin's answer.
    pub async fn start_link(
        &self,
        mailbox: &str,
        provider: &str,
    ) -> Result<LinkStarted, MailboxError> {
        let request = LinkRequest {
            user: "anna".into(),
            provider: provider.into(),
            login_hint: None,
            redirect_port: None,
        };
        let answer = self
            .mailbox(mailbox)
            .link_start(&request)
            .await
            .expect("the call runs");
        captured(answer)
    }

    /// What the browser does with the authorization URL: the provider's redirect to the
    /// callback, as its query parameters.
    pub async fn consent(&self, authorization_url: &str) -> Vec<(String, String)> {
        let tls =
            host_harness::tls::client_config(std::slice::from_ref(&self.pki.ca_pem)).expect("TLS");
        let browser = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("browser");
        let response = browser
            .get(authorization_url)
            .send()
            .await
            .expect("authorize");
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(location) = location.filter(|_| status.as_u16() == 302) else {
            let body = response.text().await.unwrap_or_default();
            panic!("the provider did not redirect ({status}): {body}");
        };
        let redirect = self
            .settings
            .platform
            .redirect_uri
            .clone()
            .unwrap_or_default();
        assert!(
            location.starts_with(&redirect),
            "redirected elsewhere: {location}"
        );
        let url = url::Url::parse(&location).expect("redirect URL");
        url.query_pairs().into_owned().collect()
    }

    pub async fn complete(
        &self,
        mailbox: &str,
        query: &[(String, String)],
    ) -> Result<MailboxStatus, MailboxError> {
        self.complete_as(mailbox, "anna", query).await
    }

    /// `complete` by CRM user `user` (`start_link` starts as `anna`).
    pub async fn complete_as(
        &self,
        mailbox: &str,
        user: &str,
        query: &[(String, String)],
    ) -> Result<MailboxStatus, MailboxError> {
        let answer = self
            .mailbox(mailbox)
            .link_complete(user, query)
            .await
            .expect("the call runs");
        captured(answer)
    }

    /// The whole flow: start, consent in the browser, complete.
    pub async fn link(&self, mailbox: &str, provider: &str) -> Result<MailboxStatus, MailboxError> {
        let started = self.start_link(mailbox, provider).await?;
        let query = self.consent(&started.authorization_url).await;
        self.complete(mailbox, &query).await
    }

    pub async fn status(&self, mailbox: &str) -> MailboxStatus {
        let answer = self.mailbox(mailbox).status().await.expect("the call runs");
        captured(answer).expect("status answers")
    }

    /// The plugin's stored value under `key` for `mailbox`, as JSON.
    pub fn stored(&self, mailbox: &str, key: &str) -> Option<serde_json::Value> {
        self.db
            .kv_get(mailbox, key)
            .expect("read storage")
            .map(|v| serde_json::from_slice(&v).expect("stored JSON"))
    }

    /// The CA that signed the fake providers' certificate.
    pub fn ca_pem(&self) -> PathBuf {
        self.pki.ca_pem.clone()
    }
}

/// Every test with a Dovecot ends with the secret sweep: what the suite captured and Dovecot's
/// own log hold no token or client secret the fake provider issued.
impl Drop for OAuthWorld {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(dovecot) = &self.dovecot {
            secrets::capture(&dovecot.log());
            secrets::assert_no_secret_captured();
        }
    }
}

/// Points every provider's IMAP endpoint in `settings` at `endpoint`.
pub fn point_imap_at(settings: &mut HostSettings, endpoint: &str) {
    for p in &mut settings.platform.providers {
        p.endpoints.insert("imap".into(), endpoint.to_string());
    }
}

/// Captures an answer's debug form for the secret check, and hands it back.
pub fn captured<T: std::fmt::Debug>(answer: T) -> T {
    secrets::capture(&format!("{answer:?}\n"));
    answer
}
