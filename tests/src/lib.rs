//! Shared pieces of the end-to-end proofs: hosts loading the real plugin or the adversarial
//! guest, test settings, and small loopback servers that record who connected.

pub mod browser;
pub mod cluster_world;
pub mod cut_proxy;
pub mod demo_world;
pub mod dovecot;
pub mod encoding_cases;
pub mod fake_provider;
pub mod gmail_script;
pub mod imap_script;
pub mod layers;
pub mod mail_fixtures;
pub mod many_mailboxes;
pub mod oauth_world;
pub mod panel_client;
pub mod postfix;
pub mod postgres;
pub mod realistic;
pub mod secrets;
pub mod send_world;
pub mod serve_node;
pub mod sync_checks;
pub mod tls_server;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use host_harness::policy::Grant;
use host_harness::{CallError, Database, HostSettings, PluginHost};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The adversarial guest built by this crate's build script.
pub const ADVERSARIAL_GUEST: &str = env!("ADVERSARIAL_GUEST_WASM");

/// Where compiled components are cached across the suite's test binaries: a directory only
/// this user may write in, as the host requires of a cache.
pub fn component_cache() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join("mailsync-test-components");
    host_harness::file_modes::create_private_dir(&dir).expect("component cache directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .expect("component cache directory mode");
    dir
}

/// The real plugin component in a host with `settings` and an in-memory database.
pub fn plugin_host(settings: &HostSettings) -> PluginHost {
    load(host_harness::BUNDLED_PLUGIN, settings)
}

/// The adversarial guest in a host with `settings`.
pub fn adversarial_host(settings: &HostSettings) -> PluginHost {
    load(ADVERSARIAL_GUEST, settings)
}

/// The adversarial guest in a host with `settings` over `db`, which the test may inspect.
pub fn adversarial_host_with_db(settings: &HostSettings, db: Database) -> PluginHost {
    load_with_db(ADVERSARIAL_GUEST, settings, db)
}

fn load(path: &str, settings: &HostSettings) -> PluginHost {
    load_with_db(
        path,
        settings,
        Database::open_in_memory().expect("in-memory database"),
    )
}

fn load_with_db(path: &str, settings: &HostSettings, db: Database) -> PluginHost {
    PluginHost::load(path.as_ref(), settings, db, Some(&component_cache()))
        .unwrap_or_else(|e| panic!("load component {path}: {e}"))
}

/// Asks the adversarial guest in `host` to run `probe` with `argument`, as mailbox `mailbox` of
/// provider `test`; `Ok` holds what the guest reports it saw.
pub async fn probe(
    host: &PluginHost,
    mailbox: &str,
    probe: &str,
    argument: &str,
) -> Result<String, CallError> {
    host.assign_provider(mailbox, Some("test")).await?;
    host.mailbox(mailbox)
        .normalize(argument.as_bytes(), None, probe)
        .await
        .map(|record| record.text_body)
}

/// Default settings plus a provider `test` granted exactly `http` and `imap`, with 127.0.0.1
/// allowed as a plain loopback host.
pub fn settings_with_test_grant(http: &[String], imap: &[String]) -> HostSettings {
    let mut settings = HostSettings::default();
    settings.policy.providers.insert(
        "test".into(),
        Grant {
            http: http.to_vec(),
            imap: imap.to_vec(),
            submission: vec![],
        },
    );
    settings.policy.plain_hosts = vec!["127.0.0.1".into()];
    settings
}

/// A draft the platform would submit: `subject` and `text` to one recipient, keyed `key`, with
/// a Message-ID made from the key.
pub fn draft_to(
    key: &str,
    to: &str,
    subject: &str,
    text: &str,
) -> host_harness::bindings::send::Draft {
    host_harness::bindings::send::Draft {
        idempotency_key: key.into(),
        message_id: format!("{key}.outbox@example.nl"),
        to: vec![host_harness::bindings::message::MailboxAddress {
            name: None,
            address: to.into(),
        }],
        cc: vec![],
        bcc: vec![],
        subject: subject.into(),
        text: text.into(),
        html: None,
        attachments: vec![],
        replies_to: None,
        date: "2026-12-07T10:00:00Z".into(),
    }
}

/// A loopback server that counts connections and answers each with `response`.
pub struct LoopbackServer {
    pub port: u16,
    connections: Arc<AtomicUsize>,
}

impl LoopbackServer {
    pub async fn start(response: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        LoopbackServer { port, connections }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// An HTTP client for the tests' own loopback servers (the service's API): rustls with no roots
/// beyond the web's, since these speak plain HTTP.
pub fn http_client() -> reqwest::Client {
    let tls = host_harness::tls::client_config(&[]).expect("TLS");
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// The Prometheus text a service at `base` (`http://127.0.0.1:PORT`) serves at `/metrics`.
pub async fn metrics_of(base: &str) -> String {
    let response = http_client().get(format!("{base}/metrics")).send().await;
    let response = response.unwrap_or_else(|e| panic!("{base}/metrics: {e}"));
    response.text().await.expect("the metrics' text")
}

/// Prometheus text as the tests read it: a sample by its exact name (labels included), its value
/// parsed, so `… 1` is never taken for `… 10`.
pub trait MetricsText {
    /// The value of the sample named exactly `name` (`mailsync_x` or `mailsync_x{k="v"}`).
    fn metric(&self, name: &str) -> Option<f64>;
    /// Whether the sample `name` has the value `value`.
    fn shows(&self, name: &str, value: f64) -> bool {
        self.metric(name) == Some(value)
    }
}

impl MetricsText for str {
    fn metric(&self, name: &str) -> Option<f64> {
        self.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .find(|(sample, _)| *sample == name)
            .and_then(|(_, value)| value.trim().parse().ok())
    }
}

/// Asks `probe` every 100 ms until it answers `Some`; that answer. Panics, naming `what`, when
/// `limit` passes first.
pub async fn until<T, F, Fut>(what: &str, limit: std::time::Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(answer) = probe().await {
            return answer;
        }
        assert!(started.elapsed() < limit, "never within {limit:?}: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Signs a browser-less client in to the panel at `base` with a ticket's `login_path`, as a
/// browser does: the ticket's page, then its same-origin form `POST`. Returns the response to the
/// `POST` (a redirect to the panel that sets the session cookie) and the `name=value` cookie.
pub async fn panel_sign_in(base: &str, login_path: &str) -> (reqwest::Response, String) {
    let http = http_client();
    let page = http
        .get(format!("{base}{login_path}"))
        .send()
        .await
        .expect("the sign-in page");
    assert_eq!(page.status(), reqwest::StatusCode::OK, "the ticket's page");
    assert!(
        page.headers().get("set-cookie").is_none(),
        "the ticket's page signs nobody in"
    );
    let ticket = login_path
        .split_once("ticket=")
        .expect("a ticket in the login path")
        .1;
    let signed_in = http
        .post(format!("{base}/panel/login"))
        .header("origin", base)
        .form(&[("ticket", ticket)])
        .send()
        .await
        .expect("the sign-in");
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_string();
    (signed_in, cookie)
}

/// The service's events from now on (`/api/v1/events/stream`, server-sent events), each as the
/// JSON the stream carries (`id`, `kind`, `mailbox`, `at`, `data`).
pub async fn follow_events(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>> {
    let mut response = client
        .get(format!("{base}/api/v1/events/stream"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&data)
                    && tx.send(event).is_err()
                {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// The host CLI, built by `cargo test --workspace` next to the test binaries.
pub fn mailsync_host() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(format!("mailsync-host{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p host-harness` (make test does)",
        bin.display()
    );
    bin
}

/// The `mailsync-host` a benchmark runs: `given`, else the one beside the running binary.
pub fn host_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(path) => Ok(path),
        None => Ok(std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow::anyhow!("the binary's folder"))?
            .join("mailsync-host")),
    }
}

/// The `main` of a benchmark or demo binary: warnings logged, `Args` parsed, and `run` on a
/// multi-threaded runtime.
pub fn run_main<Args: clap::Parser, F: std::future::Future<Output = anyhow::Result<()>>>(
    run: impl FnOnce(Args) -> F,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .init();
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}
