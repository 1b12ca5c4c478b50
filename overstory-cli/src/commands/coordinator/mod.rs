//! `ov coordinator start|stop|status|send|ask|output|check-complete` and
//! `ov orchestrator start|stop|status|send|ask|output`: persistent agents.
//!
//! Headless is the default: the agent's one long-lived process runs under a
//! detached agent host that writes its mail to its stdin. `--tmux` (or
//! `--no-headless`) runs it in a tmux session instead. The logic lives in
//! `overstory_fleet::persistent`; these files parse, call and
//! render.

use overstory_fleet::persistent::{COORDINATOR, ORCHESTRATOR, PersistentSpec};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

mod ask;
mod check_complete;
mod output;
mod send;
pub(crate) mod start;
pub(crate) mod status;
pub(crate) mod stop;

/// Run the persistent coordinator agent
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct CoordinatorArgs {
    #[command(subcommand)]
    command: CoordinatorCommand,
}

/// The `ov coordinator` subcommands.
#[derive(Debug, clap::Subcommand)]
enum CoordinatorCommand {
    /// Start the coordinator (headless under an agent host by default)
    Start(start::StartArgs),
    /// Stop the coordinator, its watchdog and monitor; complete its run
    Stop,
    /// Show whether the coordinator is running
    Status,
    /// Send the coordinator a dispatch mail and wake it
    Send(send::SendArgs),
    /// Ask the coordinator a question and wait for its reply
    Ask(ask::AskArgs),
    /// Show the coordinator's recent output
    Output(output::OutputArgs),
    /// Evaluate the coordinator's exit triggers
    #[command(name = "check-complete")]
    CheckComplete,
}

/// Run the persistent orchestrator agent (one coordinator per repository)
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct OrchestratorArgs {
    #[command(subcommand)]
    command: OrchestratorCommand,
}

/// The `ov orchestrator` subcommands.
#[derive(Debug, clap::Subcommand)]
enum OrchestratorCommand {
    /// Start the orchestrator (headless under an agent host by default)
    Start(start::StartArgs),
    /// Stop the orchestrator, its watchdog and monitor; complete its run
    Stop,
    /// Show whether the orchestrator is running
    Status,
    /// Send the orchestrator a dispatch mail and wake it
    Send(send::SendArgs),
    /// Ask the orchestrator a question and wait for its reply
    Ask(ask::AskArgs),
    /// Show the orchestrator's recent output
    Output(output::OutputArgs),
}

impl From<OrchestratorCommand> for CoordinatorCommand {
    fn from(c: OrchestratorCommand) -> Self {
        match c {
            OrchestratorCommand::Start(a) => Self::Start(a),
            OrchestratorCommand::Stop => Self::Stop,
            OrchestratorCommand::Status => Self::Status,
            OrchestratorCommand::Send(a) => Self::Send(a),
            OrchestratorCommand::Ask(a) => Self::Ask(a),
            OrchestratorCommand::Output(a) => Self::Output(a),
        }
    }
}

impl CoordinatorCommand {
    fn verb(&self) -> &'static str {
        match self {
            Self::Start(_) => "start",
            Self::Stop => "stop",
            Self::Status => "status",
            Self::Send(_) => "send",
            Self::Ask(_) => "ask",
            Self::Output(_) => "output",
            Self::CheckComplete => "check-complete",
        }
    }
}

impl CoordinatorArgs {
    /// The envelope name of this invocation (`coordinator start`).
    pub fn envelope_name(&self) -> String {
        format!("coordinator {}", self.command.verb())
    }
}

impl OrchestratorArgs {
    /// The envelope name of this invocation (`orchestrator start`).
    pub fn envelope_name(&self) -> String {
        format!(
            "orchestrator {}",
            match &self.command {
                OrchestratorCommand::Start(_) => "start",
                OrchestratorCommand::Stop => "stop",
                OrchestratorCommand::Status => "status",
                OrchestratorCommand::Send(_) => "send",
                OrchestratorCommand::Ask(_) => "ask",
                OrchestratorCommand::Output(_) => "output",
            }
        )
    }
}

/// Runs `ov coordinator`.
pub fn run(ctx: &Context, args: CoordinatorArgs) -> Result<Output, CliError> {
    dispatch(ctx, &COORDINATOR, args.command)
}

/// Runs `ov orchestrator`.
pub fn run_orchestrator(ctx: &Context, args: OrchestratorArgs) -> Result<Output, CliError> {
    dispatch(ctx, &ORCHESTRATOR, args.command.into())
}

fn dispatch(
    ctx: &Context,
    spec: &PersistentSpec,
    command: CoordinatorCommand,
) -> Result<Output, CliError> {
    let name = format!("{} {}", spec.command_name, command.verb());
    match command {
        CoordinatorCommand::Start(a) => start::run(ctx, spec, &name, a),
        CoordinatorCommand::Stop => stop::run(ctx, spec, &name),
        CoordinatorCommand::Status => status::run(ctx, spec, &name),
        CoordinatorCommand::Send(a) => send::run(ctx, spec, &name, a),
        CoordinatorCommand::Ask(a) => ask::run(ctx, spec, &name, a),
        CoordinatorCommand::Output(a) => output::run(ctx, spec, &name, a),
        CoordinatorCommand::CheckComplete => check_complete::run(ctx, &name),
    }
}
