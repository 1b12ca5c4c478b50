//! `ov replay`: a run's (or some agents') events from the beginning.

use overstory_sessions::observe;
use serde_json::json;

use super::timeline;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Replay the events of a run or of agents in order
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The run to replay (default: the current run, else the last 24 hours)
    #[arg(long)]
    pub run: Option<String>,
    /// Only these agents (repeatable)
    #[arg(long = "agent", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub agents: Vec<String>,
    /// Only events at or after this time (ISO 8601)
    #[arg(long)]
    pub since: Option<String>,
    /// Only events at or before this time (ISO 8601)
    #[arg(long)]
    pub until: Option<String>,
    /// Show at most N events from the start (default 200)
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub limit: i64,
}

/// Runs `ov replay`.
pub fn run(ctx: &Context, args: ReplayArgs) -> Result<Output, CliError> {
    let filter = observe::window_filter(args.since.as_deref(), args.until.as_deref(), args.limit)?;
    let layout = ctx.layout()?;
    let Some(events) = observe::replay(&layout, args.run.as_deref(), &args.agents, &filter)? else {
        return Ok(Output::new("replay")
            .data(json!({"events": []}))
            .raw(timeline::NO_EVENTS));
    };
    let mut text = format!("{}\n{} event(s)\n", ctx.style.bold("Replay"), events.len());
    text.push_str(&timeline::render_timeline(&events, true, true, ctx.style));
    Ok(Output::new("replay")
        .data(json!({"events": events}))
        .raw(text))
}
