//! A cluster's world for tests, benchmarks and the demo: a throwaway PostgreSQL, the fake
//! providers and a Dovecot, `mailboxes` linked and mapped through a host on that database, and
//! a settings file for `mailsync-host serve` nodes with the given `[service]` section.

use std::collections::BTreeMap;
use std::path::PathBuf;

use host_harness::Database;
use host_harness::at_rest::{KeyRing, SecretKey};
use host_harness::db::DatabaseUrl;

use crate::dovecot::STANDARD_FOLDERS;
use crate::many_mailboxes::{link_all, write_settings};
use crate::oauth_world::OAuthWorld;
use crate::postgres::PostgresCluster;

/// The platform's bearer token the nodes take.
pub const TOKEN: &str = "cluster-token-0123456789abcdef";

pub struct ClusterWorld {
    /// The test's own handle on the shared database.
    pub db: Database,
    pub url: String,
    pub key: SecretKey,
    pub world: OAuthWorld,
    pub settings: PathBuf,
    _dir: tempfile::TempDir,
    /// Dropped last: the database outlives every handle on it. Shared with the tests running
    /// at the same time, each on a database of its own.
    postgres: std::sync::Arc<PostgresCluster>,
}

/// A handle on the database at `url`, its values sealed with `key`.
pub fn connect(url: &str, key: &SecretKey) -> Database {
    let url = DatabaseUrl::parse(url).expect("a PostgreSQL URL");
    Database::connect(&url, KeyRing::new(key)).expect("connect to the cluster's database")
}

impl ClusterWorld {
    pub async fn start(mailboxes: usize, service: &str) -> anyhow::Result<Self> {
        let postgres = PostgresCluster::shared();
        let (url, key) = (postgres.fresh_database(), SecretKey::generate());
        let db = connect(&url, &key);
        let world = OAuthWorld::with_dovecot_on(STANDARD_FOLDERS, db.clone(), |_| {}).await;
        link_all(&world, mailboxes).await?;
        let dir = tempfile::tempdir()?;
        let settings = dir.path().join("settings.toml");
        write_settings(&world.settings, TOKEN, toml::from_str(service)?, &settings)?;
        Ok(ClusterWorld {
            db,
            url,
            key,
            world,
            settings,
            _dir: dir,
            postgres,
        })
    }

    /// The PostgreSQL cluster the database is on.
    pub fn postgres(&self) -> &PostgresCluster {
        &self.postgres
    }

    /// The IMAP port of the Dovecot every mailbox lives on.
    pub fn imap_port(&self) -> u16 {
        self.world.dovecot.as_ref().expect("dovecot").imap_port
    }

    /// Every mailbox's unexpired lease holder.
    pub fn holders(&self) -> BTreeMap<String, Option<String>> {
        let holders = self.db.leases().lease_holders().expect("lease holders");
        holders.into_iter().collect()
    }

    /// The mailboxes `node` holds.
    pub fn held_by(&self, node: &str) -> Vec<String> {
        self.holders()
            .into_iter()
            .filter(|(_, h)| h.as_deref() == Some(node))
            .map(|(m, _)| m)
            .collect()
    }

    /// Whether every mailbox is held, and each of `nodes` holds some and no more than its
    /// fair share.
    pub fn settled(&self, nodes: &[&str]) -> bool {
        let holders = self.holders();
        let share = holders.len().div_ceil(nodes.len());
        holders.values().all(Option::is_some)
            && nodes.iter().all(|n| {
                let held = holders.values().filter(|h| h.as_deref() == Some(n)).count();
                (1..=share).contains(&held)
            })
    }
}

/// Waits until `done`, looking every 50 ms; how long it took, or an error past `limit`.
pub async fn until(
    limit: std::time::Duration,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<std::time::Duration> {
    let started = std::time::Instant::now();
    while !done() {
        if started.elapsed() > limit {
            anyhow::bail!("not within {limit:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(started.elapsed())
}
