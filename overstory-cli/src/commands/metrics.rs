//! `ov metrics`: the newest session metrics with totals, durations and
//! merge tiers.

use overstory_sessions::format_duration_compact;
use overstory_sessions::metrics::MetricsStore;
use overstory_sessions::metrics::report::Totals;
use overstory_sessions::observe;
use overstory_sessions::observe::text::thousands;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Show recent session metrics: tokens, cost, durations, merge tiers
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// Show the newest N sessions (default 20)
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    pub last: i64,
}

/// Runs `ov metrics`.
pub fn run(ctx: &Context, args: MetricsArgs) -> Result<Output, CliError> {
    let last = observe::check_min("last", args.last, 1)?;
    let layout = ctx.layout()?;
    let path = layout.metrics_db();
    if !path.exists() {
        return Ok(Output::new("metrics")
            .data(json!({ "sessions": [] }))
            .raw("No session metrics recorded yet."));
    }
    let store = MetricsStore::open(&path)?;
    let rows = store.recent(last)?;
    if rows.is_empty() {
        return Ok(Output::new("metrics")
            .data(json!({ "sessions": [] }))
            .raw("No session metrics recorded yet."));
    }
    let t = Totals::of(&rows);
    let mut text = format!(
        "{}\nSessions: {} of {}\nTokens: {} in, {} out, {} cache\nCost: ${:.2}\nAverage duration: {}\n",
        ctx.style.bold("Metrics"),
        rows.len(),
        store.count()?,
        thousands(t.input_tokens),
        thousands(t.output_tokens),
        thousands(t.cache_tokens),
        t.cost_usd,
        format_duration_compact(store.average_duration(None)?.round() as i64),
    );
    let mut tiers: Vec<(&str, usize)> = Vec::new();
    for tier in rows
        .iter()
        .filter(|r| r.completed_at.is_some())
        .filter_map(|r| r.merge_result.as_deref())
    {
        match tiers.iter_mut().find(|(t, _)| *t == tier) {
            Some((_, n)) => *n += 1,
            None => tiers.push((tier, 1)),
        }
    }
    if !tiers.is_empty() {
        text.push_str("\nMerge tiers\n");
        for (tier, n) in &tiers {
            text.push_str(&format!("  {tier:<14} {n}\n"));
        }
    }
    let mut caps: Vec<&str> = rows.iter().map(|r| r.capability.as_str()).collect();
    caps.sort_unstable();
    caps.dedup();
    text.push_str("\nBy capability\n");
    for cap in caps {
        let n = rows.iter().filter(|r| r.capability == cap).count();
        let avg = store.average_duration(Some(cap))?.round() as i64;
        text.push_str(&format!(
            "  {cap:<12} {n:>4} sessions, average {}\n",
            format_duration_compact(avg)
        ));
    }
    text.push_str("\nRecent\n");
    for r in &rows {
        let (status, duration) = match r.completed_at {
            Some(_) => ("done", format_duration_compact(r.duration_ms)),
            None => ("running", "-".to_owned()),
        };
        let task = if r.task_id.is_empty() {
            "-"
        } else {
            &r.task_id
        };
        text.push_str(&format!(
            "  {} [{}] {task} | {status} | {duration}\n",
            r.agent_name, r.capability
        ));
    }
    Ok(Output::new("metrics")
        .data(json!({ "sessions": rows }))
        .raw(text.trim_end().to_owned()))
}
