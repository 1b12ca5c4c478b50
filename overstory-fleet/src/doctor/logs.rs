//! Category `logs`: `.overstory/logs/` exists, its size, and the newest
//! stream log of each agent is intact NDJSON.

use std::path::Path;

use overstory_core::doctor::{Check, Finding};

use super::Probe;

const CATEGORY: &str = "logs";
/// Past this the logs deserve pruning.
const WARN_BYTES: u64 = 500 * 1024 * 1024;
/// How many trailing lines of each stream log are sampled.
const SAMPLE_LINES: usize = 20;

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let dir = p.layout.logs_dir();
    if !dir.is_dir() {
        return vec![
            Check::warn(
                CATEGORY,
                "logs directory",
                format!(
                    "{} is missing: run ov doctor --fix (structure) to create it",
                    dir.display()
                ),
            )
            .into(),
        ];
    }
    let mut out = Vec::new();
    let mut per_agent: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                size_of(&e.path()),
            )
        })
        .collect();
    per_agent.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let total = size_of(&dir);
    let top: Vec<String> = per_agent
        .iter()
        .take(3)
        .map(|(n, s)| format!("{n} {}", mib(*s)))
        .collect();
    let largest = if top.is_empty() {
        String::new()
    } else {
        format!(" (largest: {})", top.join(", "))
    };
    out.push(if total > WARN_BYTES {
        Check::warn(
            CATEGORY,
            "logs size",
            format!(
                "Logs take {}{largest}: remove old agent logs (ov clean --logs)",
                mib(total)
            ),
        )
    } else {
        Check::pass(
            CATEGORY,
            "logs size",
            format!("Logs take {}{largest}", mib(total)),
        )
    });

    let mut broken = Vec::new();
    for (agent, _) in &per_agent {
        if let Some(log) = newest_stdout_log(&dir.join(agent))
            && !tail_is_ndjson(&log)
        {
            broken.push(log.display().to_string());
        }
    }
    out.push(if broken.is_empty() {
        Check::pass(CATEGORY, "stream logs", "The newest stream log of each agent is valid NDJSON")
    } else {
        Check::warn(
            CATEGORY,
            "stream logs",
            format!(
                "Stream logs with lines that are not JSON (a truncated write, or another program's output): {}; \
                 ov coordinator output skips those lines",
                broken.join(", ")
            ),
        )
    });
    out.into_iter().map(Finding::of).collect()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| size_of(&e.path()))
        .sum()
}

fn newest_stdout_log(agent_dir: &Path) -> Option<std::path::PathBuf> {
    let mut logs: Vec<_> = std::fs::read_dir(agent_dir)
        .ok()?
        .flatten()
        .map(|e| e.path().join("stdout.log"))
        .filter(|p| p.is_file())
        .collect();
    logs.sort();
    logs.pop()
}

/// Whether the last complete lines of `log` parse as JSON (the line being
/// written may be incomplete and is not counted).
fn tail_is_ndjson(log: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(log) else {
        return false;
    };
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return true,
    };
    let lines: Vec<&str> = complete.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(SAMPLE_LINES)..]
        .iter()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
}
