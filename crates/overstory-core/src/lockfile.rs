//! Blocking exclusive locks held on a file for as long as a guard lives.
//!
//! The lock is an OS advisory lock (`flock`), so the kernel releases it
//! when the holder exits or dies, and a lock file left on disk never blocks
//! anyone. Used to serialise short critical sections across processes
//! (slinging, starting a persistent agent, editing `groups.json`).
//!
//! ```
//! # fn main() -> Result<(), overstory_core::FsError> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let path = dir.path().join("locks").join("demo.lock");
//! {
//!     let _held = overstory_core::lockfile::FileLock::acquire(&path)?;
//!     // ... only one process at a time runs this ...
//! }
//! // Dropped: the next caller gets the lock at once.
//! let _again = overstory_core::lockfile::FileLock::acquire(&path)?;
//! # Ok(())
//! # }
//! ```

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::FsError;

/// An exclusive lock on a file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Creates `path` (and its directory) if needed and waits until this
    /// process holds the exclusive lock on it.
    ///
    /// # Errors
    /// [`FsError`] when the directory or file cannot be created or the lock
    /// cannot be taken.
    pub fn acquire(path: &Path) -> Result<Self, FsError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| FsError::new("create directory", dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| FsError::new("open", path, e))?;
        file.lock().map_err(|e| FsError::new("lock", path, e))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// The locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::FileLock;

    #[test]
    fn a_second_holder_waits_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = FileLock::acquire(&path).unwrap();
        // A separate open file description contends with the first one.
        let other = std::fs::File::open(&path).unwrap();
        assert!(other.try_lock().is_err());
        drop(first);
        assert!(other.try_lock().is_ok());
    }
}
