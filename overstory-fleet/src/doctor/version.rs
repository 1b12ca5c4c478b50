//! Category `version`: which overstory this is, and whether
//! `.overstory/README.md` is the one this version writes.

use overstory_core::doctor::{Check, Finding};

use super::Probe;

const CATEGORY: &str = "version";

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let mut out = vec![Check::pass(
        CATEGORY,
        "ov version",
        format!("overstory {} (Rust)", overstory_core::VERSION),
    )];
    let readme = p.layout.readme();
    out.push(match std::fs::read_to_string(&readme) {
        Ok(text) if text == overstory_core::init::files::README => Check::pass(
            CATEGORY,
            "state README",
            ".overstory/README.md matches this version",
        ),
        Ok(_) => Check::warn(
            CATEGORY,
            "state README",
            ".overstory/README.md was written by another overstory version: ov init --force refreshes it",
        ),
        Err(_) => Check::warn(
            CATEGORY,
            "state README",
            ".overstory/README.md is missing: ov init --force restores it",
        ),
    });
    out.into_iter().map(Finding::of).collect()
}
