//! Writing files so that readers never see half of one.

use std::path::Path;

use crate::error::FsError;
use crate::ids;

/// Writes `bytes` to `path` through a uniquely named temporary file in the
/// same directory and a rename, creating the directory if needed. Readers
/// see the old content or the new, never a mix; concurrent writers never
/// share a temporary file; on any failure the temporary file is removed
/// and `path` is untouched.
///
/// # Errors
/// [`FsError`] naming the directory, temporary file or target that failed.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), FsError> {
    write_via_temp(path, bytes.as_ref(), false)
}

/// Like [`write_atomic`], for a secret (a bearer token): the temporary file
/// is created readable by its owner only (mode 0600) before any byte is
/// written, and synced before the rename, so `path` is never readable by
/// others, not even for an instant.
///
/// # Errors
/// As [`write_atomic`].
pub fn write_atomic_private(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), FsError> {
    write_via_temp(path, bytes.as_ref(), true)
}

fn write_via_temp(path: &Path, bytes: &[u8], private: bool) -> Result<(), FsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| FsError::new("create directory", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        ids::random_alnum(6)
    ));
    let written = if private {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
    } else {
        std::fs::write(&tmp, bytes)
    }
    .map_err(|e| FsError::new("write", &tmp, e));
    let renamed = written
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| FsError::new("write", path, e)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::write_atomic;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("a.json");
        write_atomic(&path, "one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.json"]);
    }

    #[test]
    fn a_failed_rename_keeps_the_target_and_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way: the rename onto it fails.
        let path = dir.path().join("taken");
        std::fs::create_dir_all(path.join("inner")).unwrap();
        assert!(write_atomic(&path, "x").is_err());
        assert!(path.join("inner").is_dir());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["taken"]);
    }

    #[test]
    fn a_private_file_is_owner_only_and_replaces_the_old_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.json");
        std::fs::write(&path, "old").unwrap();
        super::write_atomic_private(&path, "secret").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
