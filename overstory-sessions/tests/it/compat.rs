//! Databases written by the original (its DDL, `user_version` 0, older
//! column sets) open without loss and read correctly.

use overstory_core::events::{EventFilter, EventStore};
use overstory_sessions::metrics::MetricsStore;
use overstory_sessions::{AgentState, RunStatus, RunStore, SessionStore};
use rusqlite::Connection;

use crate::support::Project;

/// The original's first sessions.db: `bead_id`, none of the late columns,
/// and a `runs` table without `coordinator_name`.
const OLD_SESSIONS_DDL: &str = "
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  agent_name TEXT NOT NULL UNIQUE,
  capability TEXT NOT NULL,
  worktree_path TEXT NOT NULL,
  branch_name TEXT NOT NULL,
  bead_id TEXT NOT NULL,
  tmux_session TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'booting'
    CHECK(state IN ('booting','working','completed','stalled','zombie')),
  pid INTEGER,
  parent_agent TEXT,
  depth INTEGER NOT NULL DEFAULT 0,
  run_id TEXT,
  started_at TEXT NOT NULL,
  last_activity TEXT NOT NULL,
  escalation_level INTEGER NOT NULL DEFAULT 0,
  stalled_since TEXT
);
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  completed_at TEXT,
  agent_count INTEGER NOT NULL DEFAULT 0,
  coordinator_session_id TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK(status IN ('active','completed','failed'))
);
CREATE INDEX idx_sessions_state ON sessions(state);
INSERT INTO sessions VALUES ('session-1-b1','b1','builder','/w/b1','overstory/b1/t-1','t-1',
  'overstory-b1','working',77,'lead-1',1,'run-1','2026-03-05T14:52:26.089Z',
  '2026-03-05T14:53:00.000Z',0,NULL);
INSERT INTO runs VALUES ('run-1','2026-03-05T14:52:00.000Z',NULL,99,NULL,'active');
";

#[test]
fn old_sessions_db_with_bead_id_and_no_coordinator_name_opens_and_reads() {
    let p = Project::new();
    Connection::open(p.layout.sessions_db())
        .unwrap()
        .execute_batch(OLD_SESSIONS_DDL)
        .unwrap();
    // RunStore first: the pre-migration runs table must not hit "no such column".
    let runs = RunStore::open(&p.layout.sessions_db()).unwrap();
    let run = runs.get("run-1").unwrap().unwrap();
    assert_eq!(run.agent_count, 1, "derived, not the stale stored 99");
    assert_eq!(run.coordinator_name, None);
    assert_eq!(run.status, RunStatus::Active);
    let mut store = SessionStore::open(&p.layout.sessions_db()).unwrap();
    let s = store.get("b1").unwrap().unwrap();
    assert_eq!(s.task_str(), "t-1");
    assert_eq!(s.pid, Some(77));
    assert_eq!(s.state, AgentState::Working);
    assert_eq!((s.transcript_path, s.claude_session_id), (None, None));
    // And it is writable through the new columns.
    store.update_claude_session_id("b1", "sid").unwrap();
    store
        .transition(
            "b1",
            &overstory_sessions::Transition::to(AgentState::Completed),
        )
        .unwrap();
    let s = store.get("b1").unwrap().unwrap();
    assert_eq!(
        (s.state, s.tmux_session.as_str()),
        (AgentState::Completed, "")
    );
    drop(store);
    // Re-opening is a no-op.
    let store = SessionStore::open(&p.layout.sessions_db()).unwrap();
    assert_eq!(store.count().unwrap(), 1);
}

/// The original's events.db DDL: created_at defaults without a `Z`.
const ORIGINAL_EVENTS_DDL: &str = "
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT,
  agent_name TEXT NOT NULL,
  session_id TEXT,
  event_type TEXT NOT NULL,
  tool_name TEXT,
  tool_args TEXT,
  tool_duration_ms INTEGER,
  level TEXT NOT NULL DEFAULT 'info' CHECK(level IN ('debug','info','warn','error')),
  data TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f','now'))
);
CREATE INDEX IF NOT EXISTS idx_events_agent_time ON events(agent_name, created_at);
INSERT INTO events (agent_name, event_type, tool_name, level, data, created_at)
  VALUES ('b1','tool_start','Bash','info','{\"summary\":\"bash: ls\"}','2026-03-05T14:52:26.089');
INSERT INTO events (agent_name, event_type, level, data)
  VALUES ('b1','brand_new_type','warn','x');
";

#[test]
fn original_events_db_reads_with_utc_timestamps_and_unknown_types() {
    let p = Project::new();
    Connection::open(p.layout.events_db())
        .unwrap()
        .execute_batch(ORIGINAL_EVENTS_DDL)
        .unwrap();
    let store = EventStore::open(&p.layout.events_db()).unwrap();
    let evs = store.by_agent("b1", &EventFilter::default()).unwrap();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].created_at, "2026-03-05T14:52:26.089Z");
    assert!(evs[1].created_at.ends_with('Z'));
    assert_eq!(evs[1].kind(), None);
    assert_eq!(evs[1].full_label(), "UNKNOWN   ");
    assert_eq!(evs[0].full_label(), "TOOL START");
}

const OLD_METRICS_DDL: &str = "
CREATE TABLE sessions (
  agent_name TEXT NOT NULL,
  bead_id TEXT NOT NULL,
  capability TEXT NOT NULL,
  started_at TEXT NOT NULL,
  completed_at TEXT,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER,
  merge_result TEXT,
  parent_agent TEXT,
  PRIMARY KEY (agent_name, bead_id)
);
CREATE TABLE token_snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  agent_name TEXT NOT NULL,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens INTEGER NOT NULL DEFAULT 0,
  cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
  estimated_cost_usd REAL,
  model_used TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f','now'))
);
INSERT INTO sessions VALUES ('b1','t-1','builder','2026-01-01T00:00:00.000Z',
  '2026-01-01T00:10:00.000Z',600000,NULL,NULL,'lead-1');
INSERT INTO token_snapshots (agent_name, input_tokens, created_at)
  VALUES ('b1', 5, '2026-01-01T00:05:00.000');
";

#[test]
fn old_metrics_db_gains_token_and_run_columns() {
    let p = Project::new();
    Connection::open(p.layout.metrics_db())
        .unwrap()
        .execute_batch(OLD_METRICS_DDL)
        .unwrap();
    let m = MetricsStore::open(&p.layout.metrics_db()).unwrap();
    let rows = m.by_agent("b1").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].task_id, "t-1");
    assert_eq!(
        (rows[0].input_tokens, rows[0].estimated_cost_usd),
        (0, None)
    );
    assert_eq!(rows[0].run_id, None);
    let snaps = m.latest_snapshots(None).unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].created_at, "2026-01-01T00:05:00.000Z");
    assert_eq!(snaps[0].run_id, None);
}
