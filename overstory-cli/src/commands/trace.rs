//! `ov trace <target>`: one agent's timeline.

use overstory_sessions::observe;
use serde_json::json;

use super::timeline;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Show an agent's (or a task's agent's) recent events
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// Agent name or task id
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub target: String,
    /// Only events at or after this time (ISO 8601); shows absolute times
    #[arg(long)]
    pub since: Option<String>,
    /// Only events at or before this time (ISO 8601)
    #[arg(long)]
    pub until: Option<String>,
    /// Show the newest N events (default 100)
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub limit: i64,
}

/// Runs `ov trace`.
pub fn run(ctx: &Context, args: TraceArgs) -> Result<Output, CliError> {
    let filter = observe::window_filter(args.since.as_deref(), args.until.as_deref(), args.limit)?;
    let layout = ctx.layout()?;
    let agent = observe::resolve_trace_target(&layout, &args.target)?;
    let absolute = filter.since.is_some();
    let Some(events) = observe::trace(&layout, &agent, &filter)? else {
        return Ok(Output::new("trace")
            .data(json!({"events": []}))
            .raw(timeline::NO_EVENTS));
    };
    let mut text = format!(
        "{}\n{} event(s)\n",
        ctx.style.bold(&format!("Timeline for {agent}")),
        events.len()
    );
    text.push_str(&timeline::render_timeline(
        &events, absolute, false, ctx.style,
    ));
    Ok(Output::new("trace")
        .data(json!({"events": events}))
        .raw(text))
}
