//! The git-level backstop against pushes from agent worktrees.
//!
//! The PreToolUse guard denies `git push` in every spelling it can read;
//! this catches what it cannot (a script the agent wrote and ran). Each
//! agent worktree gets its own hooks directory,
//! `<worktree git dir>/overstory-hooks/`, set as `core.hooksPath` in that
//! worktree's own configuration (`git config --worktree`, which needs
//! `extensions.worktreeConfig = true` in the repository). Its `pre-push`
//! refuses every push; every other hook passes through to the project's own
//! hook of the same name, so commit hooks keep running.
//!
//! The user's main checkout is not affected: it has no `config.worktree`,
//! so its hooks and settings stay as they were, and pushing from the
//! project root works. The hooks directory lives in the worktree's git
//! admin directory (outside the worktree, so the agent's path guard keeps
//! it out of reach) and is removed with the worktree.
//!
//! `git push --no-verify` skips hooks (the guard denies it); for a script
//! that does so anyway, the worktree's configuration also rewrites every
//! push URL ([`REFUSED_PUSH_URL_KEY`]) to a transport that does not exist,
//! so a push fails before it connects (naming that transport), and the
//! hook is what meets a remote with an explicit `pushurl`, which git does
//! not rewrite. Neither layer stops a process that first rewrites the
//! worktree's own configuration or combines `pushurl` with `--no-verify`;
//! the guard denies those to agents.

use std::path::{Path, PathBuf};

use crate::error::{FsError, GitError};
use crate::git::Git;

/// The directory, inside a worktree's git dir, holding its hooks.
pub const HOOKS_DIR: &str = "overstory-hooks";

/// What the `pre-push` hook prints before refusing.
pub const REFUSAL: &str = "overstory: pushing from an agent worktree is refused. Commit to your branch; the coordinator merges it (ov merge) and pushes from the project root.";

/// The per-worktree setting that rewrites every push URL to a transport that
/// does not exist, so even a push that skips hooks fails.
pub const REFUSED_PUSH_URL_KEY: &str =
    "url.overstory-agent-worktrees-never-push://refused/.pushInsteadOf";

/// Hooks passed through to the project's own hooks.
const PASS_THROUGH: &[&str] = &[
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "pre-commit",
    "pre-merge-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "post-rewrite",
    "pre-auto-gc",
    "push-to-checkout",
    "sendemail-validate",
];

/// Hooks git runs very often: passed through only when the project has one.
const PASS_THROUGH_IF_PRESENT: &[&str] = &["reference-transaction", "post-index-change"];

/// Installing the push block failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushBlockError {
    /// A git command failed.
    #[error("git could not configure the worktree")]
    Git(#[from] GitError),
    /// A hook file could not be written.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The repository keeps `core.bare` or `core.worktree` in its shared
    /// configuration, where per-worktree configuration would change their
    /// meaning.
    #[error(
        "the repository sets {key} in its shared config, so per-worktree hooks cannot be enabled safely (move {key} to the main worktree's config.worktree)"
    )]
    SharedSetting {
        /// The setting (`core.bare` or `core.worktree`).
        key: &'static str,
    },
}

/// Installs the push block in the linked worktree at `worktree`; returns
/// the hooks directory.
///
/// # Errors
/// [`PushBlockError`] when git cannot be configured or a hook cannot be
/// written; the worktree must then not be handed to an agent.
pub fn install(worktree: &Path) -> Result<PathBuf, PushBlockError> {
    let git = Git::new(worktree);
    let common = git.common_dir()?;
    let shared = &git;
    let shared_config = common.join("config");
    let shared_config_s = shared_config.to_string_lossy().into_owned();
    let get = |key: &str| {
        shared
            .run(&["config", "--file", &shared_config_s, "--get", key])
            .ok()
            .map(|v| v.trim().to_owned())
    };
    if get("core.bare").as_deref() == Some("true") {
        return Err(PushBlockError::SharedSetting { key: "core.bare" });
    }
    if get("core.worktree").is_some() {
        return Err(PushBlockError::SharedSetting {
            key: "core.worktree",
        });
    }
    // Where the project's own hooks live (before ours is set).
    let own_hooks = git
        .run(&["config", "--get", "core.hooksPath"])
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map_or_else(|| common.join("hooks"), PathBuf::from);
    let own_hooks = if own_hooks.is_relative() {
        worktree.join(own_hooks)
    } else {
        own_hooks
    };
    if get("extensions.worktreeconfig").as_deref() != Some("true") {
        git.run(&["config", "--local", "extensions.worktreeConfig", "true"])?;
    }
    let git_dir = PathBuf::from(git.run(&["rev-parse", "--absolute-git-dir"])?.trim());
    let hooks = git_dir.join(HOOKS_DIR);
    std::fs::create_dir_all(&hooks).map_err(|e| FsError::new("create directory", &hooks, e))?;
    write_hook(
        &hooks.join("pre-push"),
        &format!(
            "#!/bin/sh\n# Installed by overstory: agent worktrees never push.\necho {} >&2\nexit 1\n",
            sh_quote(REFUSAL)
        ),
    )?;
    let present: Vec<&str> = PASS_THROUGH_IF_PRESENT
        .iter()
        .copied()
        .filter(|name| own_hooks.join(name).exists())
        .collect();
    for name in PASS_THROUGH.iter().copied().chain(present) {
        let target = own_hooks.join(name);
        write_hook(
            &hooks.join(name),
            &format!(
                "#!/bin/sh\n# Installed by overstory: runs the project's own {name} hook.\nhook={}\n[ -x \"$hook\" ] || exit 0\nexec \"$hook\" \"$@\"\n",
                sh_quote(&target.to_string_lossy())
            ),
        )?;
    }
    let hooks_s = hooks.to_string_lossy().into_owned();
    git.run(&["config", "--worktree", "core.hooksPath", &hooks_s])?;
    // Second layer, for `git push --no-verify` in a script: every push URL
    // (the empty prefix matches all) is rewritten to a transport that does
    // not exist. Fetching is not affected.
    git.run(&["config", "--worktree", REFUSED_PUSH_URL_KEY, ""])?;
    Ok(hooks)
}

fn write_hook(path: &Path, text: &str) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).map_err(|e| FsError::new("write", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| FsError::new("make executable", path, e))
}

/// Single-quotes `s` for `/bin/sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use std::process::Output;

    use super::*;
    use crate::{AgentName, TaskId, Worktrees};

    fn git(dir: &Path, args: &[&str]) -> Output {
        crate::process::foreground_command("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .unwrap()
    }

    fn ok(dir: &Path, args: &[&str]) -> String {
        let out = git(dir, args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A project with one commit on `main` and a bare `origin`, plus an
    /// agent worktree made the way sling makes it.
    fn project() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("project");
        let remote = tmp.path().join("remote.git");
        std::fs::create_dir_all(&root).unwrap();
        ok(tmp.path(), &["init", "-q", "--bare", "remote.git"]);
        ok(&root, &["init", "-q", "-b", "main"]);
        std::fs::write(root.join("a.txt"), "a\n").unwrap();
        ok(&root, &["add", "a.txt"]);
        ok(&root, &["commit", "-q", "-m", "first"]);
        ok(
            &root,
            &["remote", "add", "origin", &remote.to_string_lossy()],
        );
        let created = Worktrees::new(&root)
            .create(
                Path::new(".overstory/worktrees"),
                &AgentName::new("builder-1").unwrap(),
                &TaskId::new("task-1").unwrap(),
                "main",
            )
            .unwrap();
        (tmp, root, remote, created.path)
    }

    /// Two leads slinging at once: each `git worktree add` writes its admin
    /// directory in steps, and `git config --worktree` in another new
    /// worktree read one half-written ("failed to read …/commondir"). With
    /// the project's worktrees lock every concurrent creation succeeds and
    /// every worktree gets its push block.
    #[test]
    fn worktrees_created_at_once_all_get_their_push_block() {
        let (_tmp, root, _remote, _first) = project();
        std::fs::create_dir_all(root.join(".overstory")).unwrap();
        const N: usize = 12;
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(N));
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (root, barrier) = (root.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Worktrees::new(&root).create(
                        Path::new(".overstory/worktrees"),
                        &AgentName::new(&format!("builder-c{i}")).unwrap(),
                        &TaskId::new(&format!("task-c{i}")).unwrap(),
                        "main",
                    )
                })
            })
            .collect();
        for h in handles {
            let created = h.join().unwrap().unwrap_or_else(|e| {
                panic!(
                    "{e}: {:?}",
                    std::error::Error::source(&e).map(ToString::to_string)
                )
            });
            assert_eq!(
                ok(
                    &created.path,
                    &["config", "--worktree", "--get", REFUSED_PUSH_URL_KEY]
                ),
                ""
            );
            assert!(
                ok(
                    &created.path,
                    &["config", "--worktree", "--get", "core.hooksPath"]
                )
                .ends_with(HOOKS_DIR)
            );
        }
    }

    #[test]
    fn agent_worktrees_refuse_pushes_and_the_project_root_still_pushes() {
        let (_tmp, root, remote, wt) = project();
        std::fs::write(wt.join("b.txt"), "b\n").unwrap();
        ok(&wt, &["add", "b.txt"]);
        ok(&wt, &["commit", "-q", "-m", "agent work"]);
        // Every push URL is rewritten to a transport that does not exist,
        // so even a push that skips hooks fails...
        let url = format!("file://{}", remote.display());
        for args in [
            &["push", "origin", "HEAD"][..],
            &["push", "origin", "HEAD:refs/heads/main"],
            &["push", "--no-verify", "origin", "HEAD"],
            &["push", &remote.to_string_lossy(), "HEAD:refs/heads/sneaky"],
            &["push", "--no-verify", &url, "HEAD:refs/heads/sneaky"],
        ] {
            let out = git(&wt, args);
            assert!(!out.status.success(), "{args:?} pushed");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("overstory-agent-worktrees-never-push"),
                "{stderr}"
            );
        }
        // ...and a remote with an explicit push URL (which git does not
        // rewrite) meets the pre-push hook.
        let pushurl = format!("remote.origin.pushurl={}", remote.display());
        let out = git(&wt, &["-c", &pushurl, "push", "origin", "HEAD"]);
        assert!(!out.status.success(), "pushed through pushurl");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(REFUSAL), "{stderr}");
        // Fetching still works.
        ok(&wt, &["fetch", "-q", "origin"]);
        assert_eq!(ok(&remote, &["for-each-ref", "--format=%(refname)"]), "");

        // The main checkout is untouched and pushes normally.
        assert!(
            !git(&root, &["config", "--get", "core.hooksPath"])
                .status
                .success()
        );
        ok(&root, &["push", "-q", "origin", "main"]);
        assert_eq!(
            ok(&remote, &["for-each-ref", "--format=%(refname)"]),
            "refs/heads/main"
        );
        // A worktree the user adds later is not blocked either.
        ok(&root, &["worktree", "add", "-q", "-b", "mine", "../mine"]);
        let mine = root.parent().unwrap().join("mine");
        ok(&mine, &["push", "-q", "origin", "mine"]);
    }

    #[test]
    fn the_projects_own_hooks_still_run_in_agent_worktrees() {
        let (_tmp, root, _remote, wt) = project();
        let hook = root.join(".git/hooks/pre-commit");
        write_hook(
            &hook,
            "#!/bin/sh\necho 'project pre-commit says no' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::write(wt.join("c.txt"), "c\n").unwrap();
        ok(&wt, &["add", "c.txt"]);
        let out = git(&wt, &["commit", "-q", "-m", "blocked"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("project pre-commit says no"));
        std::fs::remove_file(&hook).unwrap();
        ok(&wt, &["commit", "-q", "-m", "allowed"]);
    }

    #[test]
    fn removing_the_worktree_removes_its_hooks() {
        let (_tmp, root, _remote, wt) = project();
        let hooks = PathBuf::from(ok(
            &wt,
            &["config", "--worktree", "--get", "core.hooksPath"],
        ));
        assert!(hooks.join("pre-push").exists());
        Worktrees::new(&root).rollback(&wt, "overstory/builder-1/task-1");
        assert!(!hooks.exists());
    }

    #[test]
    fn a_bare_shared_config_is_refused_rather_than_reinterpreted() {
        let (_tmp, root, _remote, wt) = project();
        ok(&root, &["config", "core.worktree", &root.to_string_lossy()]);
        let err = install(&wt).unwrap_err();
        assert!(err.to_string().contains("core.worktree"), "{err}");
    }
}
