//! Blocking exclusive locks held on a file for as long as a guard lives.
//!
//! The lock is an OS advisory lock (`flock`), so the kernel releases it
//! when the holder exits or dies, and a lock file left on disk never blocks
//! anyone. Used to serialise short critical sections across processes
//! (slinging, starting a persistent agent, editing `groups.json`) and as
//! the authority behind the per-agent turn, dispatch and host locks. This
//! is the workspace's only wrapper around `flock`.
//!
//! A holder may write a note into the file (its pid, or its pid and when it
//! took the lock) so others can say who holds it: [`holder_pid`] and
//! [`holder_note`] report a note only while the lock is actually held, so a
//! note left by a dead holder is never believed.
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
use std::io::{Read as _, Seek as _, Write as _};
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
        let _ = self.write_note(&format!("{}\n", std::process::id()));
    }

    /// Replaces the file's content with `note`, which [`holder_note`] then
    /// reports to others while this lock is held.
    ///
    /// # Errors
    /// [`FsError`] when the file cannot be truncated or written.
    pub fn write_note(&self, note: &str) -> Result<(), FsError> {
        let mut f = &self.file;
        f.set_len(0)
            .and_then(|()| f.rewind())
            .and_then(|()| f.write_all(note.as_bytes()))
            .and_then(|()| f.flush())
            .map_err(|e| FsError::new("write the holder into", &self.path, e))
    }

    /// Empties the file and only then releases the lock, so a reader never
    /// finds the holder's note on a free lock. Best effort: a file that
    /// cannot be emptied is still unlocked.
    pub fn release_clearing(self) {
        let _ = self.file.set_len(0);
        drop(self);
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
    holder_note(path)?
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
}

/// The note a holder wrote with [`FileLock::write_note`], when the file is
/// locked right now; `None` when it is free or missing. Probing takes a
/// shared lock for a moment, so it never blocks and never takes the lock
/// from anyone.
pub fn holder_note(path: &Path) -> Option<String> {
    let mut probe = OpenOptions::new().read(true).open(path).ok()?;
    if probe.try_lock_shared().is_ok() {
        let _ = probe.unlock();
        return None;
    }
    let mut note = String::new();
    probe.read_to_string(&mut note).ok()?;
    Some(note)
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

    #[test]
    fn a_note_is_reported_only_while_held_and_cleared_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.lock");
        let held = FileLock::try_acquire(&path).unwrap().unwrap();
        held.write_note("42 2026-01-01T00:00:00.000Z\n").unwrap();
        assert_eq!(
            super::holder_note(&path).as_deref(),
            Some("42 2026-01-01T00:00:00.000Z\n")
        );
        assert_eq!(super::holder_pid(&path), None, "a note is not a bare pid");
        held.release_clearing();
        assert_eq!(super::holder_note(&path), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
