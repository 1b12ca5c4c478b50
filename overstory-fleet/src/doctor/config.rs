//! Category `config`: `config.yaml` loads (its errors name file and line),
//! its warnings, the project root and the canonical branch.

use overstory_core::doctor::{Check, Finding};
use overstory_core::git::Git;

use super::Probe;

const CATEGORY: &str = "config";

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    match &p.loaded {
        Err(e) => out.push(Check::fail(
            CATEGORY,
            "config-parseable",
            format!(
                "{}; fix .overstory/config.yaml (the other checks ran with default settings)",
                overstory_core::error::chain_text(e)
            ),
        )),
        Ok(warnings) => {
            out.push(Check::pass(
                CATEGORY,
                "config-parseable",
                "config.yaml loads and validates",
            ));
            out.push(if warnings.is_empty() {
                Check::pass(CATEGORY, "config-warnings", "No unknown or deprecated keys")
            } else {
                let list: Vec<String> = warnings.iter().map(ToString::to_string).collect();
                Check::warn(
                    CATEGORY,
                    "config-warnings",
                    format!("{}; update config.yaml", list.join("; ")),
                )
            });
        }
    }
    let root = p.layout.root();
    out.push(if root.is_dir() {
        Check::pass(
            CATEGORY,
            "project-root-exists",
            format!("Project root {}", root.display()),
        )
    } else {
        Check::fail(
            CATEGORY,
            "project-root-exists",
            format!("Project root {} does not exist", root.display()),
        )
    });
    let branch = &p.config.project.canonical_branch;
    let reference = format!("refs/heads/{branch}");
    let exists = Git::new(root)
        .succeeds(&["rev-parse", "--verify", "--quiet", reference.as_str()])
        .unwrap_or(false);
    out.push(if exists {
        Check::pass(
            CATEGORY,
            "canonical-branch-exists",
            format!("Canonical branch \"{branch}\" exists"),
        )
    } else {
        Check::warn(
            CATEGORY,
            "canonical-branch-exists",
            format!(
                "Canonical branch \"{branch}\" does not exist: agents branch from it and merge into it; \
                 create it or set project.canonicalBranch"
            ),
        )
    });
    out.into_iter().map(Finding::of).collect()
}
