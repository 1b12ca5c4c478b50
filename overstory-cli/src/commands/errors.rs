//! `ov errors`: error-level events, grouped by agent.

use overstory_sessions::observe;
use serde_json::json;

use super::timeline;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Show error events of an agent, a run, or everyone
#[derive(Debug, clap::Args)]
pub struct ErrorsArgs {
    /// Only this agent's errors (wins over --run)
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub agent: Option<String>,
    /// Only this run's errors
    #[arg(long)]
    pub run: Option<String>,
    /// Only errors at or after this time (ISO 8601)
    #[arg(long)]
    pub since: Option<String>,
    /// Only errors at or before this time (ISO 8601)
    #[arg(long)]
    pub until: Option<String>,
    /// Show the newest N errors (default 100)
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub limit: i64,
}

/// Runs `ov errors`.
pub fn run(ctx: &Context, args: ErrorsArgs) -> Result<Output, CliError> {
    let filter = observe::window_filter(args.since.as_deref(), args.until.as_deref(), args.limit)?;
    let layout = ctx.layout()?;
    let Some(events) =
        observe::errors(&layout, args.agent.as_deref(), args.run.as_deref(), &filter)?
    else {
        return Ok(Output::new("errors")
            .data(json!({"events": []}))
            .raw(timeline::NO_EVENTS));
    };
    let mut text = format!("{}\n{} error(s)\n", ctx.style.bold("Errors"), events.len());
    let mut agents: Vec<&str> = Vec::new();
    for e in &events {
        if !agents.contains(&e.agent_name.as_str()) {
            agents.push(&e.agent_name);
        }
    }
    let described = timeline::describe_all(&events, timeline::DESCRIPTION_WIDTH);
    for a in agents {
        let mine: Vec<_> = events
            .iter()
            .zip(&described)
            .filter(|(e, _)| e.agent_name == a)
            .collect();
        text.push_str(&format!("\n{a} ({} errors)\n", mine.len()));
        for (e, what) in mine {
            text.push_str(&format!(
                "  {} {} {} {what}\n",
                timeline::date(&e.created_at),
                timeline::clock_time(&e.created_at),
                ctx.style.red("ERROR"),
            ));
        }
    }
    Ok(Output::new("errors")
        .data(json!({"events": events}))
        .raw(text))
}
