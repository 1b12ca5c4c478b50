//! Per-turn usage of headless agents, added up in `metrics.db`.
//!
//! The original records metrics only from the Claude hook path, so the
//! spend of spawn-per-turn workers is invisible. Here every `result` event
//! a headless turn reports is added to the agent's metrics row (same table
//! and columns as the hook path writes, so either `ov` reads it), and a
//! running-total snapshot is taken for `ov costs --live`.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::{MetricsStore, SessionMetrics, TokenUsage, estimate_cost, read_metrics};
use overstory_core::{DbError, clock};

/// What one headless turn used, and whom it is charged to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TurnUsage {
    /// The agent (`builder-1`).
    pub agent_name: String,
    /// Its task id (`""` for persistent agents).
    pub task_id: String,
    /// Its capability as stored (`builder`).
    pub capability: String,
    /// Its parent, if any.
    pub parent_agent: Option<String>,
    /// Its run, if any.
    pub run_id: Option<String>,
    /// When the agent's session started (kept from the first turn).
    pub started_at: String,
    /// The turn's tokens and model.
    pub usage: TokenUsage,
    /// The cost the runtime itself reported for the turn, if it did; else
    /// the cost is estimated from the model's price.
    pub reported_cost_usd: Option<f64>,
}

impl TurnUsage {
    /// Starts a record for `agent_name` with no tokens.
    pub fn new(agent_name: impl Into<String>, capability: impl Into<String>) -> Self {
        Self {
            agent_name: agent_name.into(),
            task_id: String::new(),
            capability: capability.into(),
            parent_agent: None,
            run_id: None,
            started_at: clock::now_rfc3339(),
            usage: TokenUsage::default(),
            reported_cost_usd: None,
        }
    }

    /// Starts a record charged to `session`'s agent: its capability, task,
    /// run, parent and start time, with no tokens. The one place both the
    /// turn runner and the agent host learn whom a turn is charged to.
    pub fn of_session(session: &crate::Session) -> Self {
        let mut t = Self::new(session.agent_name.as_str(), session.capability.as_str());
        t.task_id = session.task_str().to_owned();
        t.run_id.clone_from(&session.run_id);
        t.parent_agent = session.parent_agent.as_ref().map(|p| p.as_str().to_owned());
        t.started_at.clone_from(&session.started_at);
        t
    }

    /// Returns the turn's cost: the runtime's figure, else an estimate
    /// from the model's price (`None` for an unknown model).
    pub fn cost_usd(&self) -> Option<f64> {
        self.reported_cost_usd
            .or_else(|| estimate_cost(&self.usage))
    }
}

/// Reads the token counts of a stream-json `usage` object (Anthropic's
/// field names: `input_tokens`, `output_tokens`, `cache_read_input_tokens`,
/// `cache_creation_input_tokens`); missing or non-numeric fields count 0.
pub fn usage_from_json(usage: &Value, model: Option<&str>) -> TokenUsage {
    let n = |k: &str| usage.get(k).and_then(Value::as_i64).unwrap_or(0);
    TokenUsage {
        input_tokens: n("input_tokens"),
        output_tokens: n("output_tokens"),
        cache_read_tokens: n("cache_read_input_tokens"),
        cache_creation_tokens: n("cache_creation_input_tokens"),
        model_used: model.map(str::to_owned),
    }
}

/// Tokens and dollars spent, summed over some metrics rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    /// Input + output + cache read + cache creation tokens.
    pub tokens: i64,
    /// Estimated US dollars (rows with an unknown cost count 0).
    pub cost_usd: f64,
}

impl MetricsStore {
    /// Adds one turn's usage to the agent's row (creating it), takes a
    /// running-total snapshot, and returns the row as it now stands. The
    /// row's model is the first one seen; its cost adds up turn by turn.
    ///
    /// # Errors
    /// [`DbError`] when the write fails (nothing is written then).
    pub fn add_turn_usage(&mut self, t: &TurnUsage) -> Result<SessionMetrics, DbError> {
        let path = self.path.clone();
        let err = |action: &'static str| {
            let path = path.clone();
            move |e| DbError::query(action, &path, e)
        };
        let tx = self.conn.transaction().map_err(err("record turn usage"))?;
        let u = &t.usage;
        let now = clock::now_rfc3339();
        tx.execute(
            "INSERT INTO sessions (agent_name, task_id, capability, started_at, completed_at, \
               duration_ms, parent_agent, input_tokens, output_tokens, cache_read_tokens, \
               cache_creation_tokens, estimated_cost_usd, model_used, run_id) \
             VALUES (?1,?2,?3,?4,NULL,0,?5,?6,?7,?8,?9,?10,?11,?12) \
             ON CONFLICT(agent_name, task_id) DO UPDATE SET \
               input_tokens = input_tokens + excluded.input_tokens, \
               output_tokens = output_tokens + excluded.output_tokens, \
               cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, \
               cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens, \
               estimated_cost_usd = CASE \
                 WHEN excluded.estimated_cost_usd IS NULL THEN estimated_cost_usd \
                 ELSE COALESCE(estimated_cost_usd, 0) + excluded.estimated_cost_usd END, \
               model_used = COALESCE(model_used, excluded.model_used), \
               run_id = COALESCE(excluded.run_id, run_id), \
               parent_agent = COALESCE(excluded.parent_agent, parent_agent)",
            params![
                t.agent_name,
                t.task_id,
                t.capability,
                t.started_at,
                t.parent_agent,
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_creation_tokens,
                t.cost_usd(),
                u.model_used,
                t.run_id,
            ],
        )
        .map_err(err("record turn usage"))?;
        let row = tx
            .query_row(
                &format!("{} WHERE agent_name = ?1 AND task_id = ?2", super::SELECT),
                params![t.agent_name, t.task_id],
                read_metrics,
            )
            .map_err(err("record turn usage"))?;
        tx.execute(
            &format!(
                "INSERT INTO token_snapshots ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                super::SNAP_COLS
            ),
            params![
                row.agent_name,
                row.input_tokens,
                row.output_tokens,
                row.cache_read_tokens,
                row.cache_creation_tokens,
                row.estimated_cost_usd,
                row.model_used,
                now,
                row.run_id,
            ],
        )
        .map_err(err("record turn usage"))?;
        tx.commit().map_err(err("record turn usage"))?;
        Ok(row)
    }

    /// Returns what a run's agents spent.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn run_spend(&self, run_id: &str) -> Result<Spend, DbError> {
        self.spend("run_id", run_id)
    }

    /// Returns what an agent spent over all its rows.
    ///
    /// # Errors
    /// [`DbError`] when the query fails.
    pub fn agent_spend(&self, agent: &str) -> Result<Spend, DbError> {
        self.spend("agent_name", agent)
    }

    fn spend(&self, col: &'static str, v: &str) -> Result<Spend, DbError> {
        let sql = format!(
            "SELECT SUM(input_tokens + output_tokens + cache_read_tokens + cache_creation_tokens), \
               SUM(COALESCE(estimated_cost_usd, 0)) FROM sessions WHERE {col} = ?1"
        );
        let row: Option<(Option<i64>, Option<f64>)> = self
            .conn
            .query_row(&sql, [v], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| DbError::query("read spend", &self.path, e))?;
        let (tokens, cost) = row.unwrap_or_default();
        Ok(Spend {
            tokens: tokens.unwrap_or(0),
            cost_usd: cost.unwrap_or(0.0),
        })
    }
}
