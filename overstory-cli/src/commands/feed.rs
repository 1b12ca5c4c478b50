//! `ov feed`: the live stream of everyone's events.

use std::time::Duration;

use overstory_core::events::{EventFilter, FollowFilter, StoredEvent};
use overstory_sessions::observe::{self, EventScope, Follower, text};
use serde_json::json;

use super::timeline::{self, AgentColors};
use crate::commands::follow::FollowLoop;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output, Style};

/// Show recent events of all agents, optionally following new ones
#[derive(Debug, clap::Args)]
pub struct FeedArgs {
    /// Keep printing new events until interrupted (Ctrl-C) or stdout closes
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Poll interval for --follow in ms (at least 200)
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub interval: i64,
    /// Only these agents (repeatable)
    #[arg(long = "agent", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub agents: Vec<String>,
    /// Only this run
    #[arg(long)]
    pub run: Option<String>,
    /// Only events at or after this time (ISO 8601; default 5 minutes ago)
    #[arg(long)]
    pub since: Option<String>,
    /// Show the newest N events (default 50)
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pub limit: i64,
}

/// Runs `ov feed`.
pub fn run(ctx: &Context, args: FeedArgs) -> Result<Output, CliError> {
    let limit = observe::check_min("limit", args.limit, 1)?;
    let interval = observe::check_min("interval", args.interval, 200)?;
    let since = args
        .since
        .as_deref()
        .map(|s| observe::parse_time_flag("since", s))
        .transpose()?;
    let layout = ctx.layout()?;
    let scope = match (&args.run, args.agents.is_empty()) {
        (Some(r), _) => EventScope::Run(r.clone()),
        (None, false) => EventScope::Agents(args.agents.clone()),
        (None, true) => EventScope::All,
    };
    let filter = EventFilter {
        since,
        limit: Some(limit),
        ..EventFilter::default()
    };
    if !args.follow {
        let Some(events) = observe::feed(&layout, &scope, &filter)? else {
            return Ok(Output::new("feed")
                .data(json!({"events": []}))
                .raw(timeline::NO_EVENTS));
        };
        let mut colors = AgentColors::default();
        let text: String = events
            .iter()
            .zip(timeline::describe_all(&events, FEED_WIDTH))
            .map(|(e, what)| line(e, &what, &mut colors, ctx.style))
            .collect();
        return Ok(Output::new("feed")
            .data(json!({"events": events}))
            .raw(text));
    }

    // Follow. Install the SIGINT/SIGTERM handlers before printing anything,
    // so an interrupt at any point ends the loop cleanly.
    let follow = FollowLoop::install()?;
    let mut follower = Follower::from_now(
        &layout,
        FollowFilter {
            agents: args.agents.clone(),
            run_id: args.run.clone(),
        },
    )?;
    let cursor = follower.cursor();
    let mut colors = AgentColors::default();
    // Prints a batch; the describer pairs a tool result with its call even
    // when the call was printed in an earlier batch.
    let mut describer = text::Describer::default();
    let mut printer = |events: &[StoredEvent], colors: &mut AgentColors| -> bool {
        let described = describer.describe(events, FEED_WIDTH);
        events.iter().zip(described).all(|(e, what)| {
            let text = if ctx.json {
                output::envelope_line("feed", &json!({"event": e}))
            } else {
                line(e, &what, colors, ctx.style)
            };
            output::print_raw(&text)
        })
    };
    if let Some(mut initial) = observe::feed(&layout, &scope, &filter)? {
        initial.retain(|e| e.id <= cursor);
        if !printer(&initial, &mut colors) {
            return Ok(Output::silent("feed"));
        }
    }
    let poll_every = Duration::from_millis(u64::try_from(interval).unwrap_or(1000));
    follow
        .run(poll_every, || {
            let events = follower.poll()?;
            Ok(printer(&events, &mut colors))
        })
        .map_err(|e: overstory_sessions::SessionError| CliError::from(e))?;
    Ok(Output::silent("feed"))
}

/// Width of a feed line's description (the line is at most 110 wide).
const FEED_WIDTH: usize = 80;

/// `HH:MM:SS LABEL agent(15) description`.
fn line(e: &StoredEvent, what: &str, colors: &mut AgentColors, style: Style) -> String {
    let label = if e.level == "error" {
        style.red(e.compact_label())
    } else {
        e.compact_label().to_owned()
    };
    format!(
        "{} {label} {} {}\n",
        timeline::clock_time(&e.created_at),
        colors.paint(style, &e.agent_name, 15),
        what
    )
}
