//! Shared fixtures: a temp project layout and session rows.

use overstory_core::Layout;
use overstory_sessions::{AgentState, Session, SessionStore};

pub struct Project {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        Self { dir, layout }
    }

    pub fn sessions(&self) -> SessionStore {
        SessionStore::open(&self.layout.sessions_db()).unwrap()
    }
}

/// A fully populated row (every optional column set).
pub fn full_session(name: &str) -> Session {
    Session {
        id: format!("session-1-{name}"),
        agent_name: name.parse().unwrap(),
        capability: "builder".parse().unwrap(),
        worktree_path: format!("/p/.overstory/worktrees/{name}"),
        branch_name: format!("overstory/{name}/task-1"),
        task_id: Some("task-1".parse().unwrap()),
        tmux_session: format!("overstory-{name}"),
        state: AgentState::Working,
        pid: Some(4242),
        parent_agent: Some("lead-1".parse().unwrap()),
        depth: 2,
        run_id: Some("run-2026-03-05T14-52-26-089Z".into()),
        started_at: "2026-03-05T14:52:26.089Z".into(),
        last_activity: "2026-03-05T14:53:00.000Z".into(),
        escalation_level: 1,
        stalled_since: Some("2026-03-05T14:55:00.000Z".into()),
        transcript_path: Some("/t/x.jsonl".into()),
        prompt_version: Some("builder@17".into()),
        claude_session_id: Some("abc-123".into()),
    }
}

/// A booting row with a tmux session, started at `started_at`.
pub fn booting(name: &str, started_at: &str) -> Session {
    let mut s = Session::new(name.parse().unwrap(), "builder".parse().unwrap());
    s.tmux_session = format!("overstory-{name}");
    s.started_at = started_at.into();
    s
}

pub fn with_state(mut s: Session, state: AgentState) -> Session {
    s.state = state;
    s
}
