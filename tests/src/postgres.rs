//! A throwaway PostgreSQL cluster per test: `initdb` in a temporary directory, `pg_ctl` on a free
//! loopback port (its Unix socket kept in that directory), run as the unprivileged `postgres`
//! user when the tests run as root, and stopped when dropped. Fails with how to install
//! PostgreSQL when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::dovecot::free_port;

/// Where Debian and Ubuntu put each PostgreSQL version's programs (`15/bin`, `17/bin`, ...).
const INSTALLED: &str = "/usr/lib/postgresql";
/// The role the cluster is made with (trusted on loopback: tests only).
pub const ROLE: &str = "mailsync";

pub struct PostgresCluster {
    /// `postgres://mailsync@127.0.0.1:PORT/postgres`
    pub url: String,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// The programs of the newest PostgreSQL installed (Debian 12 ships 15, Ubuntu 24.04 16,
/// Debian 13 17); panics with how to install one when there is none.
fn bin() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND.get_or_init(newest_installed).clone()
}

fn newest_installed() -> PathBuf {
    let newest = std::fs::read_dir(INSTALLED)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed (no {INSTALLED}/*/bin/initdb): run `make test`, which \
             installs it, or `apt-get install postgresql`"
        ),
    }
}

fn running_as_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL program, as the `postgres` user when this process is root (the server
/// refuses to run as root).
fn run(program: &str, args: &[&str]) -> std::process::Output {
    let path = bin().join(program);
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
        Self::start_configured(None)
    }

    /// A cluster that takes TLS connections only, with `pki`'s server certificate (for
    /// 127.0.0.1): a connection in the clear is refused.
    pub fn start_with_tls(pki: &crate::tls_server::TestPki) -> Self {
        Self::start_configured(Some(pki))
    }

    fn start_configured(tls: Option<&crate::tls_server::TestPki>) -> Self {
        bin(); // Fails with how to install PostgreSQL when it is missing.
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
        let mut options = String::new();
        if let Some(pki) = tls {
            options = Self::take_tls_only(&d, &data, pki);
        }
        // A port taken between choosing and binding fails the start: try another.
        for _ in 0..5 {
            let port = free_port();
            if Self::try_start(&d, &data, port, &options) {
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

    /// Writes `pki`'s certificate and key for the server, and lets clients in over TLS only;
    /// the server's options that switch TLS on.
    fn take_tls_only(d: &Path, data: &Path, pki: &crate::tls_server::TestPki) -> String {
        use std::os::unix::fs::PermissionsExt;
        let (cert, key) = (d.join("server.crt"), d.join("server.key"));
        std::fs::write(&cert, &pki.server_cert_pem).expect("the server certificate");
        std::fs::write(&key, &pki.server_key_pem).expect("the server key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("0600");
        let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\n";
        std::fs::write(data.join("pg_hba.conf"), hba).expect("pg_hba.conf");
        if running_as_root() {
            for file in [&cert, &key, &data.join("pg_hba.conf")] {
                let owned = Command::new("chown")
                    .arg("postgres")
                    .arg(file)
                    .status()
                    .expect("chown");
                assert!(owned.success(), "chown of {} failed", file.display());
            }
        }
        format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cert.display(),
            key.display()
        )
    }

    fn try_start(d: &Path, data: &Path, port: u16, extra: &str) -> bool {
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300{extra}",
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

    /// Restarts the server with the options it had (`pg_ctl restart -m fast`): every
    /// connection to it is cut, and it takes new ones once it is back.
    pub fn restart(&self) {
        let (data, log) = (self.data(), self.dir.path().join("log"));
        let restarted = run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &log.display().to_string(),
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
                "restart",
            ],
        );
        assert!(
            restarted.status.success(),
            "PostgreSQL did not restart: {}",
            String::from_utf8_lossy(&restarted.stderr)
        );
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
        let created = Command::new(bin().join("createdb"))
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
