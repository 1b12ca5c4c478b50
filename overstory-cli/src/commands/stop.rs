//! `ov stop`: stop an agent (headless or tmux) and optionally remove its worktree.

use overstory_fleet::{StopOptions, stop_agent};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Stop an agent and mark it completed
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The agent to stop
    pub agent: String,
    /// Force-remove a dirty worktree and delete a branch with unmerged commits
    #[arg(long)]
    pub force: bool,
    /// Also remove the agent's worktree and branch (unmerged work is kept unless --force)
    #[arg(long)]
    pub clean_worktree: bool,
}

/// Runs `ov stop`.
pub fn run(ctx: &Context, args: StopArgs) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let config = ctx.config()?;
    let opts = StopOptions {
        force: args.force,
        clean_worktree: args.clean_worktree,
        ..StopOptions::default()
    };
    let r = stop_agent(&layout, &config, &args.agent, &opts)?;
    let data = crate::output::to_json(&r)?;
    let mut out = Output::new("stop").data(data);
    out = if r.was_completed {
        out.success(format!("Agent already completed: {}", r.agent_name))
    } else {
        out.success(format!("Agent stopped: {}", r.agent_name))
    };
    if r.tmux_killed {
        out = out.hint("tmux session killed");
    }
    if r.pid_killed {
        out = out.hint("process group killed");
    }
    if r.worktree_removed {
        out = out.hint("worktree removed");
    }
    if r.branch_deleted {
        out = out.hint("branch deleted");
    }
    for w in &r.warnings {
        out = out.warning(w.clone(), None);
    }
    Ok(out)
}
