//! `ov status`: the fleet at a glance.

use std::time::Duration;

use overstory_fleet::status_sources::ProjectSources;
use overstory_sessions::status::{self, StatusOptions, StatusReport};
use overstory_sessions::{format_duration_compact, observe};

use overstory_core::BranchName;

use crate::commands::follow::FollowLoop;
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output, Style};

/// Show agents, worktrees, mail and the merge queue
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The agent whose unread mail is counted
    #[arg(long, default_value = "orchestrator", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub agent: String,
    /// Show every session, not only the current run's
    #[arg(long)]
    pub all: bool,
    /// Deprecated: redraw every --interval ms (use 'ov feed --follow')
    #[arg(long)]
    pub watch: bool,
    /// Redraw interval for --watch in ms (at least 500)
    #[arg(long, default_value_t = 3000, allow_negative_numbers = true)]
    pub interval: i64,
}

/// Runs `ov status`.
pub fn run(ctx: &Context, args: StatusArgs) -> Result<Output, CliError> {
    let interval = observe::check_min("interval", args.interval, 500)?;
    let layout = ctx.layout()?;
    let opts = StatusOptions {
        all: args.all,
        mail_scope: args.agent,
        verbose: ctx.verbose,
        ..StatusOptions::from_config(&ctx.config()?)
    };
    let sources = ProjectSources::new(&layout);
    if args.watch {
        output::eprint_line("! --watch is deprecated; use 'ov feed --follow' instead");
        let every = Duration::from_millis(u64::try_from(interval).unwrap_or(3000));
        FollowLoop::install()?.run(every, || {
            let report = gather(ctx, &layout, &opts, &sources)?;
            let text = format!("\x1b[2J\x1b[H{}", render(&report, opts.all, ctx.style));
            Ok::<bool, CliError>(output::print_raw(&text))
        })?;
        return Ok(Output::silent("status"));
    }
    let report = gather(ctx, &layout, &opts, &sources)?;
    if !ctx.json {
        return Ok(Output::new("status").raw(render(&report, opts.all, ctx.style)));
    }
    let data = crate::output::to_json(&report)?;
    Ok(Output::new("status").data(data))
}

/// Gathers the report, fails on a store that exists but cannot be read (a
/// corrupt `mail.db` must not read as "0 unread"), and warns on stderr about
/// session rows that do not decode (they are left out, not fatal).
fn gather(
    ctx: &Context,
    layout: &overstory_core::Layout,
    opts: &StatusOptions,
    sources: &ProjectSources,
) -> Result<StatusReport, CliError> {
    let report = status::gather(layout, opts, sources)?;
    if let Some(e) = sources.take_error() {
        return Err(e.into());
    }
    if !ctx.quiet && !report.undecodable.is_empty() {
        let rows: Vec<String> = report
            .undecodable
            .iter()
            .map(|u| format!("\"{}\" ({})", u.agent_name, u.reason))
            .collect();
        output::eprint_line(&format!(
            "! Skipped {} unreadable row(s) of sessions.db: {} — left unchanged; 'ov doctor' checks the databases",
            rows.len(),
            rows.join(", ")
        ));
    }
    Ok(report)
}

fn render(r: &StatusReport, all: bool, style: Style) -> String {
    let mut s = String::new();
    if let Some(Some(run)) = &r.current_run_id {
        s.push_str(&format!("Run: {run}\n"));
    }
    let active: Vec<_> = r.active_agents().collect();
    let finished: Vec<_> = r.agents.iter().filter(|a| !a.state.is_active()).collect();
    let heading = if all {
        format!(
            "Agents: {} active, {} finished",
            active.len(),
            finished.len()
        )
    } else {
        format!("Agents: {} active", active.len())
    };
    s.push_str(&format!("{}\n", style.bold(&heading)));
    let now = overstory_core::clock::now_millis();
    // Without --all only the active agents are listed; with it, the
    // finished ones (completed, zombie) follow, marked '-'.
    let listed = active
        .iter()
        .map(|a| (*a, true))
        .chain(finished.iter().filter(|_| all).map(|a| (*a, false)));
    for (a, is_active) in listed {
        let marker = if !is_active {
            style.dim("-")
        } else if r.is_alive(&a.agent_name) {
            style.green(">")
        } else {
            style.red("x")
        };
        let age = overstory_core::clock::parse_rfc3339(&a.started_at)
            .map(|t| format_duration_compact(now - t))
            .unwrap_or_default();
        let task = a
            .task_id
            .as_ref()
            .map_or_else(String::new, |t| format!(" {t}"));
        s.push_str(&format!(
            "  {marker} {} [{}] {}{task} {}\n",
            a.agent_name,
            a.capability,
            a.state,
            style.dim(&age)
        ));
    }
    let ours: Vec<_> = r
        .worktrees
        .iter()
        .filter(|w| BranchName::is_agent_branch(&w.branch))
        .collect();
    s.push_str(&format!("Worktrees: {}\n", ours.len()));
    for w in ours {
        s.push_str(&format!("  {} {}\n", w.branch, style.dim(&w.path)));
    }
    if let Some(details) = &r.verbose_details {
        for (name, d) in details {
            s.push_str(&format!(
                "  {name}: worktree {} logs {} last sent {} last received {}\n",
                d.worktree_path,
                d.logs_dir,
                d.last_mail_sent.as_deref().unwrap_or("-"),
                d.last_mail_received.as_deref().unwrap_or("-")
            ));
        }
    }
    s.push_str(&format!(
        "Mail: {} unread (to {})\n",
        r.unread_mail_count, r.unread_mail_scope
    ));
    s.push_str(&format!("Merge queue: {} pending\n", r.merge_queue_count));
    s.push_str(&format!(
        "Sessions recorded: {} ({} with metrics)\n",
        r.recorded_sessions, r.recent_metrics_count
    ));
    s
}
