//! A throwaway PostgreSQL cluster per test: `initdb` in a temporary directory, `pg_ctl` on a free
//! loopback port (its Unix socket kept in that directory), run as the unprivileged `postgres`
//! user when the tests run as root, and stopped when dropped. Fails with how to install
//! PostgreSQL when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::dovecot::free_port;

const BIN: &str = "/usr/lib/postgresql/15/bin";
/// The role the cluster is made with (trusted on loopback: tests only).
pub const ROLE: &str = "mailsync";

pub struct PostgresCluster {
    /// `postgres://mailsync@127.0.0.1:PORT/postgres`
    pub url: String,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn running_as_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL program, as the `postgres` user when this process is root (the server
/// refuses to run as root).
fn run(program: &str, args: &[&str]) -> std::process::Output {
    let path = Path::new(BIN).join(program);
    let mut command = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&path);
        c
    } else {
        Command::new(&path)
    };
    command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
}

impl PostgresCluster {
    pub fn start() -> Self {
        assert!(
            Path::new(BIN).join("initdb").exists(),
            "PostgreSQL is not installed: run `make test`, which installs it, or \
             `apt-get install postgresql`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().to_path_buf();
        if running_as_root() {
            let owned = Command::new("chown")
                .arg("postgres")
                .arg(&d)
                .status()
                .expect("chown");
            assert!(owned.success(), "chown of the cluster directory failed");
        }
        let data = d.join("data");
        let init = run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                ROLE,
                "--no-sync",
            ],
        );
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        // A port taken between choosing and binding fails the start: try another.
        for _ in 0..5 {
            let port = free_port();
            if Self::try_start(&d, &data, port) {
                return PostgresCluster {
                    url: format!("postgres://{ROLE}@127.0.0.1:{port}/postgres"),
                    port,
                    dir,
                };
            }
        }
        let log = std::fs::read_to_string(d.join("log")).unwrap_or_default();
        panic!("PostgreSQL did not start: {log}");
    }

    fn try_start(d: &Path, data: &Path, port: u16) -> bool {
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            d.display()
        );
        let started = run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &d.join("log").display().to_string(),
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ],
        );
        started.status.success()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

impl PostgresCluster {
    /// A new, empty database on this cluster; its URL.
    pub fn fresh_database(&self) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let created = Command::new(Path::new(BIN).join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                ROLE,
                &name,
            ])
            .output()
            .expect("run createdb");
        assert!(
            created.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        format!("postgres://{ROLE}@127.0.0.1:{}/{name}", self.port)
    }

    /// A cluster shared by the tests that run at the same time, stopped when the last of them
    /// lets go of it (and started again for a later one).
    pub fn shared() -> std::sync::Arc<PostgresCluster> {
        use std::sync::{Arc, Mutex, Weak};
        static SHARED: Mutex<Weak<PostgresCluster>> = Mutex::new(Weak::new());
        let mut held = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cluster) = held.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(PostgresCluster::start());
        *held = Arc::downgrade(&cluster);
        cluster
    }
}
