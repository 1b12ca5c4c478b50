//! Spending limits (`budget.*` in the config), checked against `metrics.db`.
//!
//! Sling asks [`check_run`] before it creates an agent in a run; the turn
//! runner asks [`check_agent`] (and [`check_run`]) before it starts a turn.
//! A limit of 0 is unlimited. Tokens are input + output + cache read +
//! cache creation, as recorded per turn in `metrics.db`.
//!
//! ```
//! use overstory_core::config::BudgetConfig;
//! use overstory_sessions::budget;
//! use overstory_sessions::metrics::{MetricsStore, TokenUsage, TurnUsage};
//!
//! let dir = tempfile::tempdir()?;
//! let mut store = MetricsStore::open(&dir.path().join("metrics.db"))?;
//! let mut turn = TurnUsage::new("builder-1", "builder");
//! turn.run_id = Some("run-1".into());
//! turn.usage = TokenUsage { input_tokens: 900, output_tokens: 200, ..TokenUsage::default() };
//! store.add_turn_usage(&turn)?;
//!
//! let mut limits = BudgetConfig::default();
//! limits.max_tokens_per_run = 1000;
//! let over = budget::check_run(&limits, &store, "run-1")?.expect("over budget");
//! assert_eq!(over.kind.key(), "budget.maxTokensPerRun");
//! assert!(over.to_string().contains("1,100 tokens"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use overstory_core::DbError;
use overstory_core::config::BudgetConfig;

use crate::metrics::{MetricsStore, Spend};
use crate::observe::text::thousands;

/// Which limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetKind {
    /// `budget.maxTokensPerRun`.
    TokensPerRun,
    /// `budget.maxTokensPerAgent`.
    TokensPerAgent,
    /// `budget.maxCostUsdPerRun`.
    CostUsdPerRun,
}

impl BudgetKind {
    /// Returns the config key that sets the limit.
    pub fn key(self) -> &'static str {
        match self {
            Self::TokensPerRun => "budget.maxTokensPerRun",
            Self::TokensPerAgent => "budget.maxTokensPerAgent",
            Self::CostUsdPerRun => "budget.maxCostUsdPerRun",
        }
    }
}

/// A limit that was reached: what, by whom, how much.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BudgetExceeded {
    /// The limit.
    pub kind: BudgetKind,
    /// The run id or agent name it applies to.
    pub scope: String,
    /// What was used (tokens, or US dollars).
    pub used: f64,
    /// The limit (tokens, or US dollars).
    pub limit: f64,
}

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match self.kind {
            BudgetKind::TokensPerAgent => "agent",
            _ => "run",
        };
        let (used, limit) = match self.kind {
            BudgetKind::CostUsdPerRun => {
                (format!("${:.2}", self.used), format!("${:.2}", self.limit))
            }
            _ => (
                format!("{} tokens", thousands(self.used as i64)),
                format!("{} tokens", thousands(self.limit as i64)),
            ),
        };
        write!(
            f,
            "{who} {} has used {used} of its budget of {limit} ({}); raise or remove {} in .overstory/config.yaml to continue",
            self.scope,
            self.kind.key(),
            self.kind.key()
        )
    }
}

/// Returns the first run limit `run_id` has reached, if any.
///
/// # Errors
/// [`DbError`] when `metrics.db` cannot be read.
pub fn check_run(
    limits: &BudgetConfig,
    store: &MetricsStore,
    run_id: &str,
) -> Result<Option<BudgetExceeded>, DbError> {
    if limits.max_tokens_per_run == 0 && limits.max_cost_usd_per_run <= 0.0 {
        return Ok(None);
    }
    let spend = store.run_spend(run_id)?;
    Ok(over_run(limits, run_id, spend))
}

fn over_run(limits: &BudgetConfig, run_id: &str, spend: Spend) -> Option<BudgetExceeded> {
    let max_tokens = limits.max_tokens_per_run;
    if max_tokens > 0 && spend.tokens >= i64::try_from(max_tokens).unwrap_or(i64::MAX) {
        return Some(BudgetExceeded {
            kind: BudgetKind::TokensPerRun,
            scope: run_id.to_owned(),
            used: spend.tokens as f64,
            limit: max_tokens as f64,
        });
    }
    let max_cost = limits.max_cost_usd_per_run;
    (max_cost > 0.0 && spend.cost_usd >= max_cost).then(|| BudgetExceeded {
        kind: BudgetKind::CostUsdPerRun,
        scope: run_id.to_owned(),
        used: spend.cost_usd,
        limit: max_cost,
    })
}

/// Returns the limit `agent` (and, when given, its run) has reached, if any.
///
/// # Errors
/// [`DbError`] when `metrics.db` cannot be read.
pub fn check_agent(
    limits: &BudgetConfig,
    store: &MetricsStore,
    agent: &str,
    run_id: Option<&str>,
) -> Result<Option<BudgetExceeded>, DbError> {
    let max = limits.max_tokens_per_agent;
    if max > 0 {
        let spend = store.agent_spend(agent)?;
        if spend.tokens >= i64::try_from(max).unwrap_or(i64::MAX) {
            return Ok(Some(BudgetExceeded {
                kind: BudgetKind::TokensPerAgent,
                scope: agent.to_owned(),
                used: spend.tokens as f64,
                limit: max as f64,
            }));
        }
    }
    match run_id {
        Some(run) => check_run(limits, store, run),
        None => Ok(None),
    }
}
