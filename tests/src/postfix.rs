//! A real submission server for the tests: Debian's Postfix, its own instance per test from a
//! configuration directory of its own, on a free loopback port. It requires STARTTLS under the
//! test CA's certificate, authenticates XOAUTH2 and OAUTHBEARER through Dovecot's SASL (the
//! oauth2 passdb that checks the fake provider's tokens), and delivers by LMTP into that Dovecot.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::dovecot::{Dovecot, free_port, wait_for_greeting};
use crate::tls_server::TestPki;

const POSTFIX: &str = "/usr/sbin/postfix";
const MASTER: &str = "/usr/lib/postfix/sbin/master";

/// The domain whose mail Postfix delivers into the test Dovecot.
pub const LOCAL_DOMAIN: &str = "example.nl";

pub struct Postfix {
    /// The submission port (STARTTLS).
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Postfix {
    /// Starts an instance that authenticates and delivers through `dovecot` (started with
    /// `Dovecot::start_for_submission`). Fails, saying how to install it, when Postfix is missing.
    /// With `keeps_sent`, it files a copy of each message a user submits in that user's Sent,
    /// as Gmail and Microsoft do (a recipient `user+Sent@…` added by `sender_bcc_maps`).
    pub fn start(pki: &TestPki, dovecot: &Dovecot, keeps_sent: bool) -> Self {
        assert!(
            Path::new(POSTFIX).exists() && Path::new(MASTER).exists(),
            "Postfix is not installed: run `make test`, which installs it, or \
             `apt-get install postfix dovecot-lmtpd`"
        );
        let ports = dovecot
            .submission
            .expect("a Dovecot started with Dovecot::start_for_submission");
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        for sub in ["queue", "data"] {
            std::fs::create_dir_all(d.join(sub)).expect("Postfix directory");
        }
        run("chown", &["postfix".as_ref(), d.join("data").as_os_str()]);
        std::fs::write(d.join("cert.pem"), &pki.server_cert_pem).expect("cert");
        std::fs::write(d.join("key.pem"), &pki.server_key_pem).expect("key");
        let master_cf = std::fs::read_to_string("/etc/postfix/master.cf").expect("master.cf");
        // Postfix cannot bind port 0 and say which it got: a free port is picked, and another
        // process may take it first. Its banner tells it apart; a new port is tried then.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = free_port();
            let banner = format!("mailsync-test-{port}-{}", rand::random::<u32>());
            std::fs::write(d.join("master.cf"), master_config(&master_cf, port))
                .expect("master.cf");
            let mut main = main_config(d, ports.lmtp, ports.auth, &banner);
            if keeps_sent {
                std::fs::write(d.join("sent_copy"), "/^([^@+]+)@(.+)$/ ${1}+Sent@${2}\n")
                    .expect("sent_copy");
                main.push_str(&format!(
                    "sender_bcc_maps = regexp:{}/sent_copy\n",
                    d.display()
                ));
            }
            std::fs::write(d.join("main.cf"), main).expect("main.cf");
            // `postfix check` makes the queue's directories; `master -d` stays in the foreground.
            run(POSTFIX, &["-c".as_ref(), d.as_os_str(), "check".as_ref()]);
            let child = Command::new(MASTER)
                .arg("-c")
                .arg(d)
                .arg("-d")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Postfix's master");
            let mut child = child;
            match wait_for_greeting(&mut child, port, &banner, Duration::from_secs(15)) {
                Ok(()) => return Postfix { port, dir, child },
                Err(why) => {
                    stop(&mut child);
                    let log = std::fs::read_to_string(d.join("maillog")).unwrap_or_default();
                    assert!(
                        attempts < 5,
                        "Postfix did not start: {why}; its log:\n{log}"
                    );
                    eprintln!("Postfix on port {port}: {why}; a new port");
                }
            }
        }
    }

    /// `smtp://127.0.0.1:PORT`, the submission endpoint a provider's settings name.
    pub fn endpoint(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// What Postfix logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

/// TERM to the master, which ends its children too.
fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

impl Drop for Postfix {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn run(program: &str, args: &[&std::ffi::OsStr]) {
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed ({status})");
}

/// Debian's master.cf with the `smtp` service on `127.0.0.1:PORT`, and every service out of a
/// chroot (the queue lives outside `/var/spool/postfix`).
fn master_config(debian: &str, port: u16) -> String {
    let mut out = String::new();
    for line in debian.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let service = !line.starts_with(['#', ' ', '\t']) && fields.len() >= 8;
        let line = if service && fields[0] == "smtp" && fields[1] == "inet" {
            format!("127.0.0.1:{port} inet n - n - - smtpd")
        } else if service {
            let mut fields = fields.clone();
            fields[4] = "n";
            fields.join(" ")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A domain whose recipients Postfix refuses at `RCPT TO`, as a server refuses an unknown user.
pub const REFUSED_DOMAIN: &str = "refused.example";

fn main_config(d: &Path, lmtp: u16, auth: u16, banner: &str) -> String {
    let d = d.display();
    format!(
        r#"compatibility_level = 3.7
queue_directory = {d}/queue
data_directory = {d}/data
myhostname = mail.{LOCAL_DOMAIN}
smtpd_banner = $myhostname ESMTP {banner}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
virtual_mailbox_domains = {LOCAL_DOMAIN}
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth}
smtpd_sasl_auth_enable = yes
smtpd_tls_cert_file = {d}/cert.pem
smtpd_tls_key_file = {d}/key.pem
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_recipient_restrictions = check_recipient_access inline:{{ {REFUSED_DOMAIN}=REJECT }}, permit_sasl_authenticated, reject
smtpd_relay_restrictions = permit_sasl_authenticated, reject
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
"#
    )
}
