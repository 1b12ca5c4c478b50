//! Opening sessions the way every command does: with a one-time import of
//! the pre-SQLite `sessions.json` into an empty database.

use overstory_core::{AgentName, Capability, Layout, TaskId};
use serde::Deserialize;

use crate::error::SessionError;
use crate::state::AgentState;
use crate::store::{Session, SessionStore};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacySession {
    id: String,
    agent_name: AgentName,
    capability: Capability,
    worktree_path: String,
    branch_name: String,
    #[serde(alias = "beadId", with = "crate::store::task_id_or_empty")]
    task_id: Option<TaskId>,
    tmux_session: String,
    state: AgentState,
    #[serde(default)]
    pid: Option<i64>,
    #[serde(default)]
    parent_agent: Option<AgentName>,
    #[serde(default)]
    depth: i64,
    #[serde(default)]
    run_id: Option<String>,
    started_at: String,
    last_activity: String,
    #[serde(default)]
    escalation_level: i64,
    #[serde(default)]
    stalled_since: Option<String>,
    #[serde(default)]
    transcript_path: Option<String>,
}

/// Opens `.overstory/sessions.db`. When the database is new or empty, the
/// legacy `sessions.json` (if it is a JSON array of sessions) is imported
/// into it first; a duplicate name keeps the last entry. Returns the store
/// and whether anything was imported.
///
/// # Errors
/// [`SessionError::Db`] when the database cannot be opened or written.
/// A missing or malformed `sessions.json` is not an error.
pub fn open_sessions(layout: &Layout) -> Result<(SessionStore, bool), SessionError> {
    let mut store = SessionStore::open(&layout.sessions_db())?;
    if store.count()? > 0 {
        return Ok((store, false));
    }
    let Ok(text) = std::fs::read_to_string(layout.sessions_json()) else {
        return Ok((store, false));
    };
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(&text)
    else {
        return Ok((store, false));
    };
    let mut sessions = Vec::new();
    for item in items {
        let Ok(l) = serde_json::from_value::<LegacySession>(item) else {
            tracing::warn!("skipping an unreadable entry of sessions.json");
            continue;
        };
        sessions.push(Session {
            id: l.id,
            agent_name: l.agent_name,
            capability: l.capability,
            worktree_path: l.worktree_path,
            branch_name: l.branch_name,
            task_id: l.task_id,
            tmux_session: l.tmux_session,
            state: l.state,
            pid: l.pid,
            parent_agent: l.parent_agent,
            depth: l.depth,
            run_id: l.run_id,
            started_at: l.started_at,
            last_activity: l.last_activity,
            escalation_level: l.escalation_level,
            stalled_since: l.stalled_since,
            transcript_path: l.transcript_path,
            prompt_version: None,
            claude_session_id: None,
        });
    }
    // All or nothing: a half import would look complete to every later open.
    let imported = store.import_if_empty(&sessions)?;
    Ok((store, imported))
}
