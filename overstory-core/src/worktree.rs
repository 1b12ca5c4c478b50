//! Agent worktrees and their branches.
//!
//! [`Worktrees`] owns every `git worktree` call of a project: creating an
//! agent's worktree on branch `overstory/<agent>/<task>`, rolling a failed
//! creation back, listing worktrees, asking whether a branch is merged, and
//! removing a worktree with its branch.
//!
//! Invariant: [`Worktrees::remove`] never deletes a
//! worktree or branch that holds commits missing from the canonical branch
//! unless the caller passes `force_unmerged`; it returns
//! [`WorktreeError::Unmerged`] naming the branch and the commit count
//! instead, so nothing is lost silently.

use std::path::{Path, PathBuf};

use crate::error::GitError;
use crate::git::Git;
use crate::names::{AgentName, BranchName, TaskId};

mod listing;

/// A worktree operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorktreeError {
    /// The worktree directory or its branch already exists.
    #[error(
        "Worktree for branch \"{branch}\" already exists at \"{}\" (remove it with 'git worktree remove' or pick another agent name)",
        path.display()
    )]
    AlreadyExists {
        /// The worktree directory that was to be created.
        path: PathBuf,
        /// The agent branch that was to be created (`overstory/<agent>/<task>`).
        branch: String,
    },
    /// A `git worktree` (or branch) command failed.
    #[error("Failed to {action} worktree \"{}\" (branch \"{branch}\")", path.display())]
    Git {
        /// What was being done (`create`, `remove`, `list`).
        action: &'static str,
        /// The worktree path (empty when not known).
        path: PathBuf,
        /// The branch (empty when not known).
        branch: String,
        /// git's error.
        #[source]
        source: GitError,
    },
    /// Removing would delete commits that are not on the canonical branch.
    #[error(
        "Branch \"{branch}\" has {commits} commit(s) not merged into \"{target}\"; refusing to delete worktree \"{}\" (merge it first, or force to discard the work)",
        path.display()
    )]
    Unmerged {
        /// The worktree that was to be removed.
        path: PathBuf,
        /// The agent branch holding the unmerged commits.
        branch: String,
        /// The canonical branch it was compared with.
        target: String,
        /// How many commits would be lost.
        commits: usize,
    },
    /// Whether the branch is merged could not be checked (for example, the
    /// target branch does not exist), so nothing was deleted.
    #[error(
        "Cannot tell whether branch \"{branch}\" is merged into \"{target}\"; refusing to delete worktree \"{}\" (check the canonical branch name, or force)",
        path.display()
    )]
    Unverified {
        /// The worktree that was to be removed.
        path: PathBuf,
        /// The agent branch whose merge state is unknown.
        branch: String,
        /// The branch it was compared with.
        target: String,
        /// Why the check failed.
        #[source]
        source: Box<WorktreeError>,
    },
    /// The worktree was created but its push block (the `pre-push` hook
    /// that refuses pushes) could not be installed, so it was removed again.
    #[error("Failed to install the push block in worktree \"{}\" (agent worktrees must refuse pushes)", path.display())]
    PushBlock {
        /// The worktree that was created and removed again.
        path: PathBuf,
        /// Why the hook could not be installed.
        #[source]
        source: crate::push_block::PushBlockError,
    },
    /// The path is not a registered worktree.
    #[error("\"{}\" is not a git worktree of this repository", path.display())]
    NotFound {
        /// The path that was asked for, as given.
        path: PathBuf,
    },
}

impl WorktreeError {
    /// Returns the error code: `WORKTREE_ERROR`.
    pub fn code(&self) -> &'static str {
        "WORKTREE_ERROR"
    }
}

/// One entry of `git worktree list --porcelain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeInfo {
    /// The worktree's absolute directory.
    pub path: PathBuf,
    /// The checked-out commit.
    pub head: String,
    /// The branch with `refs/heads/` stripped; empty when detached.
    pub branch: String,
}

/// A worktree that [`Worktrees::create`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedWorktree {
    /// The new worktree's directory, `<worktrees.baseDir>/<agent>`.
    pub path: PathBuf,
    /// Its new branch, `overstory/<agent>/<task>`.
    pub branch: BranchName,
}

/// A worktree that is rolled back when dropped unless [`keep`](Self::keep)
/// is called: sling creates one first and keeps it only once the agent is
/// running, so any error (or panic) in between leaves no worktree or branch
/// behind and a retry works.
#[derive(Debug)]
#[must_use = "dropping it removes the worktree again"]
pub struct PendingWorktree {
    manager: Worktrees,
    created: CreatedWorktree,
    armed: bool,
}

impl PendingWorktree {
    /// Returns the worktree.
    pub fn worktree(&self) -> &CreatedWorktree {
        &self.created
    }

    /// Keeps the worktree and returns it.
    pub fn keep(mut self) -> CreatedWorktree {
        self.armed = false;
        self.created.clone()
    }
}

impl Drop for PendingWorktree {
    fn drop(&mut self) {
        if self.armed {
            self.manager
                .rollback(&self.created.path, self.created.branch.as_str());
        }
    }
}

/// Options of [`Worktrees::remove`].
#[derive(Debug, Clone, Default)]
pub struct RemoveOptions {
    /// Passes `--force` to `git worktree remove` (drops uncommitted changes).
    pub force_worktree: bool,
    /// Deletes the branch even when it holds unmerged commits.
    pub force_unmerged: bool,
    /// The branch the work must be merged into (the canonical branch). When
    /// `None`, the merge check is skipped and the branch is deleted only if
    /// git's own `branch -d` agrees it is merged.
    pub target: Option<String>,
    /// Keeps the branch: removes only the worktree directory.
    pub keep_branch: bool,
}

/// What [`Worktrees::remove`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveOutcome {
    /// The branch that was checked out there (empty when detached).
    pub branch: String,
    /// Whether the branch was deleted.
    pub branch_deleted: bool,
    /// Unmerged commits that were discarded because of `force_unmerged`.
    pub discarded_commits: usize,
}

/// Result of [`Worktrees::preserve_seeds_changes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedsPreserved {
    /// Whether a commit with the lead's `.seeds/` changes was made.
    pub preserved: bool,
    /// Why preserving failed, if it did.
    pub error: Option<String>,
}

/// The worktree manager of one repository.
#[derive(Debug, Clone)]
pub struct Worktrees {
    root: PathBuf,
    git: Git,
}

impl Worktrees {
    /// Manages the worktrees of the repository at `root` (the project root).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            git: Git::new(&root),
            root,
        }
    }

    /// Returns the repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates `<root>/<base_dir>/<agent>` on a new branch
    /// `overstory/<agent>/<task>` started from `base_branch`.
    ///
    /// # Errors
    /// [`WorktreeError::AlreadyExists`] when the directory or branch exists;
    /// [`WorktreeError::Git`] when `git worktree add` fails;
    /// [`WorktreeError::PushBlock`] when its push block cannot be installed
    /// (see [`crate::push_block`]; the worktree is removed again).
    pub fn create(
        &self,
        base_dir: &Path,
        agent: &AgentName,
        task: &TaskId,
        base_branch: &str,
    ) -> Result<CreatedWorktree, WorktreeError> {
        let path = crate::Layout::new(&self.root).agent_worktree_in(base_dir, agent);
        let branch = BranchName::for_agent(agent, task);
        let branch_exists = self
            .git
            .succeeds(&[
                "show-ref",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ])
            .unwrap_or(false);
        if path.exists() || branch_exists {
            return Err(WorktreeError::AlreadyExists {
                path,
                branch: branch.into_string(),
            });
        }
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let path_s = path.to_string_lossy().into_owned();
        let admin = self.admin_lock();
        self.git
            .run(&[
                "worktree",
                "add",
                "-b",
                branch.as_str(),
                &path_s,
                base_branch,
            ])
            .map_err(|source| WorktreeError::Git {
                action: "create",
                path: path.clone(),
                branch: branch.to_string(),
                source,
            })?;
        // The backstop behind the guard: this worktree refuses pushes.
        let installed = crate::push_block::install(&path);
        // Released before a rollback, which takes the lock itself.
        drop(admin);
        if let Err(source) = installed {
            self.rollback(&path, branch.as_str());
            return Err(WorktreeError::PushBlock { path, source });
        }
        Ok(CreatedWorktree { path, branch })
    }

    /// Like [`create`](Self::create), but the worktree is rolled back when the
    /// returned guard is dropped without [`PendingWorktree::keep`].
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_pending(
        &self,
        base_dir: &Path,
        agent: &AgentName,
        task: &TaskId,
        base_branch: &str,
    ) -> Result<PendingWorktree, WorktreeError> {
        let created = self.create(base_dir, agent, task, base_branch)?;
        Ok(PendingWorktree {
            manager: self.clone(),
            created,
            armed: true,
        })
    }

    /// Undoes a [`create`](Self::create): force-removes the worktree and
    /// force-deletes its branch. Best effort: missing paths and branches and
    /// git failures are ignored, so it is safe to call on a half-made one.
    pub fn rollback(&self, path: &Path, branch: &str) {
        let path_s = path.to_string_lossy().into_owned();
        let _admin = self.admin_lock();
        let _ = self.git.run(&["worktree", "remove", "--force", &path_s]);
        if path.exists() {
            let _ = std::fs::remove_dir_all(path);
        }
        let _ = self.git.run(&["worktree", "prune"]);
        if !branch.is_empty() {
            let _ = self.git.run(&["branch", "-D", branch]);
        }
    }

    /// Takes the project's worktrees lock ([`crate::Layout::worktrees_lock`])
    /// for adding or removing a worktree. Git writes a new worktree's admin
    /// directory (`.git/worktrees/<name>/`) in steps, and a git command run
    /// meanwhile in another worktree may read it half-written and fail (`git
    /// config --worktree` does: "failed to read …/commondir"); two leads
    /// slinging builders at once did exactly that. `None` when the project
    /// has no `.overstory/` (nothing is created for the lock) or the lock
    /// cannot be taken: the operation then runs unserialised, as before.
    fn admin_lock(&self) -> Option<crate::lockfile::FileLock> {
        admin_lock(&self.root)
    }

    /// Lists every worktree, the main one first.
    ///
    /// # Errors
    /// [`WorktreeError::Git`] when `git worktree list` fails.
    pub fn list(&self) -> Result<Vec<WorktreeInfo>, WorktreeError> {
        let out = self
            .git
            .run(&["worktree", "list", "--porcelain"])
            .map_err(|source| WorktreeError::Git {
                action: "list",
                path: self.root.clone(),
                branch: String::new(),
                source,
            })?;
        Ok(parse_porcelain(&out))
    }

    /// Lists every worktree as [`list`](Self::list) does, reading the
    /// repository's files when their layout is a known one (no child
    /// process: a main checkout in the files ref format) and asking git
    /// otherwise. For read-only callers on a hot path (`ov status`).
    ///
    /// # Errors
    /// As [`list`](Self::list), when git has to be asked.
    pub fn read_list(&self) -> Result<Vec<WorktreeInfo>, WorktreeError> {
        match listing::read(&self.root) {
            Some(list) => Ok(list),
            None => self.list(),
        }
    }

    /// Returns the worktree registered at `path`, if any.
    ///
    /// # Errors
    /// As [`list`](Self::list).
    pub fn find(&self, path: &Path) -> Result<Option<WorktreeInfo>, WorktreeError> {
        let want = canonical(path);
        Ok(self
            .list()?
            .into_iter()
            .find(|w| canonical(&w.path) == want))
    }

    /// Returns whether every commit of `branch` is on `target`
    /// (`git merge-base --is-ancestor`).
    ///
    /// # Errors
    /// [`WorktreeError::Git`] when git cannot answer (for example, an unknown branch).
    pub fn is_branch_merged(&self, branch: &str, target: &str) -> Result<bool, WorktreeError> {
        let out = self
            .git
            .output(&["merge-base", "--is-ancestor", branch, target])
            .map_err(|source| self.git_err("check", branch, source))?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            code => Err(self.git_err(
                "check",
                branch,
                GitError::Failed {
                    args: format!("merge-base --is-ancestor {branch} {target}"),
                    code: code.unwrap_or(-1),
                    output: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                },
            )),
        }
    }

    /// Returns how many commits of `branch` are not on `target`.
    ///
    /// # Errors
    /// [`WorktreeError::Git`] when either ref is unknown.
    pub fn unmerged_commits(&self, branch: &str, target: &str) -> Result<usize, WorktreeError> {
        let range = format!("{target}..{branch}");
        let out = self
            .git
            .run(&["rev-list", "--count", &range])
            .map_err(|source| self.git_err("check", branch, source))?;
        Ok(out.trim().parse().unwrap_or(0))
    }

    /// Returns whether `branch` changes anything outside `dir` compared
    /// with `target` (`git diff <target>...<branch> -- . ':!<dir>'`). Errors
    /// count as changes.
    pub fn has_changes_outside(&self, branch: &str, target: &str, dir: &str) -> bool {
        let range = format!("{target}...{branch}");
        let exclude = format!(":(exclude){dir}");
        match self
            .git
            .output(&["diff", "--quiet", &range, "--", ".", &exclude])
        {
            Ok(o) => o.status.code() != Some(0),
            Err(_) => true,
        }
    }

    /// Returns whether `branch` exists locally.
    pub fn branch_exists(&self, branch: &str) -> bool {
        !branch.is_empty()
            && self
                .git
                .succeeds(&[
                    "show-ref",
                    "--verify",
                    "--quiet",
                    &format!("refs/heads/{branch}"),
                ])
                .unwrap_or(false)
    }

    /// Removes the worktree at `path` and then its branch.
    ///
    /// With a `target`, a branch holding commits not on the target is
    /// refused before anything is touched ([`WorktreeError::Unmerged`])
    /// unless `force_unmerged`. Without one, the branch is deleted with
    /// `git branch -d`, which keeps unmerged branches silently.
    ///
    /// # Errors
    /// [`WorktreeError::Unmerged`] as above; [`WorktreeError::Unverified`]
    /// when the merge check itself fails; [`WorktreeError::Git`] when
    /// `git worktree remove` fails (for example, uncommitted changes without
    /// `force_worktree`).
    pub fn remove(
        &self,
        path: &Path,
        opts: &RemoveOptions,
    ) -> Result<RemoveOutcome, WorktreeError> {
        let branch = self.find(path)?.map(|w| w.branch).unwrap_or_default();
        let mut discarded = 0;
        if let (Some(target), false) = (&opts.target, branch.is_empty() || opts.keep_branch) {
            match self.unmerged_commits(&branch, target) {
                Ok(0) => {}
                Ok(commits) if opts.force_unmerged => discarded = commits,
                Ok(commits) => {
                    return Err(WorktreeError::Unmerged {
                        path: path.to_owned(),
                        branch,
                        target: target.clone(),
                        commits,
                    });
                }
                Err(_) if opts.force_unmerged => {}
                Err(e) => {
                    return Err(WorktreeError::Unverified {
                        path: path.to_owned(),
                        branch,
                        target: target.clone(),
                        source: Box::new(e),
                    });
                }
            }
        }
        let path_s = path.to_string_lossy().into_owned();
        let mut args = vec!["worktree", "remove"];
        if opts.force_worktree {
            args.push("--force");
        }
        args.push(&path_s);
        // Held through the branch deletion too: `git branch -d` looks at
        // every worktree's admin directory.
        let _admin = self.admin_lock();
        self.git.run(&args).map_err(|source| WorktreeError::Git {
            action: "remove",
            path: path.to_owned(),
            branch: branch.clone(),
            source,
        })?;
        let mut branch_deleted = false;
        if !branch.is_empty() && !opts.keep_branch {
            let flag = if opts.target.is_some() { "-D" } else { "-d" };
            branch_deleted = self.git.run(&["branch", flag, &branch]).is_ok();
        }
        Ok(RemoveOutcome {
            branch,
            branch_deleted,
            discarded_commits: discarded,
        })
    }

    /// Deletes a branch that has no worktree, refusing (unless `force`) when
    /// it holds commits not on `target`.
    ///
    /// # Errors
    /// [`WorktreeError::Unmerged`] or [`WorktreeError::Git`].
    pub fn delete_branch(
        &self,
        branch: &str,
        target: &str,
        force: bool,
    ) -> Result<(), WorktreeError> {
        if !force {
            let commits = self.unmerged_commits(branch, target)?;
            if commits > 0 {
                return Err(WorktreeError::Unmerged {
                    path: PathBuf::new(),
                    branch: branch.to_owned(),
                    target: target.to_owned(),
                    commits,
                });
            }
        }
        self.git
            .run(&["branch", "-D", branch])
            .map(|_| ())
            .map_err(|source| self.git_err("delete the branch of", branch, source))
    }

    /// Carries a lead's `.seeds/` changes onto the canonical branch before its
    /// worktree is deleted: diffs `<canonical>...<branch> -- .seeds/`, applies
    /// the patch to the root checkout (which must be on `canonical` with a
    /// clean `.seeds/`) and commits `chore: preserve .seeds/ changes from lead
    /// <agent>`. On failure the root's `.seeds/` is restored and the reason
    /// returned; the temporary patch under `state_dir` is always deleted.
    pub fn preserve_seeds_changes(
        &self,
        branch: &str,
        canonical_branch: &str,
        agent: &str,
        state_dir: &Path,
    ) -> SeedsPreserved {
        let fail = |msg: String| SeedsPreserved {
            preserved: false,
            error: Some(msg),
        };
        let range = format!("{canonical_branch}...{branch}");
        let diff = match self.git.output(&["diff", &range, "--", ".seeds/"]) {
            Ok(o) if o.status.success() => o.stdout,
            Ok(o) => return fail(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
            Err(e) => return fail(e.to_string()),
        };
        if diff.iter().all(u8::is_ascii_whitespace) {
            return SeedsPreserved::default();
        }
        if self.git.current_branch().as_deref() != Some(canonical_branch) {
            return fail(format!(
                "project root is not on the canonical branch \"{canonical_branch}\""
            ));
        }
        match self.git.run(&["status", "--porcelain", "--", ".seeds/"]) {
            Ok(s) if s.trim().is_empty() => {}
            Ok(_) => return fail("uncommitted .seeds/ changes in the project root".into()),
            Err(e) => return fail(e.to_string()),
        }
        let patch = state_dir.join(format!("_seeds-patch-{}.diff", crate::clock::now_millis()));
        if let Err(e) = std::fs::write(&patch, &diff) {
            return fail(format!("cannot write {}: {e}", patch.display()));
        }
        let patch_s = patch.to_string_lossy().into_owned();
        let message = format!("chore: preserve .seeds/ changes from lead {agent}");
        let result = self
            .git
            .run(&["apply", "--index", &patch_s])
            .and_then(|_| self.git.run(&["commit", "-m", &message, "--", ".seeds/"]));
        let _ = std::fs::remove_file(&patch);
        match result {
            Ok(_) => SeedsPreserved {
                preserved: true,
                error: None,
            },
            Err(e) => {
                let _ = self.git.run(&["reset", "HEAD", "--", ".seeds/"]);
                let _ = self.git.run(&["checkout", "--", ".seeds/"]);
                fail(e.to_string())
            }
        }
    }

    fn git_err(&self, action: &'static str, branch: &str, source: GitError) -> WorktreeError {
        WorktreeError::Git {
            action,
            path: PathBuf::new(),
            branch: branch.to_owned(),
            source,
        }
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_owned())
}

/// Parses `git worktree list --porcelain` output.
pub fn parse_porcelain(text: &str) -> Vec<WorktreeInfo> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut info = WorktreeInfo {
            path: PathBuf::new(),
            head: String::new(),
            branch: String::new(),
        };
        for line in block.lines() {
            if let Some(p) = line.strip_prefix("worktree ") {
                info.path = PathBuf::from(p);
            } else if let Some(h) = line.strip_prefix("HEAD ") {
                info.head = h.to_owned();
            } else if let Some(b) = line.strip_prefix("branch ") {
                info.branch = b.strip_prefix("refs/heads/").unwrap_or(b).to_owned();
            }
        }
        if !info.path.as_os_str().is_empty() {
            out.push(info);
        }
    }
    out
}

/// Takes the worktrees lock of the project at `root` (see
/// [`Layout::worktrees_lock`](crate::Layout::worktrees_lock)); every code
/// path that adds or removes a linked worktree of the project holds it
/// meanwhile (agent worktrees here, the merge queue's scratch worktrees in
/// `overstory-merge`). Waits at most [`ADMIN_LOCK_WAIT`] for it: a holder
/// whose `git worktree add` hangs (a checkout hook, an LFS download) must
/// not block every sling of the project forever. `None` when the project
/// has no `.overstory/` (no lock file is created there), or the lock cannot
/// be taken or is still held after the wait (logged); the caller then goes
/// on unserialised.
pub fn admin_lock(root: &Path) -> Option<crate::lockfile::FileLock> {
    let layout = crate::Layout::new(root);
    if !layout.dir().is_dir() {
        return None;
    }
    let path = layout.worktrees_lock();
    let deadline = std::time::Instant::now() + ADMIN_LOCK_WAIT;
    loop {
        match crate::lockfile::FileLock::try_acquire(&path) {
            Ok(Some(held)) => {
                held.record_pid();
                return Some(held);
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(None) => {
                tracing::warn!(lock = %path.display(), holder = ?crate::lockfile::holder_pid(&path), "the worktrees lock is still held; going on without it");
                return None;
            }
            Err(e) => {
                tracing::warn!(lock = %path.display(), error = %e, "cannot take the worktrees lock; going on without it");
                return None;
            }
        }
    }
}

/// How long [`admin_lock`] waits for another worktree change to finish.
pub const ADMIN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_blocks_strip_refs_heads_and_keep_detached() {
        let text = "worktree /r\nHEAD abc\nbranch refs/heads/main\n\nworktree /r/.overstory/worktrees/b\nHEAD def\nbranch refs/heads/overstory/b/t-1\n\nworktree /x\nHEAD 123\ndetached\n";
        let list = parse_porcelain(text);
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].branch, "main");
        assert_eq!(list[1].branch, "overstory/b/t-1");
        assert_eq!(list[1].head, "def");
        assert_eq!(list[2].branch, "");
    }
}
