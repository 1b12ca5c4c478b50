//! The temporary worktree a merge runs in, and the sweep that removes what
//! a killed merge left behind.
//!
//! Each run makes one detached worktree under `.overstory/merge-worktrees/`
//! (ignored by git, like everything in `.overstory/`), with a sidecar
//! `<dir>.owner` holding the owning pid and `<dir>.*.pid` files naming the
//! process group of a gate or model call while one runs. The user's
//! checkout is never used for merge work.
//!
//! A scratch worktree is a real directory (never a symlink) named
//! `merge-…` directly under that root ([`is_scratch_dir`]); nothing else —
//! not the user's checkout, not an agent's worktree — is ever removed here.
//! Leftovers are swept at the start of every merge run ([`sweep`], under
//! the run's lock) and by `ov doctor --fix` ([`sweep_idle`], only while no
//! merge is running).

use std::path::{Path, PathBuf};
use std::time::Duration;

use overstory_core::git::Git;
use overstory_core::{Layout, ids, process};

use crate::error::MergeError;
use crate::lock::{self, LockWait, MergeLock};
use crate::queue::MergeQueue;
use crate::repo::Repo;

/// Returns `.overstory/merge-worktrees/`.
pub fn scratch_root(layout: &Layout) -> PathBuf {
    layout.dir().join("merge-worktrees")
}

/// A temporary detached worktree, removed by [`Scratch::remove`] (or the
/// next run's sweep when this process dies first).
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    git: Git,
    counter: std::cell::Cell<u32>,
}

impl Scratch {
    /// Creates the worktree on `commit`.
    ///
    /// # Errors
    /// [`MergeError::Fs`] or [`MergeError::Git`].
    pub fn create(layout: &Layout, repo: &Repo, commit: &str) -> Result<Self, MergeError> {
        let root = scratch_root(layout);
        std::fs::create_dir_all(&root)
            .map_err(|e| overstory_core::FsError::new("create directory", &root, e))?;
        let dir = root.join(format!(
            "merge-{}-{}",
            std::process::id(),
            ids::random_alnum(6)
        ));
        let owner = sidecar(&dir, ".owner");
        std::fs::write(&owner, format!("{}\n", std::process::id()))
            .map_err(|e| overstory_core::FsError::new("write", &owner, e))?;
        if let Err(e) = repo.add_worktree(&dir, commit) {
            let _ = std::fs::remove_file(&owner);
            return Err(e);
        }
        Ok(Self {
            git: Git::new(&dir),
            dir,
            counter: std::cell::Cell::new(0),
        })
    }

    /// Returns the worktree directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns git in the worktree.
    pub fn git(&self) -> &Git {
        &self.git
    }

    /// Returns a fresh path prefix for a child's output and pid files.
    pub fn child_files(&self, what: &str) -> PathBuf {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        sidecar(&self.dir, &format!(".{what}-{n}"))
    }

    /// Moves the worktree to `commit`, discarding any merge state and
    /// untracked files left by a previous attempt.
    ///
    /// # Errors
    /// [`MergeError::Git`].
    pub fn reset(&self, commit: &str) -> Result<(), MergeError> {
        let _ = self.git.output(&["merge", "--abort"]);
        self.git.run(&["reset", "--hard", "--quiet", commit])?;
        self.git.run(&["clean", "-fdq"])?;
        Ok(())
    }

    /// Removes the worktree and its sidecar files.
    pub fn remove(self, repo: &Repo) {
        remove_dir_and_sidecars(repo, &self.dir);
    }
}

fn sidecar(dir: &Path, suffix: &str) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_dir_and_sidecars(repo: &Repo, dir: &Path) {
    repo.remove_worktree(dir);
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    if let Ok(rd) = std::fs::read_dir(parent) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Returns whether `entry` (read from [`scratch_root`]) is a merge
/// scratch worktree: a real directory named `merge-…`.
fn is_scratch_dir(entry: &std::fs::DirEntry) -> bool {
    entry.file_type().is_ok_and(|t| t.is_dir())
        && entry.file_name().to_string_lossy().starts_with("merge-")
}

/// Returns the temporary worktrees under [`scratch_root`] whose merge
/// process is gone (what the next [`sweep`] removes), sorted. Read-only.
pub fn leftovers(layout: &Layout) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(scratch_root(layout)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(is_scratch_dir)
        .map(|e| e.path())
        .filter(|p| !process::read_pid_file(&sidecar(p, ".owner")).is_some_and(process::is_alive))
        .collect();
    out.sort();
    out
}

/// What [`sweep`] cleaned up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Leftover worktrees removed.
    pub worktrees: usize,
    /// Leftover child process groups killed.
    pub children_killed: usize,
    /// `merging` entries put back to `pending`.
    pub requeued: usize,
}

/// Cleans up after merges whose process died: kills their gate or model
/// process groups, removes their worktrees, and — when no other merge lock
/// is held — puts interrupted `merging` entries back to `pending`. Call it
/// while holding the merge lock `held`.
///
/// # Errors
/// [`MergeError::Db`] when the queue cannot be updated.
pub fn sweep(
    layout: &Layout,
    repo: &Repo,
    queue: &MergeQueue,
    held: &Path,
) -> Result<Swept, MergeError> {
    let mut swept = Swept::default();
    let root = scratch_root(layout);
    if let Ok(rd) = std::fs::read_dir(&root) {
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        for e in rd.flatten() {
            if !is_scratch_dir(&e) {
                continue;
            }
            let path = e.path();
            let owner = process::read_pid_file(&sidecar(&path, ".owner"));
            if owner.is_some_and(|p| p == me || process::is_alive(p)) {
                continue;
            }
            swept.children_killed += kill_children(&path);
            remove_dir_and_sidecars(repo, &path);
            swept.worktrees += 1;
        }
        // Sidecars whose directory is gone (a crash between steps).
        if let Ok(rd) = std::fs::read_dir(&root) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(base) = name.strip_suffix(".owner")
                    && !root.join(base).exists()
                    && !process::read_pid_file(&e.path()).is_some_and(process::is_alive)
                {
                    swept.children_killed += kill_children(&root.join(base));
                    remove_dir_and_sidecars(repo, &root.join(base));
                }
            }
        }
    }
    {
        let _admin = overstory_core::worktree::admin_lock(repo.root());
        let _ = repo.git_in(repo.root()).run(&["worktree", "prune"]);
    }
    if !lock::any_held_except(layout, held) {
        swept.requeued = queue.requeue_stale()?;
    }
    Ok(swept)
}

/// What [`sweep_idle`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdleSweep {
    /// No merge was running: what the start of a merge run sweeps was
    /// swept.
    Swept(Swept),
    /// A merge is running (it holds `lock`): nothing was touched.
    Busy {
        /// The held lock file.
        lock: PathBuf,
        /// Who holds it (`pid 42, acquired …`).
        holder: String,
    },
}

/// Sweeps up after killed merges from outside a merge run (`ov doctor
/// --fix`): when no merge lock of the project is held, takes the lock for
/// `target` (so no merge into it starts meanwhile) and runs [`sweep`] —
/// killing the leftover gate and model process groups, removing the
/// leftover worktrees and putting interrupted `merging` entries back to
/// `pending`. While any merge runs it touches nothing and says who runs it.
///
/// # Errors
/// [`MergeError::Fs`] when the lock file cannot be opened; [`MergeError::Db`]
/// when the queue cannot be opened or updated.
pub fn sweep_idle(layout: &Layout, target: &str) -> Result<IdleSweep, MergeError> {
    let held = match MergeLock::acquire(layout, target, LockWait::NoWait) {
        Ok(l) => l,
        Err(MergeError::Locked { holder, path, .. }) => {
            return Ok(IdleSweep::Busy { lock: path, holder });
        }
        Err(e) => return Err(e),
    };
    if let Some((lock, holder)) = lock::held_except(layout, held.path()) {
        held.release();
        return Ok(IdleSweep::Busy { lock, holder });
    }
    let repo = Repo::new(layout.root());
    let swept = if layout.merge_queue_db().exists() {
        MergeQueue::open_in(layout).and_then(|q| sweep(layout, &repo, &q, held.path()))
    } else {
        // No queue, nothing to requeue: only the worktrees (and their
        // children) go, without creating merge-queue.db.
        let mut swept = Swept::default();
        for dir in leftovers(layout) {
            swept.children_killed += kill_children(&dir);
            remove_dir_and_sidecars(&repo, &dir);
            swept.worktrees += 1;
        }
        Ok(swept)
    };
    held.release();
    swept.map(IdleSweep::Swept)
}

fn kill_children(dir: &Path) -> usize {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return 0;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(parent) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if file.starts_with(&prefix)
                && file.ends_with(".pid")
                && let Some(pgid) = process::read_pid_file(&e.path())
                && process::is_group_alive(pgid)
            {
                let _ = process::terminate_group(pgid, Duration::from_secs(2));
                n += 1;
            }
        }
    }
    n
}
