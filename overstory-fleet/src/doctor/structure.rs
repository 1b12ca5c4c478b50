//! Category `structure`: `.overstory/` holds the files and directories
//! `ov init` makes, its `.gitignore` whitelists what is tracked, and no
//! temp files from interrupted writes are left behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use overstory_core::doctor::{Check, Finding, Fix};
use overstory_core::init::files::GITIGNORE;

use super::Probe;

const CATEGORY: &str = "structure";

/// How old a temp file must be before it counts as left over (a younger one
/// may belong to a write in progress).
const LEFTOVER_AGE: Duration = Duration::from_secs(5 * 60);

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let layout = p.layout;
    if !layout.dir().is_dir() {
        return vec![
            Check::fail(
                CATEGORY,
                ".overstory",
                format!("{} does not exist: run ov init", layout.dir().display()),
            )
            .into(),
        ];
    }
    let mut out = Vec::new();
    let missing: Vec<String> = [layout.config(), layout.manifest(), layout.hooks()]
        .iter()
        .filter(|f| !f.is_file())
        .map(|f| name_of(f))
        .collect();
    out.push(if missing.is_empty() {
        Check::pass(
            CATEGORY,
            "required files",
            "config.yaml, agent-manifest.json and hooks.json are present",
        )
        .into()
    } else {
        Check::fail(
            CATEGORY,
            "required files",
            format!(
                "Missing {}: run ov init --force to restore them (config.yaml is backed up first)",
                missing.join(", ")
            ),
        )
        .into()
    });

    let dirs = [
        layout.agent_defs_dir(),
        layout.agents_dir(),
        layout.worktrees_dir(),
        layout.specs_dir(),
        layout.logs_dir(),
    ];
    let absent: Vec<PathBuf> = dirs.into_iter().filter(|d| !d.is_dir()).collect();
    out.push(if absent.is_empty() {
        Check::pass(
            CATEGORY,
            "directories",
            "agent-defs, agents, worktrees, specs and logs exist",
        )
        .into()
    } else {
        let names: Vec<String> = absent.iter().map(|d| name_of(d)).collect();
        Finding::fixable(
            Check::warn(
                CATEGORY,
                "directories",
                format!(
                    "Missing directories {}: run ov doctor --fix to create them",
                    names.join(", ")
                ),
            ),
            absent.into_iter().map(Fix::CreateDir).collect(),
        )
    });

    out.push(gitignore(&layout.gitignore()));
    out.push(leftovers(layout.dir(), &layout.agents_dir()));
    out
}

fn name_of(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `.overstory/.gitignore` holds every whitelist line `ov init` writes.
fn gitignore(path: &Path) -> Finding {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let have: Vec<&str> = text.lines().map(str::trim).collect();
    let missing: Vec<String> = GITIGNORE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| !have.contains(l))
        .map(str::to_owned)
        .collect();
    if missing.is_empty() {
        return Check::pass(
            CATEGORY,
            ".gitignore",
            ".overstory/.gitignore whitelists the tracked files",
        )
        .into();
    }
    let what = if path.is_file() {
        format!(".overstory/.gitignore lacks {}", missing.join(" "))
    } else {
        ".overstory/.gitignore is missing, so git would track databases and logs".to_owned()
    };
    Finding::fixable(
        Check::warn(
            CATEGORY,
            ".gitignore",
            format!("{what}: run ov doctor --fix to add the entries"),
        ),
        vec![Fix::AppendLines {
            path: path.to_owned(),
            lines: missing,
        }],
    )
}

/// Temp files of interrupted atomic writes (`.<name>.tmp-…`) and `*.tmp` /
/// `*.bak` files older than [`LEFTOVER_AGE`], in `.overstory/` and each
/// agent's directory.
fn leftovers(state_dir: &Path, agents_dir: &Path) -> Finding {
    let mut dirs = vec![state_dir.to_owned()];
    if let Ok(entries) = std::fs::read_dir(agents_dir) {
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let now = SystemTime::now();
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let temp = (name.starts_with('.') && name.contains(".tmp-"))
                || name.ends_with(".tmp")
                || name.ends_with(".bak");
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= LEFTOVER_AGE);
            if temp && old && e.path().is_file() {
                found.push(e.path());
            }
        }
    }
    if found.is_empty() {
        return Check::pass(CATEGORY, "leftover files", "No leftover temp files").into();
    }
    let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
    Finding::fixable(
        Check::warn(
            CATEGORY,
            "leftover files",
            format!(
                "Leftover temp files from interrupted writes: {}; run ov doctor --fix to delete them",
                names.join(", ")
            ),
        ),
        found.into_iter().map(Fix::RemoveFile).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::Layout;
    use overstory_core::doctor::CheckStatus;

    #[test]
    fn only_old_temp_files_are_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.agents_dir().join("builder-1")).unwrap();
        let old = layout
            .agents_dir()
            .join("builder-1/.identity.yaml.tmp-123-0");
        let young = layout.dir().join(".config.yaml.tmp-456-0");
        let backup = layout.config_backup();
        for f in [&old, &young, &backup] {
            std::fs::write(f, "x").unwrap();
        }
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let f = leftovers(layout.dir(), &layout.agents_dir());
        assert_eq!(f.check.status, CheckStatus::Warn);
        assert!(
            matches!(&f.fixes[..], [Fix::RemoveFile(p)] if *p == old),
            "{f:?}"
        );
    }

    #[test]
    fn a_missing_gitignore_is_written_with_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitignore");
        let f = gitignore(&path);
        assert_eq!(f.check.status, CheckStatus::Warn);
        f.fixes[0].apply().unwrap();
        assert_eq!(gitignore(&path).check.status, CheckStatus::Pass);
    }
}
