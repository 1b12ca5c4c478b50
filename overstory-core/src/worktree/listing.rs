//! The worktree list read from the repository's own files, with no child
//! process: what `git worktree list --porcelain` prints, for the layouts it
//! knows, and `None` (ask git) for every other.
//!
//! Git keeps the list in `<common dir>/worktrees/<id>/`: `gitdir` names the
//! linked worktree's `.git` file and `HEAD` its checkout; the main worktree's
//! `HEAD` is `<common dir>/HEAD`. Branches resolve through loose refs, then
//! `packed-refs`. Like git, the main worktree comes first (its real path) and
//! the linked ones follow sorted by path; an entry whose `gitdir` cannot be
//! read is skipped, as git skips it.
//!
//! Handled: a main checkout whose `.git` is a directory, in the files ref
//! format. Not handled (returns `None`): `root` is itself a linked worktree
//! or a submodule (`.git` is a file), a bare repository, the reftable ref
//! format, a branch that does not resolve (an unborn branch), a symbolic
//! ref chain deeper than git allows.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use super::WorktreeInfo;

/// How many symbolic refs git follows before giving up.
const MAX_SYMREF_DEPTH: usize = 5;

/// Reads the worktrees of the repository whose main checkout is `root`.
pub(super) fn read(root: &Path) -> Option<Vec<WorktreeInfo>> {
    let common = root.join(".git");
    if !common.is_dir() || common.join("reftable").exists() || common.join("commondir").exists() {
        return None;
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).unwrap_or_default();
    let refs = Refs {
        common: &common,
        packed: &packed,
    };
    let main_path = common.canonicalize().ok()?.parent()?.to_path_buf();
    let mut out = vec![refs.entry(main_path, &common)?];
    let mut linked = Vec::new();
    match std::fs::read_dir(common.join("worktrees")) {
        Ok(entries) => {
            for entry in entries {
                let admin = entry.ok()?.path();
                let Ok(text) = std::fs::read_to_string(admin.join("gitdir")) else {
                    continue;
                };
                let dotgit = text.trim_end();
                let dotgit = dotgit.strip_suffix("/.git").unwrap_or(dotgit);
                if dotgit.is_empty() {
                    continue;
                }
                let path = Path::new(dotgit);
                let path = if path.is_absolute() {
                    path.to_path_buf()
                } else {
                    let joined = admin.join(path);
                    joined.canonicalize().unwrap_or(joined)
                };
                linked.push(refs.entry(path, &admin)?);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => return None,
    }
    linked.sort_by(|a, b| bytes(&a.path).cmp(bytes(&b.path)));
    out.extend(linked);
    Some(out)
}

fn bytes(p: &Path) -> &[u8] {
    OsStr::as_bytes(p.as_os_str())
}

struct Refs<'a> {
    common: &'a Path,
    packed: &'a str,
}

impl Refs<'_> {
    /// The entry for the worktree at `path` whose `HEAD` is in `head_dir`.
    fn entry(&self, path: PathBuf, head_dir: &Path) -> Option<WorktreeInfo> {
        let head = std::fs::read_to_string(head_dir.join("HEAD")).ok()?;
        let head = head.trim_end();
        let (head, branch) = match head.strip_prefix("ref: ") {
            Some(name) => (self.resolve(name, 0)?, name),
            None => (head.to_owned(), ""),
        };
        Some(WorktreeInfo {
            path,
            head,
            branch: branch
                .strip_prefix("refs/heads/")
                .unwrap_or(branch)
                .to_owned(),
        })
    }

    /// The object id `name` points at: its loose file, else its line in
    /// `packed-refs`.
    fn resolve(&self, name: &str, depth: usize) -> Option<String> {
        if depth > MAX_SYMREF_DEPTH || !name.starts_with("refs/") || name.contains("..") {
            return None;
        }
        if let Ok(text) = std::fs::read_to_string(self.common.join(name)) {
            let text = text.trim_end();
            return match text.strip_prefix("ref: ") {
                Some(next) => self.resolve(next, depth + 1),
                None => is_object_id(text).then(|| text.to_owned()),
            };
        }
        self.packed
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
            .find_map(|l| {
                let (id, refname) = l.split_once(' ')?;
                (refname == name && is_object_id(id)).then(|| id.to_owned())
            })
    }
}

fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worktree::parse_porcelain;

    fn git(dir: &Path, args: &[&str]) -> String {
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
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn from_git(dir: &Path) -> Vec<WorktreeInfo> {
        parse_porcelain(&git(dir, &["worktree", "list", "--porcelain"]))
    }

    #[test]
    fn files_give_what_git_worktree_list_prints() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        git(&root, &["init", "-q", "-b", "main"]);
        git(&root, &["config", "user.email", "t@example.invalid"]);
        git(&root, &["config", "user.name", "T"]);
        git(&root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        assert_eq!(read(&root), Some(from_git(&root)), "main only");

        let wt = root.join(".overstory/worktrees");
        for (name, extra) in [
            ("zeta", vec!["-b", "overstory/zeta/t-1"]),
            ("alpha", vec!["-b", "overstory/alpha/t-2"]),
            ("detached", vec!["--detach"]),
        ] {
            let path = wt.join(name);
            let mut args = vec!["worktree", "add", "-q"];
            args.extend(extra);
            args.push(path.to_str().unwrap());
            git(&root, &args);
        }
        git(
            &wt.join("zeta"),
            &["commit", "-q", "--allow-empty", "-m", "two"],
        );
        let listed = read(&root).unwrap();
        assert_eq!(listed, from_git(&root), "loose refs");
        assert_eq!(listed.len(), 4);
        assert_eq!(listed[1].branch, "overstory/alpha/t-2", "sorted by path");

        git(&root, &["pack-refs", "--all"]);
        assert_eq!(read(&root), Some(from_git(&root)), "packed refs");

        // A deleted worktree directory is still listed (prunable), as by git.
        std::fs::remove_dir_all(wt.join("alpha")).unwrap();
        assert_eq!(read(&root), Some(from_git(&root)), "prunable entry");
    }

    #[test]
    fn layouts_it_does_not_know_are_left_to_git() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        assert_eq!(read(root), None, "not a repository");
        git(root, &["init", "-q", "-b", "main"]);
        assert_eq!(read(root), None, "unborn branch");
        git(root, &["config", "user.email", "t@example.invalid"]);
        git(root, &["config", "user.name", "T"]);
        git(root, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let linked = root.join("linked");
        git(
            root,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                linked.to_str().unwrap(),
            ],
        );
        assert_eq!(read(&linked), None, "a linked worktree's .git is a file");
    }
}
