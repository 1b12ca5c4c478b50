//! Agent identity (`.overstory/agents/<name>/identity.yaml`) and
//! checkpoints (`checkpoint.json`).
//!
//! The identity is a small YAML subset written and read by hand (no YAML
//! dependency): scalars are double-quoted when YAML would misread them, lists
//! are tab-indented and `[]` when empty, and the reader skips comments and
//! lines it does not understand instead of failing.
//!
//! The original's handoff log (`handoffs.json`) had no production writer or
//! reader and is not carried over; checkpoints are kept because
//! `ov prime --compact` reads them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use overstory_core::FsError;
use overstory_runtime::error::RuntimeError;

/// Newest completed tasks kept in an identity.
pub const RECENT_TASKS_CAP: usize = 20;

/// A completed task in an agent's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentTask {
    /// Task id.
    pub task_id: String,
    /// One-line summary.
    pub summary: String,
    /// When it was completed (ISO-8601).
    pub completed_at: String,
}

/// An agent's persistent identity (its CV).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// Agent name.
    pub name: String,
    /// Capability.
    pub capability: String,
    /// Creation time (ISO-8601).
    pub created: String,
    /// Sessions completed.
    pub sessions_completed: u64,
    /// Expertise domains, deduplicated, in first-seen order.
    pub expertise_domains: Vec<String>,
    /// Newest completed tasks (at most [`RECENT_TASKS_CAP`]).
    pub recent_tasks: Vec<RecentTask>,
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.contains(": ")
        || s.contains('#')
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.starts_with('"')
        || s.starts_with('\'')
        || matches!(s, "true" | "false" | "null" | "~")
        || s.starts_with(|c: char| c.is_ascii_digit())
        || s.contains('\n')
}

fn scalar(s: &str) -> String {
    if needs_quotes(s) {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        )
    } else {
        s.to_owned()
    }
}

fn unscalar(s: &str) -> String {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(e) => out.push(e),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    s.to_owned()
}

impl Identity {
    /// Creates a fresh identity.
    pub fn new(name: &str, capability: &str, domains: &[String], now: &str) -> Self {
        let mut id = Self {
            name: name.to_owned(),
            capability: capability.to_owned(),
            created: now.to_owned(),
            ..Self::default()
        };
        id.add_domains(domains);
        id
    }

    fn add_domains(&mut self, domains: &[String]) {
        for d in domains {
            if !self.expertise_domains.contains(d) {
                self.expertise_domains.push(d.clone());
            }
        }
    }

    /// Renders the YAML text.
    pub fn to_yaml(&self) -> String {
        let mut s = format!(
            "name: {}\ncapability: {}\ncreated: {}\nsessionsCompleted: {}\n",
            scalar(&self.name),
            scalar(&self.capability),
            scalar(&self.created),
            self.sessions_completed
        );
        if self.expertise_domains.is_empty() {
            s.push_str("expertiseDomains: []\n");
        } else {
            s.push_str("expertiseDomains:\n");
            for d in &self.expertise_domains {
                s.push_str(&format!("\t- {}\n", scalar(d)));
            }
        }
        if self.recent_tasks.is_empty() {
            s.push_str("recentTasks: []\n");
        } else {
            s.push_str("recentTasks:\n");
            for t in &self.recent_tasks {
                s.push_str(&format!(
                    "\t- taskId: {}\n\t  summary: {}\n\t  completedAt: {}\n",
                    scalar(&t.task_id),
                    scalar(&t.summary),
                    scalar(&t.completed_at)
                ));
            }
        }
        s
    }

    /// Parses the YAML text; never fails (unknown lines are skipped).
    pub fn from_yaml(text: &str) -> Self {
        let mut id = Self::default();
        let mut section = "";
        for raw in text.lines() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indented = raw.starts_with('\t') || raw.starts_with(' ');
            if !indented {
                let Some((k, v)) = trimmed.split_once(':') else {
                    continue;
                };
                let v = v.trim();
                section = "";
                match k {
                    "name" => id.name = unscalar(v),
                    "capability" => id.capability = unscalar(v),
                    "created" => id.created = unscalar(v),
                    "sessionsCompleted" => id.sessions_completed = unscalar(v).parse().unwrap_or(0),
                    "expertiseDomains" if v.is_empty() => section = "domains",
                    "recentTasks" if v.is_empty() => section = "tasks",
                    _ => {}
                }
                continue;
            }
            let (item_start, body) = match trimmed.strip_prefix("- ") {
                Some(b) => (true, b),
                None => (false, trimmed),
            };
            match section {
                "domains" if item_start => id.expertise_domains.push(unscalar(body)),
                "tasks" => {
                    if item_start {
                        id.recent_tasks.push(RecentTask {
                            task_id: String::new(),
                            summary: String::new(),
                            completed_at: String::new(),
                        });
                    }
                    let (Some(task), Some((k, v))) =
                        (id.recent_tasks.last_mut(), body.split_once(':'))
                    else {
                        continue;
                    };
                    match k.trim() {
                        "taskId" => task.task_id = unscalar(v),
                        "summary" => task.summary = unscalar(v),
                        "completedAt" => task.completed_at = unscalar(v),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        id
    }
}

/// Loads an identity; `None` when the file does not exist.
pub fn load_identity(path: &Path) -> Option<Identity> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| Identity::from_yaml(&t))
}

/// Writes an identity atomically, creating the directory.
///
/// # Errors
/// [`FsError`] naming the directory or file that could not be written.
pub fn save_identity(path: &Path, id: &Identity) -> Result<(), FsError> {
    overstory_core::fsio::write_atomic(path, id.to_yaml())
}

/// Records a finished session: adds `sessions`, unions `domains`, appends a
/// completed task stamped `now` and keeps the newest [`RECENT_TASKS_CAP`].
///
/// # Errors
/// [`RuntimeError::IdentityNotFound`] when the agent has no identity;
/// [`RuntimeError::Io`] when it cannot be written.
pub fn update_identity(
    path: &Path,
    agent: &str,
    sessions: u64,
    domains: &[String],
    task: Option<(&str, &str)>,
    now: &str,
) -> Result<Identity, RuntimeError> {
    let mut id = load_identity(path).ok_or_else(|| RuntimeError::IdentityNotFound {
        agent: agent.to_owned(),
    })?;
    id.sessions_completed += sessions;
    id.add_domains(domains);
    if let Some((task_id, summary)) = task {
        id.recent_tasks.push(RecentTask {
            task_id: task_id.to_owned(),
            summary: summary.to_owned(),
            completed_at: now.to_owned(),
        });
        let excess = id.recent_tasks.len().saturating_sub(RECENT_TASKS_CAP);
        id.recent_tasks.drain(..excess);
    }
    save_identity(path, &id).map_err(|e| RuntimeError::Io {
        action: "write the agent identity",
        source: e.source,
    })?;
    Ok(id)
}

/// Where an agent stood when its context was compacted or it crashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Agent name.
    pub agent_name: String,
    /// Task id.
    pub task_id: String,
    /// Runtime session id.
    pub session_id: String,
    /// When it was taken.
    pub timestamp: String,
    /// What is done.
    pub progress_summary: String,
    /// Files touched.
    pub files_modified: Vec<String>,
    /// Branch.
    pub current_branch: String,
    /// What is left.
    pub pending_work: String,
    /// Mulch domains.
    pub mulch_domains: Vec<String>,
}

/// Saves (overwrites) a checkpoint as tab-indented JSON, atomically.
///
/// # Errors
/// [`FsError`] naming the directory or file that could not be written.
pub fn save_checkpoint(path: &Path, cp: &Checkpoint) -> Result<(), FsError> {
    // A struct of strings and lists of strings always converts.
    let v = serde_json::to_value(cp).unwrap_or_default();
    overstory_core::fsio::write_atomic(path, overstory_core::json::to_tab_string(&v))
}

/// Loads a checkpoint; `Ok(None)` when there is none.
///
/// # Errors
/// [`RuntimeError::Checkpoint`] when the file holds invalid JSON.
pub fn load_checkpoint(path: &Path) -> Result<Option<Checkpoint>, RuntimeError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| RuntimeError::Checkpoint {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Removes a checkpoint; a missing one is fine.
pub fn clear_checkpoint(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_with_special_characters() {
        let mut id = Identity::new(
            "b-1",
            "builder",
            &["rust".into(), "a: b".into()],
            "2026-01-01T00:00:00.000Z",
        );
        id.recent_tasks.push(RecentTask {
            task_id: "t-1".into(),
            summary: "said \"hi\" # not a comment \\ ok".into(),
            completed_at: "2026-01-02T00:00:00.000Z".into(),
        });
        id.sessions_completed = 3;
        let yaml = id.to_yaml();
        assert!(
            yaml.contains("created: \"2026-01-01T00:00:00.000Z\""),
            "{yaml}"
        );
        assert!(yaml.contains("\t- rust\n"));
        assert_eq!(Identity::from_yaml(&yaml), id);
        let empty = Identity::new("x", "scout", &[], "true");
        let y = empty.to_yaml();
        assert!(
            y.contains("expertiseDomains: []")
                && y.contains("recentTasks: []")
                && y.contains("created: \"true\"")
        );
        assert_eq!(Identity::from_yaml(&y), empty);
    }

    #[test]
    fn parser_tolerates_comments_blank_lines_and_garbage() {
        let id =
            Identity::from_yaml("# comment\n\nname: a\n???\nsessionsCompleted: x\n\t- orphan\n");
        assert_eq!(id.name, "a");
        assert_eq!(id.sessions_completed, 0);
    }

    #[test]
    fn update_adds_sessions_unions_domains_and_caps_tasks() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agents/b/identity.yaml");
        let err = update_identity(&p, "b", 1, &[], None, "now").unwrap_err();
        assert_eq!(err.code(), "AGENT_ERROR");
        save_identity(&p, &Identity::new("b", "builder", &["a".into()], "t0")).unwrap();
        for i in 0..25 {
            update_identity(
                &p,
                "b",
                1,
                &["a".into(), "b".into()],
                Some((&format!("t{i}"), "done")),
                "t",
            )
            .unwrap();
        }
        let id = load_identity(&p).unwrap();
        assert_eq!(id.sessions_completed, 25);
        assert_eq!(id.expertise_domains, ["a", "b"]);
        assert_eq!(id.recent_tasks.len(), 20);
        assert_eq!(id.recent_tasks[0].task_id, "t5");
    }

    #[test]
    fn checkpoints_save_load_overwrite_and_clear() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/checkpoint.json");
        assert_eq!(load_checkpoint(&p).unwrap(), None);
        let mut cp = Checkpoint {
            agent_name: "a".into(),
            task_id: "t".into(),
            session_id: "s".into(),
            timestamp: "now".into(),
            progress_summary: "half".into(),
            files_modified: vec!["x.rs".into()],
            current_branch: "b".into(),
            pending_work: "rest".into(),
            mulch_domains: vec![],
        };
        save_checkpoint(&p, &cp).unwrap();
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("\t\"agentName\": \"a\"")
        );
        cp.progress_summary = "all".into();
        save_checkpoint(&p, &cp).unwrap();
        assert_eq!(load_checkpoint(&p).unwrap(), Some(cp));
        clear_checkpoint(&p);
        clear_checkpoint(&p);
        assert_eq!(load_checkpoint(&p).unwrap(), None);
        std::fs::write(&p, "{bad").unwrap();
        assert!(load_checkpoint(&p).is_err());
    }
}
