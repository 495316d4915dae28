//! Secrets at rest: every value the plugin stores (tokens, passwords, pending links) is sealed
//! with AES-256-GCM under the host's key, bound to its mailbox and key; a key ring lets it rotate.
//!
//! A sealed value is `MAGIC | key id (4 bytes) | nonce (12 bytes) | ciphertext and tag`. The key
//! comes from `MAILSYNC_SECRET_KEY` (32 bytes, base64), else from a key file (the settings'
//! `storage.key_file`, or `<database>.key` beside the database, made with mode 0600 on first use).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The environment variable that holds the key, base64.
pub const KEY_ENV: &str = "MAILSYNC_SECRET_KEY";
/// Marks a sealed value, and its format's version (the stores look for it too).
pub const MAGIC: &[u8; 4] = b"MSv1";
const KEY_ID: usize = 4;
const NONCE: usize = 12;

/// A 256-bit key; its bytes are wiped when dropped and never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(id {:08x})", self.id())
    }
}

impl SecretKey {
    pub fn generate() -> Self {
        let key = Aes256Gcm::generate_key(OsRng);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        SecretKey(bytes)
    }

    /// A key from its base64 text (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let decoded = Zeroizing::new(
            BASE64
                .decode(text.trim())
                .map_err(|_| KeyError::NotBase64)?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength(decoded.len()))?;
        Ok(SecretKey(Zeroizing::new(bytes)))
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.0.as_slice()))
    }

    /// A short id named in every value sealed with this key: the first bytes of its hash.
    pub fn id(&self) -> u32 {
        let hash = Sha256::digest(self.0.as_slice());
        u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]])
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_slice().into())
    }
}

/// The key values are sealed with, and older ones they may still be opened with.
#[derive(Clone)]
pub struct KeyRing {
    current: (u32, Aes256Gcm),
    older: Vec<(u32, Aes256Gcm)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing(current {:08x})", self.current.0)
    }
}

/// A stored value that cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the value was sealed with key {0:08x}, which the host does not have")]
    UnknownKey(u32),
    #[error("the value does not open with its key: altered, or moved from another mailbox or key")]
    Tampered,
    #[error("the sealed value is cut short")]
    Malformed,
    #[error("the value is stored in clear, where every value is sealed: refused")]
    NotSealed,
}

impl KeyRing {
    pub fn new(current: &SecretKey) -> Self {
        KeyRing {
            current: (current.id(), current.cipher()),
            older: Vec::new(),
        }
    }

    /// A ring with a fresh random key, for a database that lives in memory only.
    pub fn ephemeral() -> Self {
        KeyRing::new(&SecretKey::generate())
    }

    /// Also opens values sealed with `key`.
    pub fn with_older(mut self, key: &SecretKey) -> Self {
        if key.id() != self.current.0 {
            self.older.push((key.id(), key.cipher()));
        }
        self
    }

    pub fn current_id(&self) -> u32 {
        self.current.0
    }

    /// `plain` sealed under the current key; `context` (mailbox and key) is bound to it.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let (id, cipher) = &self.current;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(MAGIC.len() + KEY_ID + NONCE + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed by `seal` with the same `context`.
    pub fn open(&self, context: &[u8], value: &[u8]) -> Result<Vec<u8>, SealError> {
        let rest = value.strip_prefix(MAGIC).ok_or(SealError::Malformed)?;
        if rest.len() < KEY_ID + NONCE {
            return Err(SealError::Malformed);
        }
        let (id, rest) = rest.split_at(KEY_ID);
        let (nonce, sealed) = rest.split_at(NONCE);
        let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
        let cipher = std::iter::once(&self.current)
            .chain(&self.older)
            .find(|(k, _)| *k == id)
            .map(|(_, c)| c)
            .ok_or(SealError::UnknownKey(id))?;
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Tampered)
    }

    /// Whether `value` is sealed (values written before sealing was introduced are not).
    pub fn is_sealed(value: &[u8]) -> bool {
        value.starts_with(MAGIC)
    }
}

/// Where the key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
}

/// A key that cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not base64")]
    NotBase64,
    #[error("the key has {0} bytes; it must have 32")]
    WrongLength(usize),
    #[error("key file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path}: {message}")]
    Unsafe { path: PathBuf, message: String },
    #[error("{KEY_ENV}: {0}")]
    Environment(Box<KeyError>),
}

/// The key file used when neither the environment nor the settings name a key.
pub fn default_key_file(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".key");
    database.with_file_name(name)
}

/// Where a rotation puts the next key until every value is sealed with it.
pub fn pending_key_file(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_os_string();
    name.push(".new");
    PathBuf::from(name)
}

/// The key ring for a database at `database`: the key from `env_key` (the environment's
/// value), else from `key_file`, else from the default key file, generated there on first use.
/// A rotation that was cut short left its next key beside the file; the ring opens with it too.
pub fn load(
    env_key: Option<&str>,
    key_file: Option<&Path>,
    database: &Path,
) -> Result<(KeyRing, KeySource), KeyError> {
    if let Some(text) = env_key.filter(|t| !t.trim().is_empty()) {
        let key = SecretKey::from_base64(text).map_err(|e| KeyError::Environment(Box::new(e)))?;
        return Ok((KeyRing::new(&key), KeySource::Environment));
    }
    let path = key_file.map_or_else(|| default_key_file(database), Path::to_path_buf);
    let key = read_or_create_key_file(&path)?;
    let mut ring = KeyRing::new(&key);
    let pending = pending_key_file(&path);
    if pending.exists() {
        ring = ring.with_older(&read_key_file(&pending)?);
    }
    Ok((ring, KeySource::File(path)))
}

/// Reads a key file, refusing one that others may read or write.
pub fn read_key_file(path: &Path) -> Result<SecretKey, KeyError> {
    let file_error = |source| KeyError::File {
        path: path.into(),
        source,
    };
    crate::file_modes::check_private_file(path).map_err(|message| KeyError::Unsafe {
        path: path.into(),
        message,
    })?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(file_error)?);
    SecretKey::from_base64(&text).map_err(|e| KeyError::Unsafe {
        path: path.into(),
        message: e.to_string(),
    })
}

fn read_or_create_key_file(path: &Path) -> Result<SecretKey, KeyError> {
    if path.exists() {
        return read_key_file(path);
    }
    let key = SecretKey::generate();
    write_key_file(path, &key)?;
    Ok(key)
}

/// Writes `key` to a new file at `path`, mode 0600, in a directory of mode 0700 if it makes one.
/// The key is written and synced to a temporary file beside it first, then linked into place
/// (which fails if `path` exists): a crash leaves either no key file or a whole one, never an
/// empty or partial key.
pub fn write_key_file(path: &Path, key: &SecretKey) -> Result<(), KeyError> {
    let file_error = |source| KeyError::File {
        path: path.into(),
        source,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        crate::file_modes::create_private_dir(dir).map_err(file_error)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{:016x}", OsRng.next_u64()));
    let temporary = path.with_file_name(name);
    let written = crate::file_modes::create_private_file(&temporary).and_then(|mut file| {
        file.write_all(key.to_base64().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    linked.map_err(file_error)?;
    // The new name survives a power cut only once its directory is synced.
    let dir = dir.unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(file_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_context_and_key() {
        let key = SecretKey::generate();
        let ring = KeyRing::new(&key);
        let sealed = ring.seal(b"m1\0tokens", b"refresh-123");
        assert!(KeyRing::is_sealed(&sealed));
        assert!(!sealed.windows(11).any(|w| w == b"refresh-123"));
        assert_eq!(ring.open(b"m1\0tokens", &sealed).unwrap(), b"refresh-123");
        // Moved to another mailbox or key: refused.
        assert_eq!(ring.open(b"m2\0tokens", &sealed), Err(SealError::Tampered));
        // Altered: refused.
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(b"m1\0tokens", &altered), Err(SealError::Tampered));
        // Another key: named, refused.
        let other = KeyRing::ephemeral();
        assert_eq!(
            other.open(b"m1\0tokens", &sealed),
            Err(SealError::UnknownKey(key.id()))
        );
        assert_eq!(ring.open(b"m1\0tokens", b"MSv1"), Err(SealError::Malformed));
    }

    #[test]
    fn each_value_gets_its_own_nonce() {
        let ring = KeyRing::ephemeral();
        assert_ne!(ring.seal(b"c", b"same"), ring.seal(b"c", b"same"));
    }

    #[test]
    fn a_ring_with_an_older_key_opens_what_it_sealed() {
        let (old, new) = (SecretKey::generate(), SecretKey::generate());
        let sealed = KeyRing::new(&old).seal(b"c", b"v");
        let ring = KeyRing::new(&new).with_older(&old);
        assert_eq!(ring.open(b"c", &sealed).unwrap(), b"v");
        assert_eq!(ring.current_id(), new.id());
    }

    #[test]
    fn keys_read_from_base64_and_debug_prints_only_the_id() {
        let key = SecretKey::generate();
        let again = SecretKey::from_base64(&format!(" {}\n", key.to_base64().as_str())).unwrap();
        assert_eq!(again.id(), key.id());
        assert!(!format!("{key:?}").contains(key.to_base64().as_str()));
        assert!(matches!(
            SecretKey::from_base64("c2hvcnQ="),
            Err(KeyError::WrongLength(5))
        ));
        assert!(matches!(
            SecretKey::from_base64("!!"),
            Err(KeyError::NotBase64)
        ));
    }

    #[test]
    fn the_default_key_file_is_made_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("mailsync.db");
        let (ring, source) = load(None, None, &db).unwrap();
        let file = dir.path().join("data").join("mailsync.db.key");
        assert_eq!(source, KeySource::File(file.clone()));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(file.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let (again, _) = load(None, None, &db).unwrap();
        assert_eq!(again.current_id(), ring.current_id());
        // A key file others can read is refused.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load(None, None, &db),
            Err(KeyError::Unsafe { .. })
        ));
    }

    #[test]
    fn a_key_file_appears_whole_never_replaces_one_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.key");
        let first = SecretKey::generate();
        write_key_file(&file, &first).unwrap();
        assert_eq!(read_key_file(&file).unwrap().id(), first.id());
        // A second write (a rotation's, a race) never replaces the key in place.
        let refused = write_key_file(&file, &SecretKey::generate());
        assert!(matches!(refused, Err(KeyError::File { .. })), "{refused:?}");
        assert_eq!(read_key_file(&file).unwrap().id(), first.id());
        // Only the key file is there: its temporary file is gone, written or not.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["k.key"]);
    }

    #[test]
    fn the_environment_key_wins_and_a_bad_one_is_a_clear_error() {
        let key = SecretKey::generate();
        let db = Path::new("/nonexistent/mailsync.db");
        let (ring, source) = load(Some(&key.to_base64()), None, db).unwrap();
        assert_eq!(
            (ring.current_id(), source),
            (key.id(), KeySource::Environment)
        );
        let err = load(Some("short"), None, db).unwrap_err().to_string();
        assert!(err.starts_with(KEY_ENV), "{err}");
    }
}
