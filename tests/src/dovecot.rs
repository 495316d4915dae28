//! A real Dovecot for the tests: its own instance per test, from a config in a temporary
//! directory, on free loopback ports, with IMAPS under a certificate of the test CA, XOAUTH2 and
//! OAUTHBEARER checked against the fake provider's introspection endpoint, and a plain-password
//! login used only to seed mail.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::tls_server::TestPki;

const DOVECOT: &str = "/usr/sbin/dovecot";
pub const SEED_PASSWORD: &str = "seed-only-password";

/// A folder the instance creates for every user, with its special-use attribute.
pub struct ConfiguredFolder {
    pub name: &'static str,
    pub special_use: &'static str,
}

/// Dovecot's own default set, as in most installations.
pub const STANDARD_FOLDERS: &[ConfiguredFolder] = &[
    ConfiguredFolder {
        name: "Drafts",
        special_use: "\\Drafts",
    },
    ConfiguredFolder {
        name: "Sent",
        special_use: "\\Sent",
    },
    ConfiguredFolder {
        name: "Trash",
        special_use: "\\Trash",
    },
    ConfiguredFolder {
        name: "Junk",
        special_use: "\\Junk",
    },
    ConfiguredFolder {
        name: "Archive",
        special_use: "\\Archive",
    },
];

/// A Gmail account of a Dutch user: localised names under `[Gmail]`, `\All` instead of
/// `\Archive`.
pub const DUTCH_GMAIL_FOLDERS: &[ConfiguredFolder] = &[
    ConfiguredFolder {
        name: "[Gmail]/Alle berichten",
        special_use: "\\All",
    },
    ConfiguredFolder {
        name: "[Gmail]/Belangrijk",
        special_use: "\\Important",
    },
    ConfiguredFolder {
        name: "[Gmail]/Concepten",
        special_use: "\\Drafts",
    },
    ConfiguredFolder {
        name: "[Gmail]/Met ster",
        special_use: "\\Flagged",
    },
    ConfiguredFolder {
        name: "[Gmail]/Prullenbak",
        special_use: "\\Trash",
    },
    ConfiguredFolder {
        name: "[Gmail]/Spam",
        special_use: "\\Junk",
    },
    ConfiguredFolder {
        name: "[Gmail]/Verzonden berichten",
        special_use: "\\Sent",
    },
];

pub struct Dovecot {
    pub imaps_port: u16,
    pub imap_port: u16,
    /// The LMTP and SASL ports a submission server uses, when started for one.
    pub submission: Option<SubmissionPorts>,
    dir: tempfile::TempDir,
    child: Child,
}

/// Where a submission server (Postfix) reaches this Dovecot: LMTP to deliver, and its auth
/// service to check the tokens it is given (the same oauth2 passdb as IMAP's).
#[derive(Debug, Clone, Copy)]
pub struct SubmissionPorts {
    pub lmtp: u16,
    pub auth: u16,
}

/// Waits until the server `child` greets with a line holding `greeting` on loopback `port`:
/// `Err` when it exits, another server answers, or `limit` passes.
pub fn wait_for_greeting(
    child: &mut Child,
    port: u16,
    greeting: &str,
    limit: Duration,
) -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status})"));
        }
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            let _ = BufReader::new(stream).read_line(&mut line);
            if line.contains(greeting) {
                return Ok(());
            }
            if !line.is_empty() {
                return Err(format!("another server answered: {:?}", line.trim_end()));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("it did not greet within {} s", limit.as_secs()))
}

/// A loopback port free now (a server started on it later may still lose it to another).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Dovecot {
    /// Starts an instance whose certificate is `pki`'s and whose tokens `introspection_url`
    /// judges. Fails, saying how to install it, when Dovecot is missing.
    pub fn start(pki: &TestPki, introspection_url: &str, folders: &[ConfiguredFolder]) -> Self {
        Self::start_with_mechanisms(pki, introspection_url, folders, "xoauth2 oauthbearer", "")
    }

    /// As `start`, offering only the token `mechanisms` named (`xoauth2`, `oauthbearer`), with
    /// `settings` (whole lines, such as `mail_debug = yes`) added to its configuration.
    pub fn start_with_mechanisms(
        pki: &TestPki,
        introspection_url: &str,
        folders: &[ConfiguredFolder],
        mechanisms: &str,
        settings: &str,
    ) -> Self {
        Self::launch(pki, introspection_url, folders, mechanisms, settings, false)
    }

    /// As `start`, with LMTP and auth listeners for a submission server (`Postfix::start`).
    pub fn start_for_submission(
        pki: &TestPki,
        introspection_url: &str,
        folders: &[ConfiguredFolder],
    ) -> Self {
        assert!(
            Path::new("/usr/lib/dovecot/lmtp").exists(),
            "Dovecot's LMTP server is not installed: run `make test`, which installs it, or \
             `apt-get install dovecot-lmtpd`"
        );
        Self::launch(
            pki,
            introspection_url,
            folders,
            "xoauth2 oauthbearer",
            "",
            true,
        )
    }

    fn launch(
        pki: &TestPki,
        introspection_url: &str,
        folders: &[ConfiguredFolder],
        mechanisms: &str,
        settings: &str,
        for_submission: bool,
    ) -> Self {
        assert!(
            Path::new(DOVECOT).exists(),
            "Dovecot is not installed: run `make test`, which installs it, or \
             `apt-get install dovecot-imapd`"
        );
        let mut dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub)).expect("Dovecot directory");
        }
        let owned = Command::new("chown")
            .args(["nobody:nogroup"])
            .arg(d.join("mail"))
            .status()
            .expect("chown");
        assert!(owned.success(), "chown of the mail directory failed");
        std::fs::write(d.join("cert.pem"), &pki.server_cert_pem).expect("cert");
        std::fs::write(d.join("key.pem"), &pki.server_key_pem).expect("key");
        std::fs::write(
            d.join("dovecot-oauth2.conf.ext"),
            format!(
                "introspection_url = {introspection_url}\nintrospection_mode = post\n\
                 username_attribute = email\nactive_attribute = active\nactive_value = true\n\
                 timeout_msecs = 20000\nmax_parallel_connections = 64\n"
            ),
        )
        .expect("oauth2 config");
        // Dovecot cannot bind port 0 and say which port it got: free ports are picked, and
        // another process may take one first. The instance then fails to start, or a stranger
        // answers; its own greeting tells them apart, and a new pair of ports is tried.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (imaps_port, imap_port) = (free_port(), free_port());
            let submission = for_submission.then(|| SubmissionPorts {
                lmtp: free_port(),
                auth: free_port(),
            });
            let greeting = format!("mailsync-test-{imaps_port}-{}", rand::random::<u32>());
            let listeners = submission.map(submission_config).unwrap_or_default();
            std::fs::write(
                d.join("dovecot.conf"),
                config(d, imaps_port, imap_port, folders, mechanisms, &greeting)
                    + &listeners
                    + settings,
            )
            .expect("config");
            let log = std::fs::File::create(d.join("stderr.log")).expect("log");
            let child = Command::new(DOVECOT)
                .arg("-F")
                .arg("-c")
                .arg(d.join("dovecot.conf"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start dovecot");
            let mut dovecot = Dovecot {
                imaps_port,
                imap_port,
                submission,
                dir,
                child,
            };
            match dovecot.wait_for_greeting(&greeting) {
                Ok(()) => return dovecot,
                Err(why) if attempts < 5 => {
                    eprintln!("Dovecot on ports {imaps_port}/{imap_port}: {why}; new ports");
                    dovecot.stop();
                    dir = std::mem::replace(&mut dovecot.dir, tempfile::tempdir().expect("dir"));
                }
                Err(why) => panic!("Dovecot did not start: {why}; its log:\n{}", dovecot.log()),
            }
        }
    }

    /// Waits until this instance greets with `greeting` on its plain port (it binds both ports
    /// before it greets on either, and exits if it cannot).
    fn wait_for_greeting(&mut self, greeting: &str) -> Result<(), String> {
        wait_for_greeting(
            &mut self.child,
            self.imap_port,
            greeting,
            Duration::from_secs(10),
        )
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// How many times sessions that logged in with a token (the plugin's, not a seeder's) opened
    /// `mailbox` (EXAMINE or SELECT), by the log of an instance started with `mail_debug = yes`.
    pub fn opened_by_token_sessions(&self, mailbox: &str) -> usize {
        let log = self.log();
        let sessions: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Login: ") && l.contains("method=XOAUTH2"))
            .filter_map(|l| l.split("session=<").nth(1)?.split('>').next())
            .collect();
        let opened = format!("Mailbox {mailbox}: Mailbox opened");
        log.lines()
            .filter(|l| l.contains(&opened))
            .filter(|l| sessions.iter().any(|s| l.contains(&format!("<{s}>"))))
            .count()
    }

    /// The IMAP connections each user has open now, by Dovecot's own count (`doveadm who`):
    /// real sessions, whoever opened them.
    pub fn connections_per_user(&self) -> std::collections::BTreeMap<String, usize> {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .args(["who", "-1"])
            .output()
            .expect("run doveadm who");
        assert!(
            out.status.success(),
            "doveadm who failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut counts = std::collections::BTreeMap::new();
        // One line per connection: user, service, pid, address.
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [user, "imap", ..] = fields[..] {
                *counts.entry(user.to_string()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// What Dovecot logged, for a failing test's message.
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("dovecot.log"))
    }

    /// Writes `messages` straight into `user`'s INBOX (Maildir), for mailboxes too big to
    /// APPEND quickly; Dovecot indexes them when the folder is next opened.
    pub fn fill_inbox(&self, user: &str, messages: impl IntoIterator<Item = Vec<u8>>) {
        let home = self.dir.path().join("mail").join(user);
        let maildir = home.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("Maildir");
        }
        for (i, message) in messages.into_iter().enumerate() {
            let name = format!("{}.M{i}P1.bench,S={}:2,", 1_700_000_000 + i, message.len());
            std::fs::write(maildir.join("cur").join(name), message).expect("message file");
        }
        let owned = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(&home)
            .status()
            .expect("chown");
        assert!(owned.success(), "chown of {} failed", home.display());
    }

    /// `imaps://127.0.0.1:<port>`, the endpoint a provider's settings name.
    pub fn imaps_endpoint(&self) -> String {
        format!("imaps://127.0.0.1:{}", self.imaps_port)
    }

    /// A seeding session as `user` (plain LOGIN on the plain port; never used by the plugin).
    pub async fn seeder(&self, user: &str) -> Seeder {
        Seeder::connect(self.imap_port, user).await
    }
}

impl Seeder {
    /// A seeding session as `user` on the plain port `port` of a running instance.
    pub async fn connect(port: u16, user: &str) -> Seeder {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to Dovecot");
        let mut seeder = Seeder {
            stream: BufReader::new(stream),
            tag: 0,
        };
        seeder.read_line().await;
        seeder
            .run(&format!("LOGIN \"{user}\" \"{SEED_PASSWORD}\""))
            .await;
        seeder
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(
    d: &Path,
    imaps_port: u16,
    imap_port: u16,
    folders: &[ConfiguredFolder],
    mechanisms: &str,
    greeting: &str,
) -> String {
    let d = d.display();
    let mut mailboxes = String::new();
    for f in folders {
        mailboxes.push_str(&format!(
            "  mailbox \"{}\" {{\n    special_use = {}\n    auto = subscribe\n  }}\n",
            f.name, f.special_use
        ));
    }
    format!(
        r#"base_dir = {d}/run
state_dir = {d}/state
instance_name = mailsync-test-{imaps_port}
log_path = {d}/dovecot.log
protocols = imap
login_greeting = {greeting}
listen = 127.0.0.1
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_failure_delay = 0
mail_max_userip_connections = 100
mail_fsync = never
default_process_limit = 3000
default_client_limit = 4000
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
  # Dovecot's high-performance mode: login processes serve many connections, and spare ones
  # wait, as on a production server.
  service_count = 0
  process_min_avail = 2
}}
service imap {{
  process_min_avail = 4
}}
auth_mechanisms = plain login {mechanisms}
passdb {{
  driver = oauth2
  mechanisms = {mechanisms}
  args = {d}/dovecot-oauth2.conf.ext
}}
passdb {{
  driver = static
  mechanisms = plain login
  args = password={SEED_PASSWORD}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%u allow_all_users=yes
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"#
    )
}

/// LMTP for delivery and the auth service on TCP, for a submission server on loopback (no
/// socket paths: Postfix asks over TCP). LMTP delivers to any user the static userdb allows,
/// and `user+Folder@…` into that user's folder (how a server keeps a copy in Sent).
fn submission_config(ports: SubmissionPorts) -> String {
    let SubmissionPorts { lmtp, auth } = ports;
    format!(
        r#"protocols = imap lmtp
recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service auth {{
  inet_listener {{
    address = 127.0.0.1
    port = {auth}
  }}
}}
"#
    )
}

/// A plain IMAP session that creates and removes folders and appends mail.
pub struct Seeder {
    stream: BufReader<TcpStream>,
    tag: u32,
}

impl Seeder {
    async fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stream
            .read_line(&mut line)
            .await
            .expect("read from Dovecot");
        line
    }

    /// Runs a command; panics unless it ends OK.
    pub async fn run(&mut self, command: &str) {
        self.answers(command).await;
    }

    /// Runs a command and returns its untagged answers (without literals); panics unless it
    /// ends OK.
    pub async fn answers(&mut self, command: &str) -> Vec<String> {
        let tag = self.send(command).await;
        self.until_tagged(&tag, command).await
    }

    /// Sends `command` under a new tag, and returns the tag.
    async fn send(&mut self, command: &str) -> String {
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        self.stream
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .expect("write to Dovecot");
        tag
    }

    async fn until_tagged(&mut self, tag: &str, what: &str) -> Vec<String> {
        let mut untagged = Vec::new();
        loop {
            let line = self.read_line().await;
            assert!(
                !line.is_empty(),
                "Dovecot closed the seeding session during {what}"
            );
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{what}: {line}");
                return untagged;
            }
            if line.starts_with("* ") {
                untagged.push(line.trim_end().to_string());
            }
        }
    }

    /// Sends IDLE and waits for the server's continuation; returns the tag `end_idle` needs.
    pub async fn start_idle(&mut self) -> String {
        let tag = self.send("IDLE").await;
        loop {
            let line = self.read_line().await;
            assert!(!line.is_empty(), "Dovecot closed the session before IDLE");
            if line.starts_with('+') {
                return tag;
            }
            assert!(
                !line.starts_with(&format!("{tag} ")),
                "IDLE refused: {line}"
            );
        }
    }

    /// Ends the IDLE that `start_idle` began under `tag`; returns what the server sent meanwhile.
    pub async fn end_idle(&mut self, tag: &str) -> Vec<String> {
        self.stream
            .get_mut()
            .write_all(b"DONE\r\n")
            .await
            .expect("write to Dovecot");
        self.until_tagged(tag, "IDLE").await
    }

    /// `UID FETCH <set> (BODY.PEEK[])`, its literals read and dropped as bytes (mail need not be
    /// UTF-8); returns how many messages came.
    pub async fn fetch_bodies(&mut self, set: &str) -> usize {
        let command = format!("UID FETCH {set} (BODY.PEEK[])");
        self.literals(&command).await.len()
    }

    /// The header block of the message `uid` of the selected folder, read without changing it.
    pub async fn header_block(&mut self, uid: &str) -> String {
        let command = format!("UID FETCH {uid} (BODY.PEEK[HEADER])");
        let literals = self.literals(&command).await;
        String::from_utf8_lossy(literals.first().map_or(&[][..], Vec::as_slice)).into_owned()
    }

    /// Runs `command` and returns the literals of its answer, in order.
    async fn literals(&mut self, command: &str) -> Vec<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let tag = self.send(command).await;
        let mut literals = Vec::new();
        loop {
            let mut line = Vec::new();
            self.stream
                .read_until(b'\n', &mut line)
                .await
                .expect("read from Dovecot");
            assert!(
                !line.is_empty(),
                "Dovecot closed the session during {command}"
            );
            if line.starts_with(format!("{tag} ").as_bytes()) {
                assert!(line[tag.len() + 1..].starts_with(b"OK"), "{command} failed");
                return literals;
            }
            // A literal `{n}` at the end of a line: its bytes, then the line goes on.
            let text = String::from_utf8_lossy(&line);
            if let Some(n) = text
                .trim_end()
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut literal = vec![0; n];
                self.stream
                    .read_exact(&mut literal)
                    .await
                    .expect("read a literal from Dovecot");
                literals.push(literal);
            }
        }
    }

    /// Each message's UID and flags (`\Seen`, …) in `folder`, read without changing them.
    pub async fn flags(&mut self, folder: &str) -> Vec<(u32, Vec<String>)> {
        self.run(&format!(
            "EXAMINE \"{}\"",
            plugin::imap::utf7::encode(folder)
        ))
        .await;
        let answers = self.answers("UID FETCH 1:* (FLAGS)").await;
        answers.iter().filter_map(|a| uid_and_flags(a)).collect()
    }

    /// Creates `name` (UTF-8; sent as modified UTF-7).
    pub async fn create(&mut self, name: &str) {
        self.run(&format!("CREATE \"{}\"", plugin::imap::utf7::encode(name)))
            .await;
    }

    pub async fn delete(&mut self, name: &str) {
        self.run(&format!("DELETE \"{}\"", plugin::imap::utf7::encode(name)))
            .await;
    }

    /// Appends one message to `folder`, with LITERAL+ (no round trip for the literal).
    pub async fn append(&mut self, folder: &str, message: &[u8]) {
        self.append_with(folder, "", None, message).await
    }

    /// `append` with flags (`\\Seen`, space-separated) and an internal date
    /// (`01-Jan-2026 10:00:00 +0000`).
    pub async fn append_with(
        &mut self,
        folder: &str,
        flags: &str,
        internal_date: Option<&str>,
        message: &[u8],
    ) {
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        let date = internal_date
            .map(|d| format!(" \"{d}\""))
            .unwrap_or_default();
        let head = format!(
            "{tag} APPEND \"{}\" ({flags}){date} {{{}+}}\r\n",
            plugin::imap::utf7::encode(folder),
            message.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.expect("write");
        stream.write_all(message).await.expect("write");
        stream.write_all(b"\r\n").await.expect("write");
        self.until_tagged(&tag, "APPEND").await;
    }
}

/// `* 3 FETCH (UID 7 FLAGS (\Seen \Flagged))`: 7 and its flags.
fn uid_and_flags(answer: &str) -> Option<(u32, Vec<String>)> {
    let after_uid = &answer[answer.find("UID ")? + 4..];
    let digits: String = after_uid.chars().take_while(char::is_ascii_digit).collect();
    let after_flags = &answer[answer.find("FLAGS (")? + 7..];
    let flags = &after_flags[..after_flags.find(')')?];
    let flags = flags.split_whitespace().map(str::to_string).collect();
    Some((digits.parse().ok()?, flags))
}
