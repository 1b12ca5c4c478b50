//! The merge lock: one merge at a time per target branch.
//!
//! The lock is an OS lock (`flock`, through [`overstory_core::lockfile`]) on
//! `.overstory/merge-<target>.lock` (the original's file name, with `/`,
//! `\` and `:` in the target replaced by `-`). The kernel releases it when
//! the holder exits or is killed, so a crashed `ov merge` never blocks the
//! next one. While held, the file carries the original's note
//! `{"pid":…,"acquiredAt":"…","targetBranch":"…"}` so others can say who
//! holds it; a note on a free lock is never believed.

use std::path::{Path, PathBuf};

use overstory_core::lockfile::{self, FileLock};
use overstory_core::{Layout, clock};

use crate::error::MergeError;

/// Returns the lock file for merges into `target`.
pub fn lock_path(layout: &Layout, target: &str) -> PathBuf {
    let safe: String = target
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | ':') {
                '-'
            } else {
                c
            }
        })
        .collect();
    layout.dir().join(format!("merge-{safe}.lock"))
}

/// A held merge lock; released on drop.
#[derive(Debug)]
pub struct MergeLock {
    lock: FileLock,
    target: String,
}

/// Whether [`MergeLock::acquire`] waits for a busy lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Wait until the holder releases it.
    Wait,
    /// Fail at once with [`MergeError::Locked`].
    NoWait,
}

impl MergeLock {
    /// Takes the merge lock for `target`.
    ///
    /// # Errors
    /// [`MergeError::Locked`] with [`LockWait::NoWait`] when another process
    /// holds it; [`MergeError::Fs`] when the file cannot be opened.
    pub fn acquire(layout: &Layout, target: &str, wait: LockWait) -> Result<Self, MergeError> {
        let path = lock_path(layout, target);
        let lock = match FileLock::try_acquire(&path)? {
            Some(l) => l,
            None if wait == LockWait::Wait => FileLock::acquire(&path)?,
            None => {
                return Err(MergeError::Locked {
                    target: target.to_owned(),
                    holder: holder(&path).unwrap_or_else(|| "holder unknown".into()),
                    path,
                });
            }
        };
        let note = serde_json::json!({
            "pid": std::process::id(),
            "acquiredAt": clock::now_rfc3339(),
            "targetBranch": target,
        });
        lock.write_note(&note.to_string())?;
        Ok(Self {
            lock,
            target: target.to_owned(),
        })
    }

    /// Returns the target branch this lock is for.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Returns the lock file.
    pub fn path(&self) -> &Path {
        self.lock.path()
    }

    /// Releases the lock, emptying the note first.
    pub fn release(self) {
        self.lock.release_clearing();
    }
}

/// Describes who holds the lock at `path` right now (`pid 42, acquired
/// 2026-…`), or `None` when it is free.
pub fn holder(path: &Path) -> Option<String> {
    let note = lockfile::holder_note(path)?;
    let v: serde_json::Value = serde_json::from_str(note.trim()).unwrap_or_default();
    let pid = v["pid"]
        .as_u64()
        .map_or("unknown".into(), |p| p.to_string());
    let at = v["acquiredAt"].as_str().unwrap_or("unknown time");
    Some(format!("pid {pid}, acquired {at}"))
}

/// Returns whether any merge lock of the project is held right now (by
/// this process or another).
pub fn any_held(layout: &Layout) -> bool {
    any_held_except(layout, Path::new(""))
}

/// Returns whether any merge lock other than the one at `except` is held
/// right now.
pub fn any_held_except(layout: &Layout, except: &Path) -> bool {
    held_except(layout, except).is_some()
}

/// Returns a merge lock other than the one at `except` that is held right
/// now, with who holds it ([`holder`]).
pub(crate) fn held_except(layout: &Layout, except: &Path) -> Option<(PathBuf, String)> {
    let dir = std::fs::read_dir(layout.dir()).ok()?;
    dir.flatten().find_map(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("merge-") && name.ends_with(".lock")) || e.path() == except {
            return None;
        }
        let who = holder(&e.path())?;
        Some((e.path(), who))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_sanitised_and_targets_are_independent() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        assert_eq!(
            lock_path(&layout, "release/1:x").file_name().unwrap(),
            "merge-release-1-x.lock"
        );
        let a = MergeLock::acquire(&layout, "main", LockWait::NoWait).unwrap();
        let b = MergeLock::acquire(&layout, "dev", LockWait::NoWait).unwrap();
        assert!(any_held(&layout));
        let err = MergeLock::acquire(&layout, "main", LockWait::NoWait).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"main\""), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        a.release();
        b.release();
        assert!(!any_held(&layout));
        let again = MergeLock::acquire(&layout, "main", LockWait::NoWait).unwrap();
        assert_eq!(again.target(), "main");
    }
}
