//! The `sessions.db` schema (tables `sessions` and `runs`) and its
//! idempotent migrations. Both stores open the file with the same list, so
//! either may be first and both may be open at once.

use overstory_core::db::{Migration, has_column, has_table};
use rusqlite::Transaction;

pub(crate) const CREATE_SESSIONS: &str = "
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  agent_name TEXT NOT NULL UNIQUE,
  capability TEXT NOT NULL,
  worktree_path TEXT NOT NULL,
  branch_name TEXT NOT NULL,
  task_id TEXT NOT NULL,
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
  stalled_since TEXT,
  transcript_path TEXT,
  prompt_version TEXT,
  claude_session_id TEXT
)";

pub(crate) const CREATE_RUNS: &str = "
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  completed_at TEXT,
  agent_count INTEGER NOT NULL DEFAULT 0,
  coordinator_session_id TEXT,
  coordinator_name TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK(status IN ('active','completed','failed'))
)";

const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS idx_sessions_state ON sessions(state);
CREATE INDEX IF NOT EXISTS idx_sessions_run ON sessions(run_id);
CREATE INDEX IF NOT EXISTS idx_runs_status ON runs(status);
CREATE INDEX IF NOT EXISTS idx_runs_coordinator ON runs(coordinator_name);
";

/// Brings a database of any age (including one written by the original,
/// whose `user_version` is 0) to the current schema. Indexes come last so
/// they never name a column a migration has yet to add.
fn v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(CREATE_SESSIONS)?;
    tx.execute_batch(CREATE_RUNS)?;
    if has_column(tx, "sessions", "bead_id")? && !has_column(tx, "sessions", "task_id")? {
        tx.execute_batch("ALTER TABLE sessions RENAME COLUMN bead_id TO task_id")?;
    }
    for col in ["transcript_path", "prompt_version", "claude_session_id"] {
        if !has_column(tx, "sessions", col)? {
            tx.execute_batch(&format!("ALTER TABLE sessions ADD COLUMN {col} TEXT"))?;
        }
    }
    if has_table(tx, "runs")? && !has_column(tx, "runs", "coordinator_name")? {
        tx.execute_batch("ALTER TABLE runs ADD COLUMN coordinator_name TEXT")?;
    }
    tx.execute_batch(INDEXES)
}

pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    apply: v1,
}];

/// The columns of `sessions`, in order (the schema-consistency tests compare
/// them with `PRAGMA table_info`).
pub const SESSION_COLUMNS: [&str; 19] = [
    "id",
    "agent_name",
    "capability",
    "worktree_path",
    "branch_name",
    "task_id",
    "tmux_session",
    "state",
    "pid",
    "parent_agent",
    "depth",
    "run_id",
    "started_at",
    "last_activity",
    "escalation_level",
    "stalled_since",
    "transcript_path",
    "prompt_version",
    "claude_session_id",
];

/// The columns of `runs`, in order.
pub const RUN_COLUMNS: [&str; 7] = [
    "id",
    "started_at",
    "completed_at",
    "agent_count",
    "coordinator_session_id",
    "coordinator_name",
    "status",
];
