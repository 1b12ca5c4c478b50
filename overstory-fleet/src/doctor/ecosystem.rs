//! Category `ecosystem`: the os-eco tools beside overstory (`ml` mulch,
//! `sd` seeds, `cn` canopy) answer `--version` with a semantic version.
//! All optional: a missing one warns.

use overstory_core::doctor::{Check, Finding};
use overstory_core::process;

use super::Probe;
use super::dependencies::version_of;

const CATEGORY: &str = "ecosystem";

/// Program, package.
const TOOLS: [(&str, &str); 3] = [
    ("ml", "@os-eco/mulch-cli"),
    ("sd", "@os-eco/seeds-cli"),
    ("cn", "@os-eco/canopy-cli"),
];

pub(super) fn findings(_p: &Probe<'_>) -> Vec<Finding> {
    TOOLS
        .iter()
        .map(|(bin, package)| {
            let check = match process::which(bin) {
                None => Check::warn(
                    CATEGORY,
                    bin,
                    format!("{bin} is not installed (optional): npm i -g {package}"),
                ),
                Some(path) => match version_of(&path).as_deref().and_then(semver_in) {
                    Some(v) => Check::pass(CATEGORY, bin, format!("{bin} {v}")),
                    None => Check::warn(
                        CATEGORY,
                        bin,
                        format!(
                            "{} does not report a version: reinstall it (npm i -g {package})",
                            path.display()
                        ),
                    ),
                },
            };
            Finding::of(check)
        })
        .collect()
}

/// The first `MAJOR.MINOR.PATCH` in `text`.
fn semver_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == 'v' || c == ',')
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() >= 3
                && parts[..3]
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::semver_in;

    #[test]
    fn semver_is_found_in_version_lines() {
        assert_eq!(semver_in("mulch v0.6.2").as_deref(), Some("0.6.2"));
        assert_eq!(semver_in("1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(semver_in("seeds 10.0.1-beta").as_deref(), None);
        assert_eq!(semver_in("no version here"), None);
    }
}
