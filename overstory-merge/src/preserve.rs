//! The no-silent-loss check.
//!
//! After a tier resolves conflicts, every non-blank line that either side
//! added relative to the merge base must still be in the resolved file. A
//! resolution that would drop one fails its tier, naming the lines.

use std::collections::HashSet;
use std::path::Path;

use overstory_core::git::Git;

/// One line a resolution would have dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedLine {
    /// The file.
    pub file: String,
    /// The line (without its newline).
    pub line: String,
}

impl std::fmt::Display for DroppedLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.line)
    }
}

/// Returns the non-blank lines `side` added to `file` relative to `base`.
fn added_lines(git: &Git, base: &str, side: &str, file: &str) -> Vec<String> {
    let Ok(diff) = git.run(&[
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "-U0",
        base,
        side,
        "--",
        file,
    ]) else {
        return Vec::new();
    };
    diff.lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| l[1..].trim_end().to_owned())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Checks the resolved `files` in the worktree at `dir` against the lines
/// `ours` and `theirs` added since `base`. Returns the lines that are
/// missing (empty when nothing was lost).
pub fn dropped_lines(
    git: &Git,
    dir: &Path,
    base: &str,
    ours: &str,
    theirs: &str,
    files: &[String],
) -> Vec<DroppedLine> {
    let mut dropped = Vec::new();
    for file in files {
        let result = std::fs::read(dir.join(file))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let have: HashSet<&str> = result.lines().map(str::trim_end).collect();
        let mut seen = HashSet::new();
        for side in [ours, theirs] {
            for line in added_lines(git, base, side, file) {
                if !have.contains(line.as_str()) && seen.insert(line.clone()) {
                    dropped.push(DroppedLine {
                        file: file.clone(),
                        line,
                    });
                }
            }
        }
    }
    dropped
}
