//! `ov agents discover`: active agents with their file scopes.

use overstory_core::Capability;
use overstory_sessions::discover;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Discover agents and what they own
#[derive(Debug, clap::Args)]
#[command(arg_required_else_help = true)]
pub struct AgentsArgs {
    #[command(subcommand)]
    /// The subcommand (only `discover`); `None` is a "Missing subcommand" error.
    pub command: Option<AgentsCommand>,
}

/// `ov agents` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AgentsCommand {
    /// List active agents with capability, state, task and file scope
    Discover {
        /// Only agents of this capability
        #[arg(long)]
        capability: Option<String>,
        /// Include completed and zombie agents
        #[arg(long)]
        all: bool,
    },
}

/// Runs `ov agents`.
pub fn run(ctx: &Context, args: AgentsArgs) -> Result<Output, CliError> {
    let Some(AgentsCommand::Discover { capability, all }) = args.command else {
        return Err(CliError::validation("Missing subcommand").hint("Run 'ov agents --help'"));
    };
    let capability = capability
        .as_deref()
        .map(str::parse::<Capability>)
        .transpose()?;
    let layout = ctx.layout()?;
    let agents = discover::discover(&layout, capability, all)?;
    let mut text = format!("{} agent(s)\n", agents.len());
    for a in &agents {
        text.push_str(&format!(
            "  {} [{}] {} {} {}\n",
            a.agent_name, a.capability, a.state, a.task_id, a.branch_name
        ));
        for f in &a.file_scope {
            text.push_str(&format!("      - {f}\n"));
        }
    }
    Ok(Output::new("agents discover")
        .data(json!({"agents": agents}))
        .raw(text))
}
