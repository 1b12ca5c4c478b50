//! `ov costs`: tokens and cost per session, agent, capability and run, the
//! live view of running agents, and use against the `budget.*` limits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use overstory_core::config::BudgetConfig;
use overstory_core::{Config, Layout};
use overstory_runtime::registry::Registry;
use overstory_sessions::metrics::report::{self, BudgetUse, Totals};
use overstory_sessions::metrics::{MetricsStore, SessionMetrics, estimate_cost, read_transcript};
use overstory_sessions::observe::text::thousands;
use overstory_sessions::{SessionStore, observe};
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Show token usage and cost, with use against the budget
#[derive(Debug, clap::Args)]
pub struct CostsArgs {
    /// Latest running totals of the active agents
    #[arg(long)]
    pub live: bool,
    /// This session's own cost, from its newest transcript
    #[arg(long = "self")]
    pub self_: bool,
    /// Only this agent's sessions
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this run's sessions
    #[arg(long)]
    pub run: Option<String>,
    /// Only this task's sessions
    #[arg(long)]
    pub bead: Option<String>,
    /// Group by capability, the most expensive first
    #[arg(long)]
    pub by_capability: bool,
    /// Show the newest N sessions (default 20)
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    pub last: i64,
}

/// Runs `ov costs`.
pub fn run(ctx: &Context, args: CostsArgs) -> Result<Output, CliError> {
    let last = observe::check_min("last", args.last, 1)?;
    let layout = ctx.layout()?;
    let config = ctx.config()?;
    if args.self_ {
        return self_cost(ctx, &layout, &config);
    }
    let store = open_if_exists(&layout.metrics_db())?;
    if args.live {
        return live(ctx, &layout, store.as_ref(), &args);
    }
    let rows = match &store {
        None => Vec::new(),
        Some(s) => {
            if let Some(a) = &args.agent {
                s.by_agent(a)?
            } else if let Some(r) = &args.run {
                s.by_run(r)?
            } else if let Some(t) = &args.bead {
                s.by_task(t)?
            } else {
                s.recent(last)?
            }
        }
    };
    let budget = match &store {
        Some(s) => budget_rows(&config.budget, s, &rows)?,
        None => Vec::new(),
    };
    if args.by_capability {
        return Ok(by_capability(ctx, rows, &budget));
    }
    let mut text = table(ctx, &rows);
    text.push_str(&budget_text(&budget));
    let mut data = json!({ "sessions": rows });
    if !config.budget.is_unlimited() {
        data["budget"] = json!(budget);
    }
    Ok(Output::new("costs")
        .data(data)
        .raw(text.trim_end().to_owned()))
}

/// Opens `metrics.db` only when it exists: a read must not create it.
fn open_if_exists(path: &Path) -> Result<Option<MetricsStore>, CliError> {
    if path.exists() {
        Ok(Some(MetricsStore::open(path)?))
    } else {
        Ok(None)
    }
}

/// Use against the limits for the runs and agents in `shown`, counted over
/// all their rows (not only the page shown), one aggregate query each.
fn budget_rows(
    limits: &BudgetConfig,
    store: &MetricsStore,
    shown: &[SessionMetrics],
) -> Result<Vec<BudgetUse>, CliError> {
    if limits.is_unlimited() {
        return Ok(Vec::new());
    }
    let runs: BTreeSet<&str> = shown.iter().filter_map(|r| r.run_id.as_deref()).collect();
    let agents: BTreeSet<&str> = shown.iter().map(|r| r.agent_name.as_str()).collect();
    let mut run_spend = Vec::new();
    if limits.max_tokens_per_run > 0 || limits.max_cost_usd_per_run > 0.0 {
        for run in runs {
            run_spend.push((run.to_owned(), store.run_spend(run)?));
        }
    }
    let mut agent_spend = Vec::new();
    if limits.max_tokens_per_agent > 0 {
        for agent in agents {
            agent_spend.push((agent.to_owned(), store.agent_spend(agent)?));
        }
    }
    Ok(report::budget_use(limits, &run_spend, &agent_spend))
}

fn budget_text(uses: &[BudgetUse]) -> String {
    if uses.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nBudget\n");
    for u in uses {
        let (used, limit) = if u.key.ends_with("UsdPerRun") {
            (format!("${:.2}", u.used), format!("${:.2}", u.limit))
        } else {
            (thousands(u.used as i64), thousands(u.limit as i64))
        };
        text.push_str(&format!(
            "  {:<26} {:<28} {used} of {limit} ({:.0}%)\n",
            u.key, u.scope, u.percent
        ));
    }
    text
}

const HEADER: [&str; 6] = ["Agent", "Capability", "Input", "Output", "Cache", "Cost"];

fn header() -> String {
    format!(
        "{:<19} {:<12} {:>10} {:>10} {:>10} {:>10}\n",
        HEADER[0], HEADER[1], HEADER[2], HEADER[3], HEADER[4], HEADER[5]
    )
}

fn line(agent: &str, capability: &str, t: &Totals) -> String {
    format!(
        "{:<19} {:<12} {:>10} {:>10} {:>10} {:>10}\n",
        clip(agent, 19),
        clip(capability, 12),
        thousands(t.input_tokens),
        thousands(t.output_tokens),
        thousands(t.cache_tokens),
        format!("${:.2}", t.cost_usd)
    )
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}

fn table(ctx: &Context, rows: &[SessionMetrics]) -> String {
    if rows.is_empty() {
        return "No session metrics recorded yet.\n".into();
    }
    let mut text = ctx.style.bold(&header());
    for r in rows {
        text.push_str(&line(
            &r.agent_name,
            &r.capability,
            &Totals::of(std::iter::once(r)),
        ));
    }
    text.push_str(&line("Total", "", &Totals::of(rows)));
    text
}

fn by_capability(ctx: &Context, rows: Vec<SessionMetrics>, budget: &[BudgetUse]) -> Output {
    let groups = report::by_capability(rows);
    let mut grouped = serde_json::Map::new();
    let mut text = if groups.is_empty() {
        "No session metrics recorded yet.\n".to_owned()
    } else {
        ctx.style.bold(&header())
    };
    for g in &groups {
        grouped.insert(g.capability.clone(), json!(g));
        let label = format!("({} sessions)", g.sessions.len());
        text.push_str(&line(&label, &g.capability, &g.totals));
    }
    text.push_str(&budget_text(budget));
    let mut data = json!({ "grouped": Value::Object(grouped) });
    if !budget.is_empty() {
        data["budget"] = json!(budget);
    }
    Output::new("costs")
        .data(data)
        .raw(text.trim_end().to_owned())
}

fn live(
    ctx: &Context,
    layout: &Layout,
    store: Option<&MetricsStore>,
    args: &CostsArgs,
) -> Result<Output, CliError> {
    let snapshots = match store {
        Some(s) => s.latest_snapshots(args.run.as_deref())?,
        None => Vec::new(),
    };
    let sessions = if layout.sessions_db().exists() {
        SessionStore::open(&layout.sessions_db())?.active()?
    } else {
        Vec::new()
    };
    let (agents, totals) = report::live(&snapshots, &sessions, args.agent.as_deref());
    let mut text = if agents.is_empty() {
        "No running agent has reported usage yet.\n".to_owned()
    } else {
        ctx.style.bold(&header())
    };
    for a in &agents {
        let t = Totals {
            input_tokens: a.input_tokens,
            output_tokens: a.output_tokens,
            cache_tokens: a.cache_read_tokens + a.cache_creation_tokens,
            cost_usd: a.estimated_cost_usd.unwrap_or(0.0),
        };
        text.push_str(&line(&a.agent_name, &a.capability, &t));
    }
    if !agents.is_empty() {
        text.push_str(&format!(
            "\nBurn rate: ${:.2}/min, {} tokens/min\n",
            totals.burn_rate_per_min,
            thousands(totals.tokens_per_min.round() as i64)
        ));
    }
    Ok(Output::new("costs")
        .data(json!({ "agents": agents, "totals": totals }))
        .raw(text.trim_end().to_owned()))
}

/// `--self`: the newest transcript in the configured runtime's transcript
/// directory for this project.
fn self_cost(ctx: &Context, layout: &Layout, config: &Config) -> Result<Output, CliError> {
    let runtime = Registry::default().get(None, Some(config), None)?;
    let dir = runtime.transcript_dir(layout.root());
    let newest = dir.as_deref().and_then(newest_jsonl);
    let Some(path) = newest else {
        let hint = dir.map_or_else(
            || {
                format!(
                    "runtime '{}' keeps no transcripts overstory can read",
                    runtime.id()
                )
            },
            |d| format!("looked in {}", d.display()),
        );
        return Err(CliError::new(format!(
            "No transcript found for runtime '{}'",
            runtime.id()
        ))
        .hint(hint));
    };
    let usage = read_transcript(&path).unwrap_or_default();
    let cost = estimate_cost(&usage);
    let text = format!(
        "{}\n{}{}",
        path.display(),
        ctx.style.bold(&header()),
        line(
            "self",
            usage.model_used.as_deref().unwrap_or("-"),
            &Totals {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cache_tokens: usage.cache_read_tokens + usage.cache_creation_tokens,
                cost_usd: cost.unwrap_or(0.0),
            }
        )
    );
    Ok(Output::new("costs")
        .data(json!({
            "source": "self",
            "transcriptPath": path.display().to_string(),
            "model": usage.model_used,
            "inputTokens": usage.input_tokens,
            "outputTokens": usage.output_tokens,
            "cacheReadTokens": usage.cache_read_tokens,
            "cacheCreationTokens": usage.cache_creation_tokens,
            "estimatedCostUsd": cost,
        }))
        .raw(text.trim_end().to_owned()))
}

fn newest_jsonl(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
}
