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

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek as _, Write as _};
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
        let file = open(path)?;
        file.lock().map_err(|e| FsError::new("lock", path, e))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// Like [`FileLock::acquire`], but returns `None` at once when another
    /// holder has the lock.
    ///
    /// # Errors
    /// As [`FileLock::acquire`].
    pub fn try_acquire(path: &Path) -> Result<Option<Self>, FsError> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self {
                file,
                path: path.to_owned(),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(FsError::new("lock", path, e)),
        }
    }

    /// Replaces the file's content with this process's pid, so others can
    /// tell who holds the lock (see [`holder_pid`]). Best effort.
    pub fn record_pid(&self) {
        let mut f = &self.file;
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = writeln!(f, "{}", std::process::id());
    }

    /// Returns the path of the locked file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates `path` (and its directory) if needed and opens it for locking.
fn open(path: &Path) -> Result<File, FsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| FsError::new("create directory", dir, e))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| FsError::new("open", path, e))
}

/// The pid a holder wrote with [`FileLock::record_pid`], when the file is
/// locked right now (a pid left by a dead holder is not reported).
pub fn holder_pid(path: &Path) -> Option<i32> {
    let probe = OpenOptions::new().read(true).open(path).ok()?;
    if probe.try_lock_shared().is_ok() {
        return None;
    }
    crate::process::read_pid_file(path).filter(|pid| *pid > 0)
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

    #[test]
    fn try_acquire_reports_a_holder_and_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("y.lock");
        assert_eq!(super::holder_pid(&path), None);
        let held = FileLock::try_acquire(&path).unwrap().unwrap();
        held.record_pid();
        assert_eq!(
            super::holder_pid(&path),
            Some(i32::try_from(std::process::id()).unwrap())
        );
        drop(held);
        // The pid stays in the file, but nobody holds the lock any more.
        assert_eq!(super::holder_pid(&path), None);
        assert!(FileLock::try_acquire(&path).unwrap().is_some());
    }
}
