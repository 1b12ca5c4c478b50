//! `ov clean`: wipe runtime state by category, or one agent.

use overstory_fleet::Tmux;
use overstory_fleet::clean::{CleanOptions, clean, clean_agent};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Remove runtime state: worktrees, branches, databases, logs
#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools, reason = "one flag per category")]
pub struct CleanArgs {
    /// Everything below, plus the merge queue, nudge state and current run
    #[arg(long)]
    pub all: bool,
    /// Delete mail.db
    #[arg(long)]
    pub mail: bool,
    /// Delete sessions.db
    #[arg(long)]
    pub sessions: bool,
    /// Delete metrics.db
    #[arg(long)]
    pub metrics: bool,
    /// Empty logs/
    #[arg(long)]
    pub logs: bool,
    /// Kill agents and remove their worktrees
    #[arg(long)]
    pub worktrees: bool,
    /// Delete overstory/* branches
    #[arg(long)]
    pub branches: bool,
    /// Empty agents/
    #[arg(long)]
    pub agents: bool,
    /// Empty specs/
    #[arg(long)]
    pub specs: bool,
    /// Clean only this agent: stop it, remove its worktree and branch, empty its dirs
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// Also delete worktrees and branches holding unmerged commits
    #[arg(long)]
    pub force: bool,
}

/// Runs `ov clean`.
pub fn run(ctx: &Context, args: CleanArgs) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let config = ctx.config()?;
    let tmux = Tmux::default();
    if let Some(agent) = &args.agent {
        if args.all {
            return Err(CliError::validation(
                "--agent cannot be combined with --all",
            ));
        }
        let r = clean_agent(&layout, &config, agent, args.force, &tmux)?;
        let mut out = Output::new("clean")
            .data(json!({ "agent": r }))
            .success(format!("Cleaned agent {}", r.agent_name));
        for w in &r.warnings {
            out = out.warning(w.clone(), None);
        }
        return Ok(out);
    }
    let opts = CleanOptions {
        all: args.all,
        mail: args.mail,
        sessions: args.sessions,
        metrics: args.metrics,
        logs: args.logs,
        worktrees: args.worktrees,
        branches: args.branches,
        agents: args.agents,
        specs: args.specs,
        force: args.force,
    };
    let r = clean(&layout, &config, &opts, &tmux)?;
    let data = crate::output::to_json(&r)?;
    let mut out = Output::new("clean").data(data);
    if r.is_noop() && r.unmerged_kept.is_empty() {
        return Ok(out.success("Nothing to clean"));
    }
    let counts = [
        (r.session_end_events_logged, "session-end event(s) logged"),
        (r.tmux_killed, "tmux session(s) killed"),
        (r.orphan_pids_reaped, "agent process(es) killed"),
        (r.worktrees_cleaned, "worktree(s) removed"),
        (r.branches_deleted, "branch(es) deleted"),
    ];
    for (n, what) in counts {
        if n > 0 {
            out = out.success(format!("{n} {what}"));
        }
    }
    let flags = [
        (r.mail_wiped, "Mail database wiped"),
        (r.sessions_cleared, "Sessions cleared"),
        (r.merge_queue_cleared, "Merge queue cleared"),
        (r.metrics_wiped, "Metrics wiped"),
        (r.logs_cleared, "Logs cleared"),
        (r.agents_cleared, "Agent state cleared"),
        (r.specs_cleared, "Specs cleared"),
        (r.nudge_state_cleared, "Nudge state cleared"),
        (r.current_run_cleared, "Current run cleared"),
    ];
    for (done, what) in flags {
        if done {
            out = out.success(what);
        }
    }
    for b in &r.unmerged_kept {
        out = out.warning(
            format!("Kept {b}: it has commits not merged into the canonical branch"),
            Some("merge it first, or pass --force to discard them".into()),
        );
    }
    Ok(out)
}
