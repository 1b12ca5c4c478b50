//! One module per command; this file holds the command enum and the one
//! dispatch `match`.

use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

mod agents;
mod completions;
mod config;
mod dispatch;
mod errors;
mod feed;
mod guard;
mod init;
mod log;
mod mail;
mod replay;
mod run;
mod scripted_agent;
mod status;
mod timeline;
mod trace;
pub mod turn_shim;

/// Every `ov` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Discover agents and what they own
    Agents(agents::AgentsArgs),
    /// Print a shell completion script
    Completions(completions::CompletionsArgs),
    /// Show the merged configuration
    Config(config::ConfigArgs),
    /// Initialize overstory in the current git repository
    Init(init::InitArgs),
    /// Show error events
    Errors(errors::ErrorsArgs),
    /// Show (and follow) recent events of all agents
    Feed(feed::FeedArgs),
    /// Record a hook event, or prune old events
    Log(log::LogArgs),
    /// Replay the events of a run or of agents
    Replay(replay::ReplayArgs),
    /// Show the current run, or list, show and complete runs
    Run(run::RunArgs),
    /// Show agents, worktrees, mail and the merge queue
    Status(status::StatusArgs),
    /// Show an agent's timeline
    Trace(trace::TraceArgs),
    /// Send and receive mail between agents
    Mail(mail::MailArgs),
    /// Decide a tool call for an agent (PreToolUse hook)
    #[command(hide = true)]
    Guard(guard::GuardArgs),
    /// Play one turn of an agent script (scripted runtime child)
    #[command(hide = true, name = "scripted-agent")]
    ScriptedAgent(scripted_agent::ScriptedAgentArgs),
    /// Deliver pending mail and queued turns to a headless agent
    #[command(hide = true)]
    Dispatch(dispatch::DispatchArgs),
    /// Run an agent process that dies with its runner
    #[command(hide = true, name = "turn-shim")]
    TurnShim(turn_shim::TurnShimArgs),
}

impl Command {
    /// Returns the `command` field used in this command's JSON envelopes.
    pub fn envelope_name(&self) -> String {
        match self {
            Command::Agents(_) => "agents discover".into(),
            Command::Completions(_) => "completions".into(),
            Command::Config(_) => "config".into(),
            Command::Init(_) => "init".into(),
            Command::Dispatch(_) => "dispatch".into(),
            Command::TurnShim(_) => "turn-shim".into(),
            Command::Errors(_) => "errors".into(),
            Command::Feed(_) => "feed".into(),
            Command::Log(a) if a.event == "prune" => "log prune".into(),
            Command::Log(_) => "log".into(),
            Command::Replay(_) => "replay".into(),
            Command::Run(a) => a.envelope_name().into(),
            Command::Status(_) => "status".into(),
            Command::Trace(_) => "trace".into(),
            // The original's mail errors use the program name (spec 02 §6).
            Command::Mail(_) => "ov".into(),
            Command::Guard(_) => "guard".into(),
            Command::ScriptedAgent(_) => "scripted-agent".into(),
        }
    }
}

/// Runs one command.
pub fn run(ctx: &Context, command: Command) -> Result<Output, CliError> {
    match command {
        Command::Agents(args) => agents::run(ctx, args),
        Command::Completions(args) => completions::run(ctx, args),
        Command::Config(args) => config::run(ctx, args),
        Command::Init(args) => init::run(ctx, args),
        Command::Dispatch(args) => dispatch::run(ctx, args),
        // Handled in cli.rs before a context exists: it exits with its
        // child's status and prints nothing.
        Command::TurnShim(_) => {
            Err(CliError::new("turn-shim runs before command dispatch").internal())
        }
        Command::Errors(args) => errors::run(ctx, args),
        Command::Feed(args) => feed::run(ctx, args),
        Command::Log(args) => log::run(ctx, args),
        Command::Replay(args) => replay::run(ctx, args),
        Command::Run(args) => run::run(ctx, args),
        Command::Status(args) => status::run(ctx, args),
        Command::Trace(args) => trace::run(ctx, args),
        Command::Mail(args) => mail::run(ctx, args),
        Command::Guard(args) => guard::run(ctx, args),
        Command::ScriptedAgent(args) => scripted_agent::run(ctx, args),
    }
}
