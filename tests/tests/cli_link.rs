//! The plugin developer's CLI against the fake provider: `link` opens the consent page through
//! `$BROWSER`, completes on its loopback listener and shows the read-only settings; `status`,
//! `refresh` and `unlink` follow; then `map`, `sync`, `messages` and the last sync in `status`
//! against Dovecot. Everything it prints, and its logs at trace level, are checked for secrets.

use std::path::PathBuf;
use std::process::{Command, Output};

use tests::oauth_world::OAuthWorld;
use tests::secrets::{assert_no_secret_at_rest, assert_no_secret_captured, capture, file_mode};

struct Cli {
    settings: PathBuf,
    db: PathBuf,
    browser: String,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(w: &OAuthWorld) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(&settings, toml::to_string(&w.settings).expect("TOML")).expect("write");
        let browser = format!(
            "{} browse --ca {}",
            env!("CARGO_BIN_EXE_fake-provider"),
            w.ca_pem().display()
        );
        Cli {
            settings,
            db: dir.path().join("cli.db"),
            browser,
            _dir: dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(tests::mailsync_host())
            .arg("--settings")
            .arg(&self.settings)
            .arg("--db")
            .arg(&self.db)
            .arg("--cache-dir")
            .arg(tests::component_cache())
            .args(["--mailbox", "anna", "--log"])
            .arg("debug,plugin=trace,host_harness=trace,cranelift_codegen=warn,wasmtime_cranelift=warn,regalloc2=warn")
            .args(args)
            .env("BROWSER", &self.browser)
            .output()
            .expect("run mailsync-host");
        capture(&String::from_utf8_lossy(&output.stdout));
        capture(&String::from_utf8_lossy(&output.stderr));
        output
    }
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A loopback redirect URI whose port the `link` command chooses when it listens (RFC 8252).
const ANY_PORT_REDIRECT_URI: &str = "http://127.0.0.1:0/oauth/callback";

#[tokio::test(flavor = "multi_thread")]
async fn link_status_refresh_and_unlink_from_the_command_line() {
    let w =
        OAuthWorld::with(|s| s.platform.redirect_uri = Some(ANY_PORT_REDIRECT_URI.into())).await;
    let cli = Cli::new(&w);

    let cli = std::sync::Arc::new(cli);
    let run = |args: &'static [&'static str]| {
        let cli = cli.clone();
        tokio::task::spawn_blocking(move || cli.run(args))
    };
    let out = stdout(&run(&["status"]).await.unwrap());
    assert!(
        out.contains("unlinked") && out.contains("Link mailbox  available"),
        "{out}"
    );

    let out = stdout(&run(&["link", "--provider", "google"]).await.unwrap());
    assert!(out.contains("Open this page"), "{out}");
    assert!(
        out.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A") && !out.contains("127.0.0.1%3A0%2F"),
        "the port the command listened on, not 0: {out}"
    );
    assert!(out.contains("Linked."), "{out}");
    assert!(out.contains("anna@example.nl"), "{out}");
    assert!(out.contains("XOAUTH2 (read-only)"), "{out}");

    let out = stdout(&run(&["refresh", "--force"]).await.unwrap());
    assert!(out.contains("Access token refreshed"), "{out}");

    let out = stdout(&run(&["--lang", "nl", "status"]).await.unwrap());
    assert!(out.contains("State         linked"), "{out}");

    let out = stdout(&run(&["unlink"]).await.unwrap());
    assert!(
        out.contains("Mailbox removed.") && out.contains("unlinked"),
        "{out}"
    );
    assert_eq!(w.google.world().revoked.len(), 1, "revoked at the provider");

    let failed = run(&[
        "--lang",
        "nl",
        "link",
        "--provider",
        "yahoo",
        "--no-browser",
    ])
    .await
    .unwrap();
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("yahoo kan niet gekozen worden"), "{err}");
    assert_no_secret_captured();
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_messages_and_the_last_sync_from_the_command_line() {
    let w = OAuthWorld::with_dovecot_and(tests::dovecot::STANDARD_FOLDERS, |s| {
        s.platform.redirect_uri = Some(ANY_PORT_REDIRECT_URI.into())
    })
    .await;
    let mut seeder = w
        .dovecot
        .as_ref()
        .expect("dovecot")
        .seeder("anna@example.nl")
        .await;
    for i in 0..3 {
        let m = tests::mail_fixtures::plain(
            &format!("cli-{i}"),
            "Klant <klant@example.com>",
            "anna@example.nl",
            &format!("Offerte {i}"),
            "body",
        );
        seeder.append("INBOX", &m).await;
    }
    let cli = std::sync::Arc::new(Cli::new(&w));
    let run = |args: &'static [&'static str]| {
        let cli = cli.clone();
        tokio::task::spawn_blocking(move || cli.run(args))
    };
    stdout(&run(&["link", "--provider", "google"]).await.unwrap());
    let out = stdout(&run(&["status"]).await.unwrap());
    assert!(out.contains("last sync: never"), "{out}");
    let nothing = run(&["sync"]).await.unwrap();
    assert!(!nothing.status.success());
    assert!(
        String::from_utf8_lossy(&nothing.stderr).contains("Edit folders"),
        "nothing mapped yet"
    );
    stdout(&run(&["map", "inbox=INBOX"]).await.unwrap());

    let out = stdout(&run(&["sync"]).await.unwrap());
    assert!(out.contains("INBOX") && out.contains("new     3"), "{out}");
    let out = stdout(&run(&["messages", "--json"]).await.unwrap());
    let listed: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let subjects: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["subject"].as_str())
        .collect();
    assert_eq!(subjects.len(), 3, "{out}");
    assert!(subjects.contains(&"Offerte 1"), "{out}");
    let out = stdout(&run(&["messages", "--show", "1"]).await.unwrap());
    assert!(out.contains("\"text_body\""), "the full record: {out}");
    let out = stdout(&run(&["status"]).await.unwrap());
    assert!(
        out.contains("last sync at") && out.contains("new     3"),
        "{out}"
    );
    assert_no_secret_captured();
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_sealed_at_rest_and_a_key_rotation_keeps_the_mailbox_linked() {
    let w =
        OAuthWorld::with(|s| s.platform.redirect_uri = Some(ANY_PORT_REDIRECT_URI.into())).await;
    let cli = std::sync::Arc::new(Cli::new(&w));
    let run = |args: &'static [&'static str]| {
        let cli = cli.clone();
        tokio::task::spawn_blocking(move || cli.run(args))
    };
    let out = stdout(&run(&["link", "--provider", "google"]).await.unwrap());
    assert!(out.contains("Linked."), "{out}");
    let out = stdout(&run(&["refresh", "--force"]).await.unwrap());
    assert!(out.contains("Access token refreshed"), "{out}");
    assert_no_secret_at_rest(&cli.db, 1);
    let key_file = PathBuf::from(format!("{}.key", cli.db.display()));
    assert_eq!(file_mode(&key_file), 0o600);
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    // While another process (here, a handle of this one) has the database open, the rotation
    // is refused before it changes anything: that process would go on sealing under the old key.
    let other = host_harness::Database::open(&cli.db).expect("another user of the database");
    let refused = run(&["rotate-key"]).await.unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("in use") && said.contains("not rotated"),
        "{said}"
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), old_key);
    assert!(!PathBuf::from(format!("{}.new", key_file.display())).exists());
    drop(other);

    let out = stdout(&run(&["rotate-key"]).await.unwrap());
    assert!(out.contains("stored values sealed again"), "{out}");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_key, new_key);
    assert_eq!(file_mode(&key_file), 0o600);
    assert!(!PathBuf::from(format!("{}.new", key_file.display())).exists());

    // The refresh token still opens: the mailbox stays linked and refreshes.
    let out = stdout(&run(&["status"]).await.unwrap());
    assert!(out.contains("State         linked"), "{out}");
    let out = stdout(&run(&["refresh", "--force"]).await.unwrap());
    assert!(out.contains("Access token refreshed"), "{out}");
    assert_no_secret_at_rest(&cli.db, 1);

    // With the old key the values no longer open.
    std::fs::write(&key_file, old_key).unwrap();
    let failed = run(&["refresh", "--force"]).await.unwrap();
    assert!(!failed.status.success());
    assert_no_secret_captured();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_sent_from_the_command_line_goes_out_once_however_often_it_is_run() {
    let setup = tests::oauth_world::DovecotSetup {
        submission: true,
        ..tests::oauth_world::DovecotSetup::new(tests::dovecot::STANDARD_FOLDERS)
    };
    let w = OAuthWorld::with_dovecot_setup_and(setup, |s| {
        s.platform.redirect_uri = Some(ANY_PORT_REDIRECT_URI.into())
    })
    .await;
    let mut seeder = w
        .dovecot
        .as_ref()
        .expect("dovecot")
        .seeder("anna@example.nl")
        .await;
    let asked = tests::mail_fixtures::plain(
        "vraag-1",
        "Bob de Vries <bob@example.nl>",
        "anna@example.nl",
        "Offerte",
        "Wat kost het?",
    );
    seeder.append("INBOX", &asked).await;
    let cli = std::sync::Arc::new(Cli::new(&w));
    let run = |args: Vec<String>| {
        let cli = cli.clone();
        tokio::task::spawn_blocking(move || {
            cli.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    stdout(&run(args(&["link", "--provider", "google"])).await.unwrap());
    stdout(
        &run(args(&[
            "map",
            "inbox=INBOX",
            "sent=Sent",
            "archive=Archive",
        ]))
        .await
        .unwrap(),
    );
    stdout(&run(args(&["sync"])).await.unwrap());
    let listed = stdout(&run(args(&["messages", "--json"])).await.unwrap());
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    let asked_id = listed[0]["id"]
        .as_i64()
        .expect("the message's id")
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let quote = dir.path().join("offerte.txt");
    std::fs::write(&quote, "Offerte: 1.200 euro").unwrap();
    let send = args(&[
        "send",
        "--to",
        "bob@example.nl",
        "--text",
        "Beste Bob,\n\nZie de offerte.\n",
        "--attach",
        quote.to_str().unwrap(),
        "--reply-to",
        &asked_id,
    ]);
    let out = stdout(&run(send.clone()).await.unwrap());
    assert!(out.contains("state:      sent (attempts: 1)"), "{out}");
    let message_id = out
        .lines()
        .find_map(|l| l.strip_prefix("message-id: <"))
        .and_then(|l| l.strip_suffix('>'))
        .expect("the Message-ID printed")
        .to_string();
    // The same command again: the same entry, already sent; nothing goes out.
    let again = stdout(&run(send).await.unwrap());
    assert!(again.contains("was used before"), "{again}");
    assert!(again.contains(&message_id), "{again}");
    let headers = tests::send_world::delivered(&w, "bob@example.nl", &message_id).await;
    assert_eq!(headers.len(), 1, "delivered once");
    assert!(
        headers[0].contains("Subject: Re: Offerte"),
        "{}",
        headers[0]
    );
    assert!(
        headers[0].contains("<vraag-1@mail.example.org>"),
        "threaded: {}",
        headers[0]
    );
    // The send marked the message answered; `act` archives it, as another client then sees.
    let flags = seeder.flags("INBOX").await;
    assert!(
        flags[0].1.iter().any(|f| f == "\\Answered"),
        "answered after the reply: {flags:?}"
    );
    let archived = stdout(
        &run(args(&["act", &asked_id, "--move-to", "archive"]))
            .await
            .unwrap(),
    );
    assert!(archived.contains("state:      applied"), "{archived}");
    assert!(
        archived.contains("<vraag-1@mail.example.org>"),
        "{archived}"
    );
    let moved = tests::send_world::in_folder(
        &w,
        "anna@example.nl",
        "Archive",
        "<vraag-1@mail.example.org>",
    )
    .await;
    assert_eq!(moved.len(), 1, "in Archive");
    assert!(seeder.flags("INBOX").await.is_empty(), "gone from INBOX");
    let listed = stdout(&run(args(&["messages", "--json"])).await.unwrap());
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(listed[0]["folder"], "archive", "{listed}");
    // Two actions at once, or none, are refused before anything is queued.
    let both = run(args(&["act", &asked_id, "--seen", "--flag"]))
        .await
        .unwrap();
    assert!(!both.status.success());
    assert_no_secret_captured();
}
