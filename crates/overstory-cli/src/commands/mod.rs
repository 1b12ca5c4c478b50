//! One module per command; this file holds the command enum and the one
//! dispatch `match`.

use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

mod completions;
mod config;
mod guard;
mod init;
mod scripted_agent;

/// Every `ov` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script
    Completions(completions::CompletionsArgs),
    /// Show the merged configuration
    Config(config::ConfigArgs),
    /// Initialize overstory in the current git repository
    Init(init::InitArgs),
    /// Decide a tool call for an agent (PreToolUse hook)
    #[command(hide = true)]
    Guard(guard::GuardArgs),
    /// Play one turn of an agent script (scripted runtime child)
    #[command(hide = true, name = "scripted-agent")]
    ScriptedAgent(scripted_agent::ScriptedAgentArgs),
}

impl Command {
    /// Returns the `command` field used in this command's JSON envelopes.
    pub fn envelope_name(&self) -> String {
        match self {
            Command::Completions(_) => "completions".into(),
            Command::Config(_) => "config".into(),
            Command::Init(_) => "init".into(),
            Command::Guard(_) => "guard".into(),
            Command::ScriptedAgent(_) => "scripted-agent".into(),
        }
    }
}

/// Runs one command.
pub fn run(ctx: &Context, command: Command) -> Result<Output, CliError> {
    match command {
        Command::Completions(args) => completions::run(ctx, args),
        Command::Config(args) => config::run(ctx, args),
        Command::Init(args) => init::run(ctx, args),
        Command::Guard(args) => guard::run(ctx, args),
        Command::ScriptedAgent(args) => scripted_agent::run(ctx, args),
    }
}
