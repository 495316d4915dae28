//! Files only the host's user may touch: the database and its WAL, the key file, the compiled
//! component cache. Made with mode 0600 (directories 0700); an existing one that another user
//! owns, or that others may write, is refused.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left as they are).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates a new file with mode 0600; fails if it exists.
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Makes sure `path` exists with mode 0600, creating it empty when missing.
pub fn ensure_private_file(path: &Path) -> std::io::Result<()> {
    match create_private_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(path)?;
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn own_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses a file another user owns or that others may read or write.
pub fn check_private_file(path: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.uid() != own_uid() {
        return Err(format!("owned by user {}, not by the host's", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "mode {:o}: others may read or write it; it must be 600",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// Refuses a directory another user owns or that others may write: what is in it could have been
/// planted.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.is_dir() {
        return Err("not a directory".into());
    }
    if meta.uid() != own_uid() {
        return Err(format!("owned by user {}, not by the host's", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "mode {:o}: others may write in it",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_and_directories_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a").join("b");
        create_private_dir(&sub).unwrap();
        assert_eq!(std::fs::metadata(&sub).unwrap().mode() & 0o777, 0o700);
        assert!(check_private_dir(&sub).is_ok());
        let file = sub.join("f");
        ensure_private_file(&file).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        assert!(check_private_file(&file).is_ok());
    }

    #[test]
    fn an_existing_open_file_is_closed_down_and_open_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(check_private_file(&file).unwrap_err().contains("644"));
        ensure_private_file(&file).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"x", "content kept");
    }

    #[test]
    fn a_directory_others_may_write_or_another_user_owns_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_private_dir(dir.path()).unwrap_err().contains("777"));
        if own_uid() == 0 {
            // Only root can give a directory away.
            let theirs = dir.path().join("theirs");
            create_private_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            assert!(
                check_private_dir(&theirs)
                    .unwrap_err()
                    .contains("owned by user 65534")
            );
        }
    }
}
