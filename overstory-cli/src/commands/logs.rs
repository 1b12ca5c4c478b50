//! `ov logs`: query and follow the agents' NDJSON logs.

use std::time::Duration;

use overstory_core::clock;
use overstory_core::events::EventLevel;
use overstory_sessions::observe::logs::{self, LogEntry, LogFollower, LogQuery};
use overstory_sessions::observe::{self, text};
use serde_json::json;

use crate::commands::follow::FollowLoop;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output, Style};

/// How often --follow looks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Query the agents' logs (.overstory/logs/<agent>/*/events.ndjson)
///
/// Shows the newest --limit matching entries, oldest first. With --follow,
/// then prints each new matching entry as it is appended (every filter
/// applies) until interrupted; with --json each is one envelope line.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Only this agent's logs
    #[arg(long)]
    pub agent: Option<String>,
    /// Only entries of this level (debug, info, warn, error)
    #[arg(long)]
    pub level: Option<String>,
    /// Only entries at or after this time: ISO 8601, or an age such as 30s, 15m, 2h, 7d
    #[arg(long)]
    pub since: Option<String>,
    /// Only entries at or before this time: ISO 8601, or an age such as 30s, 15m, 2h, 7d
    #[arg(long)]
    pub until: Option<String>,
    /// Show the newest N entries (at least 1, default 100)
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub limit: i64,
    /// Keep printing new entries until interrupted (Ctrl-C) or stdout closes
    #[arg(short = 'f', long)]
    pub follow: bool,
}

impl LogsArgs {
    fn into_query(self) -> Result<LogQuery, CliError> {
        let limit = observe::check_min("limit", self.limit, 1)?;
        let level = self
            .level
            .as_deref()
            .map(str::parse::<EventLevel>)
            .transpose()?;
        let now = clock::now_millis();
        let time =
            |flag: &str, v: Option<&str>| v.map(|v| logs::parse_log_time(flag, v, now)).transpose();
        Ok(LogQuery {
            since_ms: time("since", self.since.as_deref())?,
            until_ms: time("until", self.until.as_deref())?,
            agent: self.agent,
            level,
            limit,
        })
    }
}

/// Runs `ov logs`.
pub fn run(ctx: &Context, args: LogsArgs) -> Result<Output, CliError> {
    let follow = args.follow;
    let query = args.into_query()?;
    let layout = ctx.layout()?;
    if !follow {
        let report = logs::query(&layout, &query)?;
        let text = if report.files == 0 {
            "No log files found.\n".to_owned()
        } else {
            report.entries.iter().map(|e| line(e, ctx.style)).collect()
        };
        return Ok(Output::new("logs")
            .data(json!({"entries": report.entries}))
            .raw(text));
    }
    // Handlers first, so an interrupt during the first screenful ends cleanly.
    let follow = FollowLoop::install()?;
    let (initial, mut follower) = LogFollower::start(&layout, query)?;
    let print = |entries: &[LogEntry]| -> bool {
        entries.iter().all(|e| {
            let text = if ctx.json {
                output::envelope_line("logs", &json!({"entry": e}))
            } else {
                line(e, ctx.style)
            };
            output::print_raw(&text)
        })
    };
    if !print(&initial.entries) {
        return Ok(Output::silent("logs"));
    }
    follow
        .run(FOLLOW_EVERY, || Ok(print(&follower.poll()?)))
        .map_err(|e: overstory_sessions::SessionError| CliError::from(e))?;
    Ok(Output::silent("logs"))
}

/// `YYYY-MM-DD HH:MM:SS LEVEL agent event data`.
fn line(e: &LogEntry, style: Style) -> String {
    let ts = e.timestamp();
    let when = format!(
        "{} {}",
        ts.get(..10).unwrap_or(ts),
        ts.get(11..19).unwrap_or("")
    );
    let level = format!("{:<5}", e.level().to_ascii_uppercase());
    let level = match e.level() {
        "error" => style.red(&level),
        "warn" => style.yellow(&level),
        "debug" => style.dim(&level),
        _ => level,
    };
    format!(
        "{when} {level} {:<15} {:<12} {}\n",
        e.agent,
        e.event(),
        text::fit(&e.summary(), 120)
    )
}
