//! A `mailsync-host serve` process, one node of a cluster: started on a database with the
//! cluster's key and a name of its own, stopped cleanly (SIGTERM) or killed (SIGKILL).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use host_harness::at_rest::SecretKey;
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long a node may take to start listening (it migrates, and compiles the component).
const START_LIMIT: Duration = Duration::from_secs(120);

pub struct ServeNode {
    pub name: String,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    child: tokio::process::Child,
}

impl ServeNode {
    /// Starts a node and waits until it listens; `host` is the `mailsync-host` binary.
    pub async fn start(
        host: &Path,
        url: &str,
        key: &SecretKey,
        settings: &Path,
        name: &str,
    ) -> ServeNode {
        let mut child = tokio::process::Command::new(host)
            .arg("--settings")
            .arg(settings)
            .args([
                "--db",
                url,
                "--log",
                "warn",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .env(host_harness::at_rest::KEY_ENV, key.to_base64().as_str())
            .env("MAILSYNC_NODE", name)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", host.display()));
        let mut lines = BufReader::new(child.stdout.take().expect("its output")).lines();
        let listening = async {
            while let Some(line) = lines.next_line().await.expect("read its output") {
                if let Some(address) = line.strip_prefix("listening on ") {
                    return Some(address.to_string());
                }
            }
            None
        };
        // A node that hangs before it listens fails the test, rather than holding it for ever.
        match tokio::time::timeout(START_LIMIT, listening).await {
            Ok(Some(base)) => ServeNode {
                name: name.to_string(),
                base,
                child,
            },
            Ok(None) => panic!("{name} exited before it listened"),
            Err(_) => panic!("{name} did not listen within {START_LIMIT:?}"),
        }
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL: no clean shutdown; its leases simply stop being renewed.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("kill -9");
        self.child.wait().await.expect("reaped");
    }

    /// SIGTERM, and its exit status within a minute.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running");
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("stops within a minute")
            .expect("reaped")
    }
}
