//! `rotate-key`: every stored secret sealed again under a new key, in one transaction. With a key
//! file, the new key waits beside it (`<file>.new`) until every value is sealed with it, then
//! takes its place, so a rotation cut short loses nothing and the next one finishes it. No other
//! process may use the database meanwhile (it would keep sealing under the old key): the
//! rotation takes the database for itself alone first, and stops if another process has it.

use std::path::{Path, PathBuf};

use host_harness::at_rest::{self, KeyRing, KeySource, SecretKey};
use host_harness::db::DatabaseUrl;
use host_harness::{Database, HostSettings};

#[derive(clap::Args)]
pub struct RotateArgs {
    /// Where the new key goes when the current one comes from MAILSYNC_SECRET_KEY (a new file,
    /// mode 0600); set MAILSYNC_SECRET_KEY to its content afterwards.
    #[arg(long)]
    new_key_file: Option<PathBuf>,
}

pub fn rotate(
    database: &DatabaseUrl,
    settings: &HostSettings,
    args: &RotateArgs,
) -> anyhow::Result<()> {
    let env_key = std::env::var(at_rest::KEY_ENV).ok();
    let key_file = settings.storage.key_file.as_deref();
    // Where the key file is when the settings name none: beside a SQLite file; a PostgreSQL
    // database has none (`keys_for` refuses it without a key).
    let beside = match database {
        DatabaseUrl::Sqlite(path) => {
            anyhow::ensure!(
                path.exists(),
                "no database at {}: nothing to rotate",
                path.display()
            );
            path.clone()
        }
        DatabaseUrl::Postgres(_) => {
            Database::keys_for(database, env_key.as_deref(), key_file)?;
            key_file.map(Path::to_path_buf).unwrap_or_default()
        }
    };
    let (ring, source) = at_rest::load(env_key.as_deref(), key_file, &beside)?;
    let db = Database::connect(database, ring)?;
    let _alone = db
        .sole_use()
        .map_err(|e| anyhow::anyhow!("{e}; the key was not rotated"))?;
    match source {
        KeySource::File(key_file) => {
            let pending = at_rest::pending_key_file(&key_file);
            // A rotation cut short left its key: this one finishes with it.
            let new = if pending.exists() {
                at_rest::read_key_file(&pending)?
            } else {
                let key = SecretKey::generate();
                at_rest::write_key_file(&pending, &key)?;
                key
            };
            let sealed = db.rotate_key(KeyRing::new(&new))?;
            std::fs::rename(&pending, &key_file)?;
            // The rename itself survives a power cut only once its directory is synced.
            if let Some(dir) = key_file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            sayln!(
                "{sealed} stored values sealed again under key {:08x}, now in {}.",
                new.id(),
                key_file.display()
            );
        }
        KeySource::Environment => {
            let Some(out) = &args.new_key_file else {
                anyhow::bail!(
                    "the key comes from {}: name a new file for the new key with --new-key-file",
                    at_rest::KEY_ENV
                );
            };
            let new = SecretKey::generate();
            at_rest::write_key_file(out, &new)?;
            let sealed = db.rotate_key(KeyRing::new(&new))?;
            sayln!(
                "{sealed} stored values sealed again under key {:08x}, written to {}. Set {} to \
                 its content before the host starts again: the old key no longer opens them.",
                new.id(),
                out.display(),
                at_rest::KEY_ENV
            );
        }
    }
    Ok(())
}
