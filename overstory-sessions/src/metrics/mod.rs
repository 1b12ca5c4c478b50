//! The metrics store (`.overstory/metrics.db`): one row per finished agent
//! session with its token usage and estimated cost, and periodic token
//! snapshots of running agents.
//!
//! It lives in this crate (not core) because its rows are facts about agent
//! sessions, written next to the session rows by the hook path and, later,
//! by the turn runner (which depends on this crate); nothing below needs it.

mod ledger;
mod pricing;
pub mod report;
mod transcript;

pub use ledger::{Spend, TurnUsage, usage_from_json};

pub use pricing::{Pricing, estimate_cost, pricing_for};
pub use transcript::{parse_transcript, project_key, read_transcript, read_transcript_incremental};

use std::path::{Path, PathBuf};

use overstory_core::db::{self, Migration, has_column};
use overstory_core::{DbError, clock};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, Transaction, params, params_from_iter};
use serde::{Deserialize, Serialize};

/// Token counts and the model that produced them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Input tokens, summed over the assistant turns.
    pub input_tokens: i64,
    /// Output tokens, summed over the assistant turns.
    pub output_tokens: i64,
    /// Tokens read from the prompt cache, summed over the assistant turns.
    pub cache_read_tokens: i64,
    /// Tokens written to the prompt cache, summed over the assistant turns.
    pub cache_creation_tokens: i64,
    /// The model of the first assistant turn that names one.
    pub model_used: Option<String>,
}

impl TokenUsage {
    /// Adds `other`'s counts; keeps this model, or takes `other`'s if unset.
    pub fn add(&mut self, other: &TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_creation_tokens += other.cache_creation_tokens;
        if self.model_used.is_none() {
            self.model_used.clone_from(&other.model_used);
        }
    }
}

/// One metrics row (table `sessions` of `metrics.db`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMetrics {
    /// The agent the session belonged to (`builder-1`); with `task_id`, the row's key.
    pub agent_name: String,
    /// The session's task id, `""` for persistent agents.
    pub task_id: String,
    /// The agent's capability as stored (`builder`, `lead`, …).
    pub capability: String,
    /// When the session started, copied from its session row (RFC 3339).
    pub started_at: String,
    /// When the session-end hook recorded the row (RFC 3339); `None` in rows that lack one.
    pub completed_at: Option<String>,
    /// Milliseconds from `started_at` to `completed_at` (never negative).
    pub duration_ms: i64,
    /// Exit code, when known.
    pub exit_code: Option<i64>,
    /// `clean-merge`, `auto-resolve`, `ai-resolve`, `reimagine` or null.
    pub merge_result: Option<String>,
    /// The agent that spawned this one; `None` when the operator did.
    pub parent_agent: Option<String>,
    /// Input tokens over the whole transcript.
    pub input_tokens: i64,
    /// Output tokens over the whole transcript.
    pub output_tokens: i64,
    /// Prompt-cache read tokens over the whole transcript.
    pub cache_read_tokens: i64,
    /// Prompt-cache creation tokens over the whole transcript.
    pub cache_creation_tokens: i64,
    /// Estimated cost in USD; `None` when the model is unknown or has no price.
    pub estimated_cost_usd: Option<f64>,
    /// The model of the first assistant turn that names one; `None` when none does.
    pub model_used: Option<String>,
    /// The run the session belonged to (`run-2026-03-05T14-52-26-089Z`), if any.
    pub run_id: Option<String>,
}

/// One token snapshot of a running agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSnapshot {
    /// The running agent the snapshot was taken of (`builder-1`).
    pub agent_name: String,
    /// Input tokens so far (a running total, not the change since the last snapshot).
    pub input_tokens: i64,
    /// Output tokens so far (a running total).
    pub output_tokens: i64,
    /// Prompt-cache read tokens so far (a running total).
    pub cache_read_tokens: i64,
    /// Prompt-cache creation tokens so far (a running total).
    pub cache_creation_tokens: i64,
    /// Estimated cost so far in USD; `None` when the model is unknown or has no price.
    pub estimated_cost_usd: Option<f64>,
    /// The model of the first assistant turn that names one, if any.
    pub model_used: Option<String>,
    /// When it was taken (RFC 3339); `ov log` takes at most one per agent every 30 s.
    pub created_at: String,
    /// The run of the agent's session, if any.
    pub run_id: Option<String>,
}

/// What a metrics purge deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsPurge {
    /// Everything.
    pub all: bool,
    /// Only this agent's rows.
    pub agent: Option<String>,
    /// Only rows older than this (snapshots only).
    pub older_than_ms: Option<i64>,
}

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS sessions (
  agent_name TEXT NOT NULL,
  task_id TEXT NOT NULL,
  capability TEXT NOT NULL,
  started_at TEXT NOT NULL,
  completed_at TEXT,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER,
  merge_result TEXT,
  parent_agent TEXT,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens INTEGER NOT NULL DEFAULT 0,
  cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
  estimated_cost_usd REAL,
  model_used TEXT,
  run_id TEXT,
  PRIMARY KEY (agent_name, task_id)
);
CREATE TABLE IF NOT EXISTS token_snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  agent_name TEXT NOT NULL,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens INTEGER NOT NULL DEFAULT 0,
  cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
  estimated_cost_usd REAL,
  model_used TEXT,
  run_id TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f','now'))
);
";

fn v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(CREATE)?;
    if has_column(tx, "sessions", "bead_id")? && !has_column(tx, "sessions", "task_id")? {
        tx.execute_batch("ALTER TABLE sessions RENAME COLUMN bead_id TO task_id")?;
    }
    for col in [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
    ] {
        if !has_column(tx, "sessions", col)? {
            tx.execute_batch(&format!(
                "ALTER TABLE sessions ADD COLUMN {col} INTEGER NOT NULL DEFAULT 0"
            ))?;
        }
    }
    if !has_column(tx, "sessions", "estimated_cost_usd")? {
        tx.execute_batch("ALTER TABLE sessions ADD COLUMN estimated_cost_usd REAL")?;
    }
    if !has_column(tx, "sessions", "model_used")? {
        tx.execute_batch("ALTER TABLE sessions ADD COLUMN model_used TEXT")?;
    }
    if !has_column(tx, "sessions", "run_id")? {
        tx.execute_batch("ALTER TABLE sessions ADD COLUMN run_id TEXT")?;
    }
    if !has_column(tx, "token_snapshots", "run_id")? {
        tx.execute_batch("ALTER TABLE token_snapshots ADD COLUMN run_id TEXT")?;
    }
    tx.execute_batch(
        "CREATE INDEX IF NOT EXISTS idx_snapshots_agent_time ON token_snapshots(agent_name, created_at)",
    )
}

pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    apply: v1,
}];

const SELECT: &str = "SELECT agent_name, task_id, capability, started_at, completed_at, duration_ms, \
    exit_code, merge_result, parent_agent, input_tokens, output_tokens, cache_read_tokens, \
    cache_creation_tokens, estimated_cost_usd, model_used, run_id FROM sessions";

const SNAP_COLS: &str = "agent_name, input_tokens, output_tokens, cache_read_tokens, \
    cache_creation_tokens, estimated_cost_usd, model_used, created_at, run_id";

/// The open `metrics.db`.
#[derive(Debug)]
pub struct MetricsStore {
    conn: Connection,
    path: PathBuf,
}

impl MetricsStore {
    /// Opens (creating if missing) `metrics.db` at `path`.
    ///
    /// # Errors
    /// [`DbError`] when the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Ok(Self {
            conn: db::open(path, MIGRATIONS)?,
            path: path.to_owned(),
        })
    }

    fn err(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> DbError + '_ {
        move |e| DbError::query(action, &self.path, e)
    }

    /// Records a session's metrics, replacing the row of the same agent and task.
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn record_session(&self, m: &SessionMetrics) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO sessions (agent_name, task_id, capability, started_at, \
                 completed_at, duration_ms, exit_code, merge_result, parent_agent, input_tokens, \
                 output_tokens, cache_read_tokens, cache_creation_tokens, estimated_cost_usd, \
                 model_used, run_id) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)",
                params![
                    m.agent_name,
                    m.task_id,
                    m.capability,
                    m.started_at,
                    m.completed_at,
                    m.duration_ms,
                    m.exit_code,
                    m.merge_result,
                    m.parent_agent,
                    m.input_tokens,
                    m.output_tokens,
                    m.cache_read_tokens,
                    m.cache_creation_tokens,
                    m.estimated_cost_usd,
                    m.model_used,
                    m.run_id
                ],
            )
            .map_err(self.err("record session metrics"))?;
        Ok(())
    }

    /// Returns the newest `limit` rows (default 20 in the CLI), newest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn recent(&self, limit: usize) -> Result<Vec<SessionMetrics>, DbError> {
        self.query(
            &format!("{SELECT} ORDER BY started_at DESC LIMIT ?1"),
            vec![SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX))],
        )
    }

    /// Returns an agent's rows, newest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn by_agent(&self, agent: &str) -> Result<Vec<SessionMetrics>, DbError> {
        self.by_column("agent_name", agent)
    }

    /// Returns a run's rows, newest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn by_run(&self, run_id: &str) -> Result<Vec<SessionMetrics>, DbError> {
        self.by_column("run_id", run_id)
    }

    /// Returns a task's rows, newest first.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn by_task(&self, task_id: &str) -> Result<Vec<SessionMetrics>, DbError> {
        self.by_column("task_id", task_id)
    }

    fn by_column(&self, col: &'static str, v: &str) -> Result<Vec<SessionMetrics>, DbError> {
        self.query(
            &format!("{SELECT} WHERE {col} = ?1 ORDER BY started_at DESC"),
            vec![SqlValue::Text(v.into())],
        )
    }

    /// Returns the mean duration of completed rows (optionally of one
    /// capability); 0 when there are none.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn average_duration(&self, capability: Option<&str>) -> Result<f64, DbError> {
        let (sql, args) = match capability {
            Some(c) => (
                "SELECT COALESCE(AVG(duration_ms), 0) FROM sessions WHERE completed_at IS NOT NULL AND capability = ?1",
                vec![SqlValue::Text(c.into())],
            ),
            None => (
                "SELECT COALESCE(AVG(duration_ms), 0) FROM sessions WHERE completed_at IS NOT NULL",
                Vec::new(),
            ),
        };
        self.conn
            .query_row(sql, params_from_iter(args), |r| r.get(0))
            .map_err(self.err("average session durations"))
    }

    /// Returns the number of metrics rows.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn count(&self) -> Result<i64, DbError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
            .map_err(self.err("count session metrics"))
    }

    /// Deletes metrics rows: all, or one agent's. Returns how many.
    ///
    /// # Errors
    /// [`DbError`] when the delete fails.
    pub fn purge(&self, p: &MetricsPurge) -> Result<usize, DbError> {
        let (sql, args) = if p.all {
            ("DELETE FROM sessions", Vec::new())
        } else if let Some(a) = &p.agent {
            (
                "DELETE FROM sessions WHERE agent_name = ?1",
                vec![SqlValue::Text(a.clone())],
            )
        } else {
            return Ok(0);
        };
        self.conn
            .execute(sql, params_from_iter(args))
            .map_err(self.err("purge session metrics"))
    }

    /// Records a token snapshot.
    ///
    /// # Errors
    /// [`DbError`] when the write fails.
    pub fn record_snapshot(&self, s: &TokenSnapshot) -> Result<(), DbError> {
        self.conn
            .execute(
                &format!(
                    "INSERT INTO token_snapshots ({SNAP_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)"
                ),
                params![
                    s.agent_name,
                    s.input_tokens,
                    s.output_tokens,
                    s.cache_read_tokens,
                    s.cache_creation_tokens,
                    s.estimated_cost_usd,
                    s.model_used,
                    s.created_at,
                    s.run_id
                ],
            )
            .map_err(self.err("record a token snapshot"))?;
        Ok(())
    }

    /// Returns each agent's latest snapshot (one row per agent: on equal
    /// times the highest id wins). With `run_id`, only that run's snapshots.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn latest_snapshots(&self, run_id: Option<&str>) -> Result<Vec<TokenSnapshot>, DbError> {
        let (filter, args) = match run_id {
            Some(r) => ("WHERE run_id = ?1", vec![SqlValue::Text(r.into())]),
            None => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT {SNAP_COLS} FROM token_snapshots WHERE id IN (\
               SELECT (SELECT t2.id FROM token_snapshots t2 WHERE t2.agent_name = t.agent_name \
                 {and_run} ORDER BY t2.created_at DESC, t2.id DESC LIMIT 1) \
               FROM token_snapshots t {filter} GROUP BY t.agent_name) ORDER BY agent_name",
            and_run = if run_id.is_some() {
                "AND t2.run_id = ?1"
            } else {
                ""
            },
        );
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(self.err("read token snapshots"))?;
        stmt.query_map(params_from_iter(args), read_snapshot)
            .and_then(Iterator::collect)
            .map_err(self.err("read token snapshots"))
    }

    /// Returns the time of an agent's latest snapshot.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn latest_snapshot_time(&self, agent: &str) -> Result<Option<String>, DbError> {
        self.conn
            .query_row(
                "SELECT MAX(created_at) FROM token_snapshots WHERE agent_name = ?1",
                [agent],
                |r| r.get(0),
            )
            .map_err(self.err("read token snapshots"))
    }

    /// Deletes snapshots: `all` > `agent` > `older_than_ms` (only the first
    /// set one applies). Returns how many.
    ///
    /// # Errors
    /// [`DbError`] when the delete fails.
    pub fn purge_snapshots(&self, p: &MetricsPurge) -> Result<usize, DbError> {
        let (sql, args) = if p.all {
            ("DELETE FROM token_snapshots", Vec::new())
        } else if let Some(a) = &p.agent {
            (
                "DELETE FROM token_snapshots WHERE agent_name = ?1",
                vec![SqlValue::Text(a.clone())],
            )
        } else if let Some(ms) = p.older_than_ms {
            (
                "DELETE FROM token_snapshots WHERE created_at < ?1",
                vec![SqlValue::Text(clock::format_millis(
                    clock::now_millis() - ms,
                ))],
            )
        } else {
            return Ok(0);
        };
        self.conn
            .execute(sql, params_from_iter(args))
            .map_err(self.err("purge token snapshots"))
    }

    fn query(&self, sql: &str, args: Vec<SqlValue>) -> Result<Vec<SessionMetrics>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.err("read session metrics"))?;
        stmt.query_map(params_from_iter(args), read_metrics)
            .and_then(Iterator::collect)
            .map_err(self.err("read session metrics"))
    }
}

fn read_metrics(r: &Row<'_>) -> rusqlite::Result<SessionMetrics> {
    Ok(SessionMetrics {
        agent_name: r.get(0)?,
        task_id: r.get(1)?,
        capability: r.get(2)?,
        started_at: r.get(3)?,
        completed_at: r.get(4)?,
        duration_ms: r.get(5)?,
        exit_code: r.get(6)?,
        merge_result: r.get(7)?,
        parent_agent: r.get(8)?,
        input_tokens: r.get(9)?,
        output_tokens: r.get(10)?,
        cache_read_tokens: r.get(11)?,
        cache_creation_tokens: r.get(12)?,
        estimated_cost_usd: r.get(13)?,
        model_used: r.get(14)?,
        run_id: r.get(15)?,
    })
}

fn read_snapshot(r: &Row<'_>) -> rusqlite::Result<TokenSnapshot> {
    Ok(TokenSnapshot {
        agent_name: r.get(0)?,
        input_tokens: r.get(1)?,
        output_tokens: r.get(2)?,
        cache_read_tokens: r.get(3)?,
        cache_creation_tokens: r.get(4)?,
        estimated_cost_usd: r.get(5)?,
        model_used: r.get(6)?,
        created_at: overstory_core::events::normalize_timestamp(&r.get::<_, String>(7)?),
        run_id: r.get(8)?,
    })
}
