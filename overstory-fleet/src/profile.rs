//! Agent identity (`.overstory/agents/<name>/identity.yaml`) and
//! checkpoints (`checkpoint.json`).
//!
//! The identity is YAML read and written through [`overstory_core::yaml`],
//! the dialect `config.yaml` uses: strings are double-quoted when YAML would
//! misread them (so ISO dates are quoted), lists are indented with two
//! spaces and `[]` when empty. The original wrote tab-indented lists, which
//! YAML forbids; the reader still takes them (tabs in indentation count as
//! two spaces). Reading never fails: a file that does not parse as a whole is
//! read entry by entry, and fields that are missing or of the wrong type keep
//! their defaults.
//!
//! The original's handoff log (`handoffs.json`) had no production writer or
//! reader and is not carried over; checkpoints are kept because
//! `ov prime --compact` reads them.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use overstory_core::{AgentName, FsError, Layout, clock};
use overstory_sessions::SessionStore;

use crate::error::FleetError;

/// Newest completed tasks kept in an identity.
pub const RECENT_TASKS_CAP: usize = 20;

/// A completed task in an agent's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentTask {
    /// Task id.
    pub task_id: String,
    /// One-line summary.
    pub summary: String,
    /// When it was completed (ISO-8601).
    pub completed_at: String,
}

/// An agent's persistent identity (its CV).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => overstory_core::yaml::to_string(&map),
            // A struct of strings, numbers and lists always converts.
            _ => String::new(),
        }
    }

    /// Parses the YAML text; never fails (what cannot be read is skipped).
    pub fn from_yaml(text: &str) -> Self {
        let map = overstory_core::yaml::from_str_lenient(text, Path::new(IDENTITY_FILE));
        let list = |key: &str| match map.get(key) {
            Some(Value::Array(items)) => items.as_slice(),
            _ => &[],
        };
        Self {
            name: text_field(&map, "name"),
            capability: text_field(&map, "capability"),
            created: text_field(&map, "created"),
            sessions_completed: map
                .get("sessionsCompleted")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            expertise_domains: list("expertiseDomains")
                .iter()
                .filter_map(scalar_text)
                .collect(),
            recent_tasks: if map.contains_key("recentTasks") {
                list("recentTasks")
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|t| RecentTask {
                        task_id: text_field(t, "taskId"),
                        summary: text_field(t, "summary"),
                        completed_at: text_field(t, "completedAt"),
                    })
                    .collect()
            } else {
                recent_tasks_line_by_line(text)
            },
        }
    }
}

/// Reads the `recentTasks` entry line by line, for files whose entry is not
/// valid YAML (the original left summaries such as `[wip] x` or `*x`
/// unquoted). Each `- ` starts a task; `key: value` lines fill it, with
/// surrounding double quotes removed. The next update then rewrites the
/// file as valid YAML, so no history is lost on the way.
fn recent_tasks_line_by_line(text: &str) -> Vec<RecentTask> {
    let mut tasks: Vec<RecentTask> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        // Blank lines and comments continue the entry, as in the YAML reader.
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            inside = line.trim_end() == "recentTasks:";
            continue;
        }
        if !inside {
            continue;
        }
        let mut item = line.trim_start();
        if let Some(rest) = item.strip_prefix("- ") {
            tasks.push(RecentTask {
                task_id: String::new(),
                summary: String::new(),
                completed_at: String::new(),
            });
            item = rest.trim_start();
        }
        let (Some(task), Some((key, value))) = (tasks.last_mut(), item.split_once(": ")) else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .map_or_else(
                || value.to_owned(),
                |v| v.replace("\\\"", "\"").replace("\\\\", "\\"),
            );
        match key.trim() {
            "taskId" => task.task_id = value,
            "summary" => task.summary = value,
            "completedAt" => task.completed_at = value,
            _ => {}
        }
    }
    tasks
}

/// The identity's file name, used in messages about it.
const IDENTITY_FILE: &str = "identity.yaml";

/// Returns a scalar as text: a string as is, a number or boolean as written
/// (a hand-edited `name: 42` is still a name); `None` for anything else.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text_field(map: &Map<String, Value>, key: &str) -> String {
    map.get(key).and_then(scalar_text).unwrap_or_default()
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

/// Writes `agent`'s identity as it starts life (no sessions completed, the
/// configured mulch domains when mulch is enabled) unless it has one.
/// Returns the file when this call created it, so a failed spawn can remove
/// it again.
///
/// # Errors
/// [`FsError`] naming the file when it cannot be written.
pub fn ensure_identity(
    layout: &Layout,
    config: &overstory_core::Config,
    agent: &AgentName,
    capability: overstory_core::Capability,
) -> Result<Option<std::path::PathBuf>, FsError> {
    let path = layout.agent_identity(agent);
    if path.exists() {
        return Ok(None);
    }
    let domains = if config.mulch.enabled {
        config.mulch.domains.clone()
    } else {
        Vec::new()
    };
    let id = Identity::new(
        agent.as_str(),
        capability.as_str(),
        &domains,
        &clock::now_rfc3339(),
    );
    save_identity(&path, &id)?;
    Ok(Some(path))
}

/// Records a finished session: adds `sessions`, unions `domains`, appends a
/// completed task stamped `now` and keeps the newest [`RECENT_TASKS_CAP`].
///
/// # Errors
/// [`FleetError::IdentityNotFound`] when the agent has no identity;
/// [`FleetError::Fs`] naming the file when it cannot be written.
pub fn update_identity(
    path: &Path,
    agent: &str,
    sessions: u64,
    domains: &[String],
    task: Option<(&str, &str)>,
    now: &str,
) -> Result<Identity, FleetError> {
    let mut id = load_identity(path).ok_or_else(|| FleetError::IdentityNotFound {
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
    save_identity(path, &id)?;
    Ok(id)
}

/// Records in `agent`'s identity that one of its sessions ended, as the
/// session-end hook (`ov log session-end`) does: one more completed session
/// and, when the session had a task, that task (`Completed task <id>`)
/// stamped now. Returns the updated identity, or `None` when the agent has
/// no identity file (agents the operator started by hand have none).
///
/// # Errors
/// [`FleetError::Fs`] when the identity cannot be written, or a store error
/// when `sessions.db` cannot be read.
pub fn record_session_end(
    layout: &Layout,
    agent: &AgentName,
) -> Result<Option<Identity>, FleetError> {
    let path = layout.agent_identity(agent);
    if !path.is_file() {
        return Ok(None);
    }
    let task = if layout.sessions_db().is_file() {
        SessionStore::open(&layout.sessions_db())?
            .get(agent.as_str())?
            .and_then(|s| s.task_id)
    } else {
        None
    };
    let summary = task.as_ref().map(|t| format!("Completed task {t}"));
    let task = task
        .as_ref()
        .zip(summary.as_deref())
        .map(|(t, s)| (t.as_str(), s));
    update_identity(&path, agent.as_str(), 1, &[], task, &clock::now_rfc3339()).map(Some)
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

/// Loads a checkpoint; `Ok(None)` when there is none.
///
/// # Errors
/// [`FleetError::InvalidCheckpoint`] when the file holds invalid JSON.
pub fn load_checkpoint(path: &Path) -> Result<Option<Checkpoint>, FleetError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| FleetError::InvalidCheckpoint {
            path: path.to_path_buf(),
            source,
        })
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
        assert!(yaml.contains("\n  - rust\n"), "{yaml}");
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

    fn sample() -> Identity {
        let mut id = Identity::new(
            "builder-1",
            "builder",
            &["rust".into(), "ci".into()],
            "2026-01-01T00:00:00.000Z",
        );
        id.sessions_completed = 2;
        for n in 1..=2 {
            id.recent_tasks.push(RecentTask {
                task_id: format!("t-{n}"),
                summary: format!("Completed task t-{n}"),
                completed_at: format!("2026-01-0{n}T00:00:00.000Z"),
            });
        }
        id
    }

    #[test]
    fn saved_identity_is_valid_yaml_with_space_indented_lists() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agents/builder-1/identity.yaml");
        let id = sample();
        save_identity(&p, &id).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "name: builder-1\ncapability: builder\ncreated: \"2026-01-01T00:00:00.000Z\"\n\
             sessionsCompleted: 2\nexpertiseDomains:\n  - rust\n  - ci\nrecentTasks:\n\
             \x20 - taskId: t-1\n    summary: Completed task t-1\n    completedAt: \"2026-01-01T00:00:00.000Z\"\n\
             \x20 - taskId: t-2\n    summary: Completed task t-2\n    completedAt: \"2026-01-02T00:00:00.000Z\"\n"
        );
        assert!(!text.contains('\t'));
        // The strict reader (no leniency) takes it: the file is YAML.
        let doc = overstory_core::yaml::from_str(&text, &p).unwrap();
        assert_eq!(doc["sessionsCompleted"], 2);
        assert_eq!(doc["expertiseDomains"], serde_json::json!(["rust", "ci"]));
        assert_eq!(doc["recentTasks"][1]["taskId"], "t-2");
        assert_eq!(load_identity(&p), Some(id));
    }

    #[test]
    fn identity_written_by_the_original_reads_the_same() {
        // The original's format: tab-indented lists, quoted dates.
        let text = "name: builder-1\ncapability: builder\ncreated: \"2026-01-01T00:00:00.000Z\"\n\
                    sessionsCompleted: 2\nexpertiseDomains:\n\t- rust\n\t- ci\nrecentTasks:\n\
                    \t- taskId: t-1\n\t  summary: Completed task t-1\n\t  completedAt: \"2026-01-01T00:00:00.000Z\"\n\
                    \t- taskId: t-2\n\t  summary: Completed task t-2\n\t  completedAt: \"2026-01-02T00:00:00.000Z\"\n";
        assert_eq!(Identity::from_yaml(text), sample());
        let empty = "name: x\ncapability: scout\ncreated: \"t\"\nsessionsCompleted: 0\n\
                     expertiseDomains: []\nrecentTasks: []\n";
        let id = Identity::from_yaml(empty);
        assert_eq!(id, Identity::new("x", "scout", &[], "t"));
    }

    #[test]
    fn unquoted_summaries_the_original_wrote_keep_the_task_history() {
        // Not valid YAML (`[wip] x` opens a flow sequence, `*x` an alias).
        let text = "name: builder-1\ncapability: builder\nsessionsCompleted: 2\n\
                    recentTasks:\n\t- taskId: t-1\n\t  summary: [wip] x\n\t  completedAt: \"2026-01-01T00:00:00.000Z\"\n\
                    \n# a comment between tasks\n\t- taskId: t-2\n\t  summary: *x\n\t  completedAt: \"2026-01-02T00:00:00.000Z\"\n";
        let id = Identity::from_yaml(text);
        assert_eq!(id.name, "builder-1");
        assert_eq!(id.sessions_completed, 2);
        let tasks: Vec<(&str, &str, &str)> = id
            .recent_tasks
            .iter()
            .map(|t| {
                (
                    t.task_id.as_str(),
                    t.summary.as_str(),
                    t.completed_at.as_str(),
                )
            })
            .collect();
        assert_eq!(
            tasks,
            [
                ("t-1", "[wip] x", "2026-01-01T00:00:00.000Z"),
                ("t-2", "*x", "2026-01-02T00:00:00.000Z")
            ]
        );
        // Written back, it is valid YAML and reads the same.
        assert_eq!(Identity::from_yaml(&id.to_yaml()), id);
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
    fn checkpoints_save_load_and_overwrite() {
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
        // Nothing writes checkpoints (the original only had a library
        // function for it); write them the way it did.
        let save = |cp: &Checkpoint| {
            let text = overstory_core::json::to_tab_string(&serde_json::to_value(cp).unwrap());
            overstory_core::fsio::write_atomic(&p, text).unwrap();
        };
        save(&cp);
        assert_eq!(load_checkpoint(&p).unwrap().as_ref(), Some(&cp));
        cp.progress_summary = "all".into();
        save(&cp);
        assert_eq!(load_checkpoint(&p).unwrap(), Some(cp));
        std::fs::write(&p, "{bad").unwrap();
        assert!(load_checkpoint(&p).is_err());
    }
}
