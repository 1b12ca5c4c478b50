//! Finding the project root.
//!
//! A command run anywhere inside a project — at the root, in a subdirectory,
//! or inside an agent's worktree under `.overstory/worktrees/` — resolves to
//! the same root. The rules, first match wins:
//!
//! 1. an explicit override (`--project`), which must be initialised;
//! 2. `OVERSTORY_PROJECT_ROOT` (set for every slung agent);
//! 3. a start directory inside `<root>/.overstory/worktrees/…` whose `<root>`
//!    holds `.overstory/config.yaml`;
//! 4. the nearest ancestor holding `.overstory/config.yaml` when that
//!    ancestor is a main checkout (its `.git` is a directory) — found without
//!    running git;
//! 5. the parent of git's common directory, when it holds
//!    `.overstory/config.yaml` (an agent worktree resolves to the main
//!    repository even when `config.yaml` is committed into the worktree);
//! 6. the nearest ancestor of the start directory holding
//!    `.overstory/config.yaml`;
//! 7. the start directory itself (uninitialised; commands that need a project
//!    then fail with a clear message).

use std::path::{Component, Path, PathBuf};

use crate::error::ConfigError;
use crate::git::Git;
use crate::layout::{Layout, STATE_DIR};

/// Where the root came from, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// The `--project` flag.
    Override,
    /// The `OVERSTORY_PROJECT_ROOT` variable.
    Env,
    /// The start directory is inside an agent worktree.
    WorktreePath,
    /// The parent of git's common directory: the main checkout of an agent worktree.
    GitCommonDir,
    /// An ancestor of the start directory.
    Ancestor,
    /// Nothing matched: the start directory itself, not yet initialised.
    StartDir,
}

/// Resolves the project root for a command started in `start`.
///
/// `override_root` is the `--project` value (relative paths resolve against
/// `start`); `env_root` the value of `OVERSTORY_PROJECT_ROOT`, if any.
///
/// # Errors
/// [`ConfigError::NotAProject`] when the override is not initialised.
pub fn resolve_root(
    override_root: Option<&Path>,
    env_root: Option<&Path>,
    start: &Path,
) -> Result<(PathBuf, RootSource), ConfigError> {
    if let Some(o) = override_root {
        let abs = normalize(&start.join(o));
        if !Layout::new(&abs).is_initialized() {
            return Err(ConfigError::NotAProject { root: abs });
        }
        return Ok((abs, RootSource::Override));
    }
    if let Some(e) = env_root {
        return Ok((normalize(&start.join(e)), RootSource::Env));
    }
    let start = normalize(start);
    if let Some(root) = worktree_prefix(&start)
        && Layout::new(&root).is_initialized()
    {
        return Ok((root, RootSource::WorktreePath));
    }
    // The common case needs no git process: the nearest initialised ancestor
    // holds a real `.git` directory, so it is a main checkout, not a linked
    // worktree whose committed config.yaml must not count.
    if let Some(dir) = start.ancestors().find(|d| Layout::new(d).is_initialized())
        && dir.join(".git").is_dir()
    {
        return Ok((dir.to_owned(), RootSource::Ancestor));
    }
    if let Ok(common) = Git::new(&start).common_dir()
        && let Some(parent) = normalize(&common).parent()
        && parent != start
        && Layout::new(parent).is_initialized()
    {
        return Ok((parent.to_owned(), RootSource::GitCommonDir));
    }
    for dir in start.ancestors() {
        if Layout::new(dir).is_initialized() {
            return Ok((dir.to_owned(), RootSource::Ancestor));
        }
    }
    Ok((start, RootSource::StartDir))
}

/// Returns `<root>` when `dir` lies inside `<root>/.overstory/worktrees/`.
fn worktree_prefix(dir: &Path) -> Option<PathBuf> {
    let comps: Vec<Component<'_>> = dir.components().collect();
    comps.windows(2).enumerate().find_map(|(i, w)| {
        let is_marker = w[0].as_os_str() == STATE_DIR && w[1].as_os_str() == "worktrees";
        (is_marker && comps.len() > i + 2).then(|| comps[..i].iter().collect())
    })
}

/// Makes `p` lexically normal: removes `.` and resolves `..` without touching
/// the filesystem (so a missing directory still normalises).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(dir: &Path) {
        std::fs::create_dir_all(dir.join(".overstory")).unwrap();
        std::fs::write(dir.join(".overstory/config.yaml"), "project:\n  name: x\n").unwrap();
    }

    #[test]
    fn override_beats_everything_and_must_be_initialised() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        init(a.path());
        let (root, src) = resolve_root(Some(a.path()), Some(b.path()), b.path()).unwrap();
        assert_eq!((root.as_path(), src), (a.path(), RootSource::Override));
        let err = resolve_root(Some(b.path()), None, a.path()).unwrap_err();
        assert!(err.to_string().contains("is not an overstory project"));
    }

    #[test]
    fn env_beats_walk_up() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        init(a.path());
        let (root, src) = resolve_root(None, Some(b.path()), a.path()).unwrap();
        assert_eq!((root.as_path(), src), (b.path(), RootSource::Env));
    }

    #[test]
    fn worktree_path_needs_parent_config() {
        let a = tempfile::tempdir().unwrap();
        let wt = a.path().join(".overstory/worktrees/builder-1/src");
        std::fs::create_dir_all(&wt).unwrap();
        let (root, _) = resolve_root(None, None, &wt).unwrap();
        assert_eq!(root, wt, "uninitialised parent is not a root");
        init(a.path());
        let (root, src) = resolve_root(None, None, &wt).unwrap();
        assert_eq!((root.as_path(), src), (a.path(), RootSource::WorktreePath));
    }

    #[test]
    fn subdirectory_walks_up() {
        let a = tempfile::tempdir().unwrap();
        init(a.path());
        let sub = a.path().join("src/deep");
        std::fs::create_dir_all(&sub).unwrap();
        let (root, src) = resolve_root(None, None, &sub).unwrap();
        assert_eq!((root.as_path(), src), (a.path(), RootSource::Ancestor));
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = crate::process::foreground_command("git")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn linked_worktree_with_committed_config_resolves_to_the_main_checkout() {
        let main = tempfile::tempdir().unwrap();
        git(main.path(), &["init", "-q", "-b", "main"]);
        init(main.path());
        git(main.path(), &["add", ".overstory/config.yaml"]);
        git(
            main.path(),
            &[
                "-c",
                "user.email=t@x",
                "-c",
                "user.name=t",
                "commit",
                "-q",
                "-m",
                "config",
            ],
        );
        let (root, src) = resolve_root(None, None, main.path()).unwrap();
        assert_eq!((root.as_path(), src), (main.path(), RootSource::Ancestor));
        // A worktree outside .overstory/worktrees has the committed config too.
        let elsewhere = tempfile::tempdir().unwrap();
        let wt = elsewhere.path().join("wt");
        git(
            main.path(),
            &["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()],
        );
        assert!(Layout::new(&wt).is_initialized(), "the config is committed");
        let (root, src) = resolve_root(None, None, &wt).unwrap();
        assert_eq!(src, RootSource::GitCommonDir);
        assert_eq!(
            root.canonicalize().unwrap(),
            main.path().canonicalize().unwrap()
        );
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }
}
