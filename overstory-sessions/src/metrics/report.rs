//! What `ov costs` and `ov metrics` show, computed from `metrics.db` rows:
//! totals, per-capability groups, the live view of running agents, and
//! use against the `budget.*` limits.

use serde::Serialize;

use super::{SessionMetrics, Spend, TokenSnapshot};
use crate::Session;
use overstory_core::clock;
use overstory_core::config::BudgetConfig;

/// Summed tokens and cost (`cacheTokens` = cache read + creation; an
/// unknown cost counts 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cache read + cache creation tokens.
    pub cache_tokens: i64,
    /// US dollars.
    pub cost_usd: f64,
}

impl Totals {
    /// Sums `rows`.
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a SessionMetrics>) -> Self {
        let mut t = Self::default();
        for r in rows {
            t.input_tokens += r.input_tokens;
            t.output_tokens += r.output_tokens;
            t.cache_tokens += r.cache_read_tokens + r.cache_creation_tokens;
            t.cost_usd += r.estimated_cost_usd.unwrap_or(0.0);
        }
        t
    }

    /// Every token counted.
    pub fn tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens + self.cache_tokens
    }
}

/// The rows of one capability and their totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityGroup {
    /// The capability (`builder`).
    #[serde(skip)]
    pub capability: String,
    /// Its rows.
    pub sessions: Vec<SessionMetrics>,
    /// Their totals.
    pub totals: Totals,
}

/// Groups rows by capability, the most expensive group first (ties by name).
pub fn by_capability(rows: Vec<SessionMetrics>) -> Vec<CapabilityGroup> {
    let mut groups: Vec<CapabilityGroup> = Vec::new();
    for r in rows {
        match groups.iter_mut().find(|g| g.capability == r.capability) {
            Some(g) => g.sessions.push(r),
            None => groups.push(CapabilityGroup {
                capability: r.capability.clone(),
                sessions: vec![r],
                totals: Totals::default(),
            }),
        }
    }
    for g in &mut groups {
        g.totals = Totals::of(&g.sessions);
    }
    groups.sort_by(|a, b| {
        b.totals
            .cost_usd
            .total_cmp(&a.totals.cost_usd)
            .then_with(|| a.capability.cmp(&b.capability))
    });
    groups
}

/// One running agent in the live view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveAgent {
    /// The agent.
    pub agent_name: String,
    /// Its capability.
    pub capability: String,
    /// Input tokens so far.
    pub input_tokens: i64,
    /// Output tokens so far.
    pub output_tokens: i64,
    /// Cache read tokens so far.
    pub cache_read_tokens: i64,
    /// Cache creation tokens so far.
    pub cache_creation_tokens: i64,
    /// Cost so far, if known.
    pub estimated_cost_usd: Option<f64>,
    /// The model, if known.
    pub model_used: Option<String>,
    /// When the snapshot was taken.
    pub snapshot_at: String,
    /// When the agent's session started.
    pub session_started_at: String,
    /// Milliseconds since the session started.
    pub elapsed_ms: i64,
}

/// The live totals: [`Totals`] plus rates over the average elapsed minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveTotals {
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cache read + creation tokens.
    pub cache_tokens: i64,
    /// US dollars.
    pub cost_usd: f64,
    /// Dollars per minute.
    pub burn_rate_per_min: f64,
    /// Tokens (input + output) per minute.
    pub tokens_per_min: f64,
}

/// Joins each agent's latest snapshot with its session, keeping active
/// sessions only (optionally one agent).
pub fn live(
    snapshots: &[TokenSnapshot],
    sessions: &[Session],
    agent: Option<&str>,
) -> (Vec<LiveAgent>, LiveTotals) {
    let now = clock::now_millis();
    let agents: Vec<LiveAgent> = snapshots
        .iter()
        .filter(|s| agent.is_none_or(|a| a == s.agent_name))
        .filter_map(|snap| {
            let session = sessions
                .iter()
                .find(|s| s.agent_name.as_str() == snap.agent_name && s.state.is_active())?;
            let started = clock::parse_rfc3339(&session.started_at).unwrap_or(now);
            Some(LiveAgent {
                agent_name: snap.agent_name.clone(),
                capability: session.capability.as_str().to_owned(),
                input_tokens: snap.input_tokens,
                output_tokens: snap.output_tokens,
                cache_read_tokens: snap.cache_read_tokens,
                cache_creation_tokens: snap.cache_creation_tokens,
                estimated_cost_usd: snap.estimated_cost_usd,
                model_used: snap.model_used.clone(),
                snapshot_at: snap.created_at.clone(),
                session_started_at: session.started_at.clone(),
                elapsed_ms: (now - started).max(0),
            })
        })
        .collect();
    let mut t = LiveTotals::default();
    for a in &agents {
        t.input_tokens += a.input_tokens;
        t.output_tokens += a.output_tokens;
        t.cache_tokens += a.cache_read_tokens + a.cache_creation_tokens;
        t.cost_usd += a.estimated_cost_usd.unwrap_or(0.0);
    }
    if !agents.is_empty() {
        let avg_ms = agents.iter().map(|a| a.elapsed_ms).sum::<i64>() as f64 / agents.len() as f64;
        let minutes = avg_ms / 60_000.0;
        if minutes > 0.0 {
            t.burn_rate_per_min = t.cost_usd / minutes;
            t.tokens_per_min = (t.input_tokens + t.output_tokens) as f64 / minutes;
        }
    }
    (agents, t)
}

/// One limit and what was used against it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetUse {
    /// The config key (`budget.maxTokensPerRun`).
    pub key: &'static str,
    /// The run id or agent name.
    pub scope: String,
    /// What was used (tokens or dollars).
    pub used: f64,
    /// The limit.
    pub limit: f64,
    /// `used / limit` in percent.
    pub percent: f64,
}

/// Use against every set limit: the run limits for each of `runs`, the
/// agent limit for each of `agents`, from what each spent.
pub fn budget_use(
    limits: &BudgetConfig,
    runs: &[(String, Spend)],
    agents: &[(String, Spend)],
) -> Vec<BudgetUse> {
    let entry = |key, scope: &str, used: f64, limit: f64| BudgetUse {
        key,
        scope: scope.to_owned(),
        used,
        limit,
        percent: if limit > 0.0 {
            used / limit * 100.0
        } else {
            0.0
        },
    };
    let mut out = Vec::new();
    for (run, spend) in runs {
        if limits.max_tokens_per_run > 0 {
            let limit = limits.max_tokens_per_run as f64;
            out.push(entry(
                "budget.maxTokensPerRun",
                run,
                spend.tokens as f64,
                limit,
            ));
        }
        if limits.max_cost_usd_per_run > 0.0 {
            let limit = limits.max_cost_usd_per_run;
            out.push(entry("budget.maxCostUsdPerRun", run, spend.cost_usd, limit));
        }
    }
    if limits.max_tokens_per_agent > 0 {
        let limit = limits.max_tokens_per_agent as f64;
        for (agent, spend) in agents {
            out.push(entry(
                "budget.maxTokensPerAgent",
                agent,
                spend.tokens as f64,
                limit,
            ));
        }
    }
    out
}
