//! `ov worktree list|clean`: agent worktrees.

use overstory_fleet::worktrees::{WorktreeCleanOptions, clean_worktrees, list_worktrees};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// List and clean agent worktrees
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct WorktreeArgs {
    #[command(subcommand)]
    command: WorktreeCommand,
}

/// The `ov worktree` subcommands.
#[derive(Debug, clap::Subcommand)]
enum WorktreeCommand {
    /// List agent worktrees with their agents
    List,
    /// Remove worktrees of completed agents (unmerged branches are kept unless --force)
    Clean {
        /// Only completed agents' worktrees (the default)
        #[arg(long)]
        completed: bool,
        /// Worktrees of agents in any state (the merge check still applies)
        #[arg(long)]
        all: bool,
        /// Delete unmerged branches and stop live children too
        #[arg(long)]
        force: bool,
    },
}

impl WorktreeArgs {
    /// The envelope name of this invocation.
    pub fn envelope_name(&self) -> &'static str {
        match self.command {
            WorktreeCommand::List => "worktree list",
            WorktreeCommand::Clean { .. } => "worktree clean",
        }
    }
}

/// Runs `ov worktree`.
pub fn run(ctx: &Context, args: WorktreeArgs) -> Result<Output, CliError> {
    let name = args.envelope_name();
    let layout = ctx.layout()?;
    match args.command {
        WorktreeCommand::List => {
            let list = list_worktrees(&layout)?;
            let mut text = String::new();
            if list.is_empty() {
                text.push_str("No agent worktrees\n");
            }
            for w in &list {
                text.push_str(&format!(
                    "{}  {}  {}  {}\n",
                    w.agent_name.as_deref().unwrap_or("-"),
                    w.state.as_deref().unwrap_or("-"),
                    w.branch,
                    w.path
                ));
            }
            Ok(Output::new(name)
                .data(json!({ "worktrees": list }))
                .raw(text))
        }
        WorktreeCommand::Clean {
            completed: _,
            all,
            force,
        } => {
            let config = ctx.config()?;
            let opts = WorktreeCleanOptions {
                all,
                force,
                ..WorktreeCleanOptions::default()
            };
            let r = clean_worktrees(&layout, &config, &opts)?;
            let data = crate::output::to_json(&r)?;
            let mut out = Output::new(name).data(data);
            if r.cleaned.is_empty() && r.skipped.is_empty() && r.blocked_by_children.is_empty() {
                out = out.success("No worktrees to clean");
            }
            for b in &r.cleaned {
                out = out.success(format!("Removed worktree {b}"));
            }
            for b in &r.skipped {
                out = out.warning(
                    format!("Kept {b}: it has commits not merged into the canonical branch"),
                    Some("merge it first, or pass --force to discard them".into()),
                );
            }
            for b in &r.blocked_by_children {
                out = out.warning(
                    format!("Kept {b}: its agent still has live children"),
                    Some("stop them, or pass --force".into()),
                );
            }
            for w in &r.warnings {
                out = out.warning(w.clone(), None);
            }
            if r.pruned > 0 {
                out = out.hint(format!("Pruned {} stale session row(s)", r.pruned));
            }
            Ok(out)
        }
    }
}
