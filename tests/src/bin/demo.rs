//! `make demo`: the always-on service told through its API, as the CRM platform would use it.
//! It starts a Dovecot with Anna's mailbox and the fake providers, runs `mailsync-host serve` as
//! its own process, links, maps, watches mail arrive by push (timing each from APPEND to the
//! CRM's event), replies through the outbox and Postfix, archives a message back in the mailbox,
//! unlinks, stops the service with SIGTERM, and leaves nothing running.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use tests::demo_world::{DemoWorld, customer_reply};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(about = "The service's story through its API, on a local Dovecot and fake providers")]
struct Cli {
    /// Where the settings, database and CA go.
    #[arg(long)]
    dir: PathBuf,
    /// The `mailsync-host` binary.
    #[arg(long)]
    host: PathBuf,
    /// How many new messages to time by push.
    #[arg(long, default_value_t = 5)]
    pushes: u64,
}

const MAILBOX: &str = "anna";

fn step(text: &str) {
    println!("\n== {text}");
}

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.call_keyed(method, path, None, body).await
    }

    /// As `call`, under an `Idempotency-Key` when one is given, as the outbox's routes take it.
    async fn call_keyed(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        if !status.is_success() {
            bail!("{path}: HTTP {status}: {value}");
        }
        Ok(value)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn post_keyed(&self, path: &str, key: &str, body: Value) -> anyhow::Result<Value> {
        self.call_keyed(reqwest::Method::POST, path, Some(key), Some(body))
            .await
    }

    /// Follows outbox entry `entry` until it is no longer queued or sending (30 s at most).
    async fn finished(&self, entry: &Value) -> anyhow::Result<Value> {
        let id = entry["id"].as_str().context("the entry's id")?.to_string();
        until(Duration::from_secs(30), || async {
            let now = self.get(&mailbox(&format!("/outbox/{id}"))).await?;
            Ok((now["state"] != "queued" && now["state"] != "sending").then_some(now))
        })
        .await
    }

    async fn metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?)
    }
}

fn mailbox(path: &str) -> String {
    format!("/mailboxes/{MAILBOX}{path}")
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Runtime::new()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cli.dir)?;
    step("A local Dovecot with Anna's mailbox, a fake Google and a fake Microsoft");
    let world = DemoWorld::start(&cli.dir, false).await?;
    let settings = cli.dir.join("settings.toml");
    std::fs::write(&settings, toml::to_string(&world.settings)?)?;
    println!(
        "IMAP on 127.0.0.1:{} (TLS); settings in {}",
        world.dovecot.imaps_port,
        settings.display()
    );

    step("The service: mailsync-host serve");
    let mut service = tokio::process::Command::new(&cli.host)
        .arg("--settings")
        .arg(&settings)
        .arg("--db")
        .arg(cli.dir.join("demo.db"))
        .arg("--cache-dir")
        .arg(cli.dir.join("components"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("start mailsync-host serve")?;
    let mut lines = BufReader::new(service.stdout.take().context("its output")?).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .context("the service did not start within 2 minutes")??
            .context("the service exited")?;
        if let Some(address) = line.strip_prefix("listening on ") {
            break address.to_string();
        }
    };
    println!("listening on {base}");
    let api = Api {
        base,
        token: world.api_token.clone(),
        client: tests::http_client(),
    };
    let story = tell(&api, &world, cli.pushes).await;

    step("Stopping the service with SIGTERM: running syncs reach a checkpoint, IDLE logs out");
    if let Some(pid) = service.id() {
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    let status = tokio::time::timeout(Duration::from_secs(60), service.wait()).await??;
    println!("the service exited: {status}");
    drop(world);
    story
}

async fn tell(api: &Api, world: &DemoWorld, pushes: u64) -> anyhow::Result<()> {
    step("The E-mail settings panel before linking: GET /api/v1/mailboxes/anna");
    let status = api.get(&mailbox("")).await?;
    let providers: Vec<&str> = status["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["display_name"].as_str())
        .collect();
    println!(
        "state {}, providers {}, Link mailbox available: {}",
        status["state"],
        providers.join(", "),
        status["link_available"]
    );

    step("Link mailbox (Google): POST …/link");
    let started = api
        .post(
            &mailbox("/link"),
            json!({ "user": "anna", "provider": "google" }),
        )
        .await?;
    let consent = started["authorization_url"]
        .as_str()
        .context("a consent URL")?;
    println!("consent page: {}…", &consent[..consent.len().min(90)]);

    step("The user's browser: Google's consent answers Allow and redirects to the callback");
    let redirect = api.client.get(consent).send().await?;
    let back = redirect
        .headers()
        .get("location")
        .context("a redirect")?
        .to_str()?
        .to_string();
    let query: Vec<(String, String)> = url::Url::parse(&back)?.query_pairs().into_owned().collect();
    println!(
        "redirected to {}",
        back.split('?').next().unwrap_or_default()
    );

    step("The platform completes the link for the user who started it: POST …/link/complete");
    let linked = api
        .post(
            &mailbox("/link/complete"),
            json!({ "user": "anna", "query": query }),
        )
        .await?;
    let settings = &linked["settings"];
    println!(
        "state {}, {} via {}:{} ({}), settings read-only: {}",
        linked["state"],
        linked["address"],
        settings["imap_host"],
        settings["imap_port"],
        settings["auth"],
        linked["settings_read_only"]
    );

    step("Edit folders: GET …/folders, GET …/suggestion, PUT …/mapping");
    let folders = api.get(&mailbox("/folders")).await?;
    for f in folders.as_array().into_iter().flatten() {
        println!(
            "  {:<10} {}",
            f["name"].as_str().unwrap_or_default(),
            f["special_use"]
        );
    }
    let suggestion = api.get(&mailbox("/suggestion")).await?;
    println!("suggested: {suggestion}");
    api.call(reqwest::Method::PUT, &mailbox("/mapping"), Some(suggestion))
        .await?;

    step("The service syncs a new mapping at once (the last 30 days): GET …/reports");
    let report = until(Duration::from_secs(120), || async {
        // The first full pass (push records its inbox-only passes too).
        let reports = api.get(&mailbox("/reports?limit=10")).await?;
        let full = reports
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["report"]["folders"].as_array().map_or(0, Vec::len) >= 4);
        Ok(full.cloned())
    })
    .await?;
    for f in report["report"]["folders"].as_array().into_iter().flatten() {
        println!(
            "  {:<8} ← {:<8} {} new, {} KiB",
            f["crm_folder"].as_str().unwrap_or_default(),
            f["remote_folder"].as_str().unwrap_or_default(),
            f["created"],
            f["bytes"].as_u64().unwrap_or(0) / 1024
        );
    }

    step("The CRM's messages: GET …/messages");
    print_messages(api).await?;

    step("Push: the inbox waits in IMAP IDLE, parked with the host (no instance held)");
    until(Duration::from_secs(60), || async {
        Ok(api
            .metrics()
            .await?
            .contains("mailsync_push_waiting 1")
            .then_some(()))
    })
    .await?;
    println!("mailsync_push_waiting 1");
    let mut events = tests::follow_events(&api.client, &api.base, &api.token).await?;
    let mut seeder = world.seeder().await;
    let mut latencies = Vec::new();
    for n in 1..=pushes {
        let sent = Instant::now();
        let reply = customer_reply(n);
        seeder.append("INBOX", &reply).await;
        let id = message_id(&reply);
        let event = next_event(&mut events, "message.created", |e| {
            e["data"]["message_id"].as_str() == Some(id.as_str())
        })
        .await?;
        let ms = sent.elapsed().as_secs_f64() * 1000.0;
        latencies.push(ms);
        println!(
            "  APPEND → {} #{}: {ms:.0} ms",
            event["kind"].as_str().unwrap_or_default(),
            event["id"]
        );
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "median {:.0} ms over {} messages (Dovecot itself waits 500 ms before it notifies an idle client)",
        latencies[latencies.len() / 2],
        latencies.len()
    );

    step("Anna flags the newest reply in her mail client: message.updated");
    seeder.run("SELECT INBOX").await;
    let sent = Instant::now();
    seeder.run("UID STORE * +FLAGS (\\Flagged)").await;
    next_event(&mut events, "message.updated", |_| true).await?;
    println!(
        "  STORE → message.updated: {:.0} ms",
        sent.elapsed().as_secs_f64() * 1000.0
    );

    step("Bob (bob@example.nl) asks Anna for a quote; she replies from the CRM: POST …/outbox");
    let question = tests::mail_fixtures::plain(
        &format!("quote-{:x}", rand::random::<u32>()),
        "Bob de Vries <bob@example.nl>",
        "Anna de Vries <anna@example.nl>",
        "Offerte voor 40 stoelen",
        "Hallo Anna,\r\n\r\nWat kosten 40 stoelen?\r\n\r\nGroet, Bob",
    );
    seeder.append("INBOX", &question).await;
    let asked_id = message_id(&question);
    let created = next_event(&mut events, "message.created", |e| {
        e["data"]["message_id"].as_str() == Some(asked_id.as_str())
    })
    .await?;
    let asked = created["data"]["message"].clone();
    let reply = api
        .post_keyed(
            &mailbox("/outbox"),
            "demo-reply-1",
            json!({
                "to": [{"name": "Bob de Vries", "address": "bob@example.nl"}],
                "text": "Hallo Bob,\n\n40 stoelen kosten 2.400 euro.\n\nGroet, Anna",
                "reply_to": asked,
            }),
        )
        .await?;
    println!(
        "202: entry {} queued, Message-ID <{}>",
        reply["id"],
        reply["message_id"].as_str().unwrap_or_default()
    );
    let reply = api.finished(&reply).await?;
    println!(
        "the entry: {} ({})",
        reply["state"], reply["outcome"]["outcome"]
    );
    let reply_id = format!("<{}>", reply["message_id"].as_str().unwrap_or_default());
    let in_bobs_inbox = until(Duration::from_secs(20), || async {
        let n = world.count_in("bob@example.nl", "INBOX", &reply_id).await;
        Ok((n > 0).then_some(n))
    })
    .await?;
    let in_sent = world
        .count_in(tests::demo_world::ANNA, "Sent", &reply_id)
        .await;
    println!("in Bob's real INBOX: {in_bobs_inbox}; in Anna's Sent: {in_sent}");
    if (in_bobs_inbox, in_sent) != (1, 1) {
        bail!("the reply should be in Bob's INBOX once and in Sent once");
    }

    step("Anna archives Bob's question in the CRM: POST …/messages/{id}/actions");
    let archive = api
        .post(
            &mailbox(&format!("/messages/{asked}/actions")),
            json!({ "move_to": "archive" }),
        )
        .await?;
    let archive = api.finished(&archive).await?;
    println!(
        "the entry: {} ({})",
        archive["state"], archive["outcome"]["outcome"]
    );
    let asked_header = format!("<{asked_id}>");
    let in_archive = world
        .count_in(tests::demo_world::ANNA, "Archive", &asked_header)
        .await;
    let in_inbox = world
        .count_in(tests::demo_world::ANNA, "INBOX", &asked_header)
        .await;
    println!(
        "in Anna's mailbox, as her mail client sees it: Archive {in_archive}, INBOX {in_inbox}"
    );
    if (in_archive, in_inbox) != (1, 0) {
        bail!("the archived message should be in Archive, not in INBOX");
    }

    step("Metrics: GET /metrics");
    for line in api.metrics().await?.lines() {
        if line.starts_with("mailsync_") && !line.contains("_bucket") {
            println!("  {line}");
        }
    }

    step("Remove mailbox: POST …/unlink (the CRM keeps the mail it received)");
    let unlinked = api.post(&mailbox("/unlink"), json!({})).await?;
    println!("state {}", unlinked["status"]["state"]);
    print_messages(api).await?;

    step("The events the CRM received: GET /api/v1/events");
    let all = api.get("/events?limit=1000").await?;
    let mut kinds = std::collections::BTreeMap::<String, u32>::new();
    for e in all.as_array().into_iter().flatten() {
        *kinds
            .entry(e["kind"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    for (kind, n) in kinds {
        println!("  {kind:<24} {n}");
    }
    Ok(())
}

async fn print_messages(api: &Api) -> anyhow::Result<()> {
    let page = api.get(&mailbox("/messages?limit=100")).await?;
    let messages = page["messages"].as_array().cloned().unwrap_or_default();
    println!("{} messages, newest first:", messages.len());
    for m in messages.iter().take(8) {
        let from = m["from"][0]["address"].as_str().unwrap_or_default();
        println!(
            "  {:<8} {:<28} {}",
            m["folder"].as_str().unwrap_or_default(),
            from,
            m["subject"].as_str().unwrap_or_default()
        );
    }
    if messages.len() > 8 {
        println!("  …");
    }
    Ok(())
}

/// Polls `probe` until it gives a value, for at most `limit`.
async fn until<T, F, Fut>(limit: Duration, probe: F) -> anyhow::Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if started.elapsed() > limit {
            bail!("gave up after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Message-ID of `message`, without its angle brackets.
fn message_id(message: &[u8]) -> String {
    String::from_utf8_lossy(message)
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .map(|v| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .unwrap_or_default()
}

/// The next event of `kind` that `wanted` accepts, within 30 s.
async fn next_event(
    events: &mut mpsc::UnboundedReceiver<Value>,
    kind: &str,
    wanted: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let wait = async {
        while let Some(event) = events.recv().await {
            if event["kind"] == kind && wanted(&event) {
                return Ok(event);
            }
        }
        bail!("the event stream ended")
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .with_context(|| format!("no {kind} within 30 s"))?
}
