//! Running `git`.
//!
//! Every git call in the project goes through [`Git`], which runs the `git`
//! CLI in a fixed directory and turns a non-zero exit into a
//! [`GitError::Failed`] that carries the arguments and git's own message.
//! Worktree, branch and merge operations build on these calls.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::error::GitError;
use crate::process;

/// A handle for running git in one directory.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
}

impl Git {
    /// Runs git in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Returns the directory git runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `git <args>` and returns its raw output, whatever the exit code.
    ///
    /// # Errors
    /// [`GitError::Spawn`] when git cannot be started.
    pub fn output(&self, args: &[&str]) -> Result<Output, GitError> {
        process::foreground_command("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| GitError::Spawn { source })
    }

    /// Runs `git <args>` and returns trimmed stdout.
    ///
    /// # Errors
    /// [`GitError::Failed`] on a non-zero exit, with git's message.
    pub fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let out = self.output(args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        } else {
            Err(failed(args, &out))
        }
    }

    /// Runs `git <args>` and returns whether it exited 0 (for `--quiet` probes).
    ///
    /// # Errors
    /// [`GitError::Spawn`] when git cannot be started.
    pub fn succeeds(&self, args: &[&str]) -> Result<bool, GitError> {
        Ok(self.output(args)?.status.success())
    }

    /// Returns whether the directory is inside a git work tree.
    pub fn is_inside_work_tree(&self) -> bool {
        self.run(&["rev-parse", "--is-inside-work-tree"])
            .is_ok_and(|s| s == "true")
    }

    /// Returns the top level of the work tree.
    ///
    /// # Errors
    /// [`GitError::NotARepository`] outside a repository.
    pub fn toplevel(&self) -> Result<PathBuf, GitError> {
        self.run(&["rev-parse", "--show-toplevel"])
            .map(PathBuf::from)
            .map_err(|_| GitError::NotARepository {
                dir: self.dir.clone(),
            })
    }

    /// Returns the absolute common git directory (shared by all worktrees).
    ///
    /// # Errors
    /// [`GitError::NotARepository`] outside a repository.
    pub fn common_dir(&self) -> Result<PathBuf, GitError> {
        let raw =
            self.run(&["rev-parse", "--git-common-dir"])
                .map_err(|_| GitError::NotARepository {
                    dir: self.dir.clone(),
                })?;
        let p = PathBuf::from(raw);
        Ok(if p.is_absolute() { p } else { self.dir.join(p) })
    }

    /// Returns the current branch, or `None` on a detached HEAD or outside git.
    pub fn current_branch(&self) -> Option<String> {
        self.run(&["branch", "--show-current"])
            .ok()
            .filter(|s| !s.is_empty())
    }

    /// Returns the branch `origin/HEAD` points at, with its full name kept
    /// (`release/x` stays `release/x`).
    pub fn origin_head_branch(&self) -> Option<String> {
        let full = self
            .run(&["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"])
            .ok()?;
        full.strip_prefix("refs/remotes/origin/")
            .map(str::to_owned)
            .filter(|s| !s.is_empty())
    }

    /// Returns the URL of the `origin` remote.
    pub fn origin_url(&self) -> Option<String> {
        self.run(&["remote", "get-url", "origin"])
            .ok()
            .filter(|s| !s.is_empty())
    }
}

fn failed(args: &[&str], out: &Output) -> GitError {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let output = if stderr.is_empty() {
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    } else {
        stderr
    };
    GitError::Failed {
        args: args.join(" "),
        code: out.status.code().unwrap_or(-1),
        output,
    }
}
