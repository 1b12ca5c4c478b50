//! The git operations the merge engine needs, on the project's repository.
//!
//! Nothing here touches the user's checkout except [`Repo::advance_target`],
//! which moves the target branch the way `git merge --ff-only` would: in
//! the worktree that has it checked out (refusing when uncommitted changes
//! would be overwritten), or by a compare-and-swap `git update-ref` when no
//! worktree has it.

use std::path::{Path, PathBuf};

use overstory_core::GitError;
use overstory_core::git::Git;

use crate::error::MergeError;

/// The project's repository, seen from its root.
#[derive(Debug, Clone)]
pub struct Repo {
    git: Git,
    /// `-c` options every commit-making call gets (identity fallback).
    config: Vec<String>,
}

/// Why the target could not be moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvanceError {
    /// The checkout holding the target has changes the update would overwrite.
    Dirty {
        /// The checkout.
        worktree: PathBuf,
        /// What git said.
        detail: String,
    },
    /// The target moved since the merge started and is not an ancestor of
    /// the merge result.
    Moved {
        /// What git said.
        detail: String,
    },
}

impl std::fmt::Display for AdvanceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dirty { worktree, detail } => write!(
                f,
                "Cannot bring the checkout at \"{}\" forward: uncommitted changes would be overwritten. \
                 Commit or stash them, then merge again ({detail})",
                worktree.display()
            ),
            Self::Moved { detail } => write!(
                f,
                "The target branch moved while merging and the result no longer fast-forwards it; merge again ({detail})"
            ),
        }
    }
}

impl Repo {
    /// Opens the repository at `root`.
    pub fn new(root: &Path) -> Self {
        let git = Git::new(root);
        let has = |key: &str| git.run(&["config", key]).is_ok_and(|v| !v.is_empty());
        let mut config = Vec::new();
        if !has("user.name") {
            config.extend(["-c".into(), "user.name=overstory".into()]);
        }
        if !has("user.email") {
            config.extend(["-c".into(), "user.email=overstory@localhost".into()]);
        }
        Self { git, config }
    }

    /// Returns the repository root.
    pub fn root(&self) -> &Path {
        self.git.dir()
    }

    /// Returns a git handle for `dir` (a worktree of this repository).
    pub fn git_in(&self, dir: &Path) -> Git {
        Git::new(dir)
    }

    /// Returns the `-c` options commit-making calls need.
    pub fn commit_config(&self) -> &[String] {
        &self.config
    }

    /// Resolves `refs/heads/<branch>` to a commit id.
    pub fn branch_oid(&self, branch: &str) -> Option<String> {
        self.git
            .run(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}^{{commit}}"),
            ])
            .ok()
    }

    /// Returns whether `a` is an ancestor of (or equal to) `b`.
    ///
    /// # Errors
    /// [`MergeError::Git`] when git cannot run.
    pub fn is_ancestor(&self, a: &str, b: &str) -> Result<bool, MergeError> {
        Ok(self.git.succeeds(&["merge-base", "--is-ancestor", a, b])?)
    }

    /// Lists the files `branch` changes relative to its merge base with
    /// `target` (`git diff --name-only target...branch`).
    ///
    /// # Errors
    /// [`MergeError::Git`].
    pub fn changed_files(&self, target: &str, branch: &str) -> Result<Vec<String>, MergeError> {
        let out = self
            .git
            .run(&["diff", "--name-only", &format!("{target}...{branch}")])?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// Predicts a merge without touching any working tree or index:
    /// `git merge-tree --write-tree --name-only`. Returns the conflicting
    /// files (empty for a clean merge).
    ///
    /// # Errors
    /// [`MergeError::Git`] when git refuses the merge itself (unrelated
    /// histories, a missing commit).
    pub fn predict_conflicts(&self, target: &str, branch: &str) -> Result<Vec<String>, MergeError> {
        let args = [
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            target,
            branch,
        ];
        let out = self.git.output(&args)?;
        match out.status.code() {
            Some(0) => Ok(Vec::new()),
            Some(1) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let mut files: Vec<String> = text
                    .lines()
                    .skip(1)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                files.dedup();
                Ok(files)
            }
            code => Err(MergeError::Git(GitError::Failed {
                args: args.join(" "),
                code: code.unwrap_or(-1),
                output: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })),
        }
    }

    /// Creates a detached worktree at `path` on `commit`.
    ///
    /// # Errors
    /// [`MergeError::Git`].
    pub fn add_worktree(&self, path: &Path, commit: &str) -> Result<(), MergeError> {
        let p = path.to_string_lossy();
        // Serialised with every other worktree change of the project, so a
        // sling installing its push block never reads this one half-made.
        let _admin = overstory_core::worktree::admin_lock(self.git.dir());
        self.git
            .run(&["worktree", "add", "--detach", "--quiet", &p, commit])?;
        Ok(())
    }

    /// Removes the worktree at `path` (forcefully: it holds only merge
    /// scratch), then prunes git's record of it. Best effort.
    pub fn remove_worktree(&self, path: &Path) {
        let p = path.to_string_lossy();
        let _admin = overstory_core::worktree::admin_lock(self.git.dir());
        let _ = self
            .git
            .run(&["worktree", "remove", "--force", "--force", &p]);
        if path.exists() {
            let _ = std::fs::remove_dir_all(path);
        }
        let _ = self.git.run(&["worktree", "prune"]);
    }

    /// Returns the worktree that has `refs/heads/<branch>` checked out.
    ///
    /// # Errors
    /// [`MergeError::Git`].
    pub fn checkout_of(&self, branch: &str) -> Result<Option<PathBuf>, MergeError> {
        let list = self.git.run(&["worktree", "list", "--porcelain"])?;
        let want = format!("branch refs/heads/{branch}");
        let mut current: Option<PathBuf> = None;
        for line in list.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                current = Some(PathBuf::from(p));
            } else if line == want {
                return Ok(current);
            }
        }
        Ok(None)
    }

    /// Moves `target` from `old` to `new` (a descendant of `old`). In a
    /// checkout of the target, runs `git merge --ff-only --no-autostash`
    /// there, which keeps unrelated uncommitted changes and refuses when
    /// they would be overwritten; with no checkout, runs
    /// `git update-ref refs/heads/<target> <new> <old>`, which fails if the
    /// branch moved meanwhile.
    ///
    /// # Errors
    /// [`AdvanceError`] when the move was refused; the target is unchanged.
    pub fn advance_target(&self, target: &str, old: &str, new: &str) -> Result<(), AdvanceError> {
        let refname = format!("refs/heads/{target}");
        let checkout = self.checkout_of(target).map_err(|e| AdvanceError::Moved {
            detail: e.to_string(),
        })?;
        match checkout {
            Some(dir) => {
                let git = Git::new(&dir);
                let out = git
                    .output(&["merge", "--ff-only", "--no-autostash", "--quiet", new])
                    .map_err(|e| AdvanceError::Moved {
                        detail: e.to_string(),
                    })?;
                if out.status.success() {
                    return Ok(());
                }
                let detail = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                if detail.contains("overwritten") || detail.contains("local changes") {
                    Err(AdvanceError::Dirty {
                        worktree: dir,
                        detail,
                    })
                } else {
                    Err(AdvanceError::Moved { detail })
                }
            }
            None => self
                .git
                .run(&["update-ref", "-m", "ov merge", &refname, new, old])
                .map(|_| ())
                .map_err(|e| AdvanceError::Moved {
                    detail: e.to_string(),
                }),
        }
    }
}
