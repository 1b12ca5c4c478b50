//! `ov inspect <agent>`: one agent in depth.

use std::time::Duration;

use overstory_core::clock;
use overstory_fleet::inspect::{self, InspectOptions, InspectReport};
use overstory_sessions::observe::{self, text};
use overstory_sessions::{RunMode, format_duration_compact};

use super::timeline;
use crate::commands::follow::FollowLoop;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output, Style};

/// Show one agent in depth: state, task, tool calls, mail, tokens, output
///
/// Reads sessions.db, events.db, mail.db and metrics.db without creating
/// them; the last output is the tmux pane for tmux agents, else the last
/// thing the agent said.
///
/// For headless agents, `--json` has `headlessTurnInfo.contextUtilization`:
/// the share (0.0-1.0) of the model's context window its newest call used
/// (input + cache-read + cache-creation tokens of the newest assistant
/// message, else of the newest turn result, over 200k tokens for Claude
/// models, 1M with a `[1m]` model); null when no usage was recorded or the
/// model's window is unknown.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The agent to inspect
    pub agent: String,
    /// Redraw every --interval ms until interrupted (Ctrl-C)
    #[arg(long)]
    pub follow: bool,
    /// Redraw interval for --follow in ms (at least 500, default 3000)
    #[arg(long, default_value_t = 3000, allow_negative_numbers = true)]
    pub interval: i64,
    /// Show the newest N tool calls (at least 1, default 20)
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    pub limit: i64,
    /// Do not capture the agent's tmux pane
    #[arg(long)]
    pub no_tmux: bool,
}

/// Runs `ov inspect`.
pub fn run(ctx: &Context, args: InspectArgs) -> Result<Output, CliError> {
    let interval = observe::check_min("interval", args.interval, 500)?;
    let limit = observe::check_min("limit", args.limit, 1)?;
    let layout = ctx.layout()?;
    let opts = InspectOptions {
        limit,
        capture_tmux: !args.no_tmux,
        ..InspectOptions::default()
    };
    if !args.follow {
        let report = inspect::inspect(&layout, &args.agent, &opts)?;
        if !ctx.json {
            return Ok(Output::new("inspect").raw(render(&report, ctx.style)));
        }
        return Output::new("inspect").data_of(&report);
    }
    // An unknown agent fails before the loop starts.
    inspect::inspect(&layout, &args.agent, &opts)?;
    let every = Duration::from_millis(u64::try_from(interval).unwrap_or(3000));
    FollowLoop::install()?.run(every, || {
        let report = inspect::inspect(&layout, &args.agent, &opts)?;
        let text = if ctx.json {
            output::envelope_line("inspect", &output::to_json(&report)?)
        } else {
            format!("\x1b[2J\x1b[H{}", render(&report, ctx.style))
        };
        Ok::<bool, CliError>(output::print_raw(&text))
    })?;
    Ok(Output::silent("inspect"))
}

fn ago(ts: &str, now: i64) -> String {
    clock::parse_rfc3339(ts).map_or_else(
        || ts.to_owned(),
        |t| format!("{} ago", format_duration_compact(now - t)),
    )
}

/// The report as a person reads it.
fn render(r: &InspectReport, style: Style) -> String {
    let s = &r.session;
    let now = clock::now_millis();
    let mut out = format!(
        "{}  {}  ({})\n",
        style.bold(s.agent_name.as_str()),
        s.state,
        s.capability.as_str()
    );
    let mut row = |k: &str, v: &str| {
        if !v.is_empty() {
            out.push_str(&format!("  {:<15}{v}\n", format!("{k}:")));
        }
    };
    row("Task", s.task_str());
    row("Branch", &s.branch_name);
    row("Worktree", &s.worktree_path);
    row(
        "Parent",
        s.parent_agent
            .as_ref()
            .map_or("none (the operator)", |p| p.as_str()),
    );
    let mode = match s.mode() {
        RunMode::Tmux => format!("tmux ({})", s.tmux_session),
        RunMode::Hosted => "headless (hosted)".to_owned(),
        RunMode::SpawnPerTurn => "headless (one process per turn)".to_owned(),
    };
    row("Mode", &mode);
    row("Run", s.run_id.as_deref().unwrap_or(""));
    row("Started", &ago(&s.started_at, now));
    row(
        "Last activity",
        &format!(
            "{} ago",
            format_duration_compact(r.time_since_last_activity)
        ),
    );
    if let Some(h) = &r.headless_turn_info {
        let mid = if h.is_mid_tool {
            "  (in a tool call)"
        } else {
            ""
        };
        row("Turn", &format!("{}{mid}", h.current_turn));
    }
    if let Some(f) = &r.current_file {
        row("Current file", f);
    }
    let tokens = match &r.token_usage {
        Some(t) => {
            let mut line = format!(
                "in {} / out {}",
                text::thousands(t.input_tokens),
                text::thousands(t.output_tokens)
            );
            if t.cache_read_tokens > 0 || t.cache_creation_tokens > 0 {
                line.push_str(&format!(
                    "  cache {} read / {} new",
                    text::thousands(t.cache_read_tokens),
                    text::thousands(t.cache_creation_tokens)
                ));
            }
            if let Some(c) = t.estimated_cost_usd {
                line.push_str(&format!("  {}", text::usd(c)));
            }
            if let Some(m) = &t.model_used {
                line.push_str(&format!("  {m}"));
            }
            line
        }
        None => "none recorded".to_owned(),
    };
    row("Tokens", &tokens);

    out.push_str(&format!(
        "\n{}\n",
        style.bold(&format!("Children ({})", r.children.len()))
    ));
    for c in &r.children {
        out.push_str(&format!(
            "  {:<20} {:<10} {:<10} {}\n",
            c.agent_name, c.capability, c.state, c.task_id
        ));
    }

    let m = &r.mail;
    out.push_str(&format!(
        "\n{}\n",
        style.bold(&format!(
            "Mail: {} received ({} unread), {} sent",
            m.received, m.unread, m.sent
        ))
    ));
    for l in &m.latest_received {
        out.push_str(&format!(
            "  ← {}: {}  [{}]\n",
            l.peer,
            text::fit(&l.subject, 80),
            l.kind
        ));
    }
    for l in &m.latest_sent {
        out.push_str(&format!(
            "  → {}: {}  [{}]\n",
            l.peer,
            text::fit(&l.subject, 80),
            l.kind
        ));
    }

    out.push_str(&format!(
        "\n{}\n",
        style.bold(&format!(
            "Recent tool calls ({})",
            r.recent_tool_calls.len()
        ))
    ));
    for c in &r.recent_tool_calls {
        out.push_str(&format!(
            "  {}  {}\n",
            timeline::clock_time(&c.timestamp),
            c.summary
        ));
    }
    if !r.tool_stats.is_empty() {
        let stats: Vec<String> = r
            .tool_stats
            .iter()
            .map(|t| format!("{} {}", t.tool_name, t.count))
            .collect();
        out.push_str(&format!(
            "  {}\n",
            style.dim(&format!("all time: {}", stats.join(", ")))
        ));
    }

    out.push_str(&format!("\n{}\n", style.bold("Last output")));
    match &r.last_output {
        Some(text) => {
            for l in text.lines().take(inspect::PANE_LINES as usize) {
                out.push_str(&format!("  {l}\n"));
            }
        }
        None => out.push_str(&format!("  {}\n", style.dim("(nothing yet)"))),
    }
    out
}
