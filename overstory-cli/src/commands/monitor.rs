//! `ov monitor start|stop|status`: the tier-2 monitor, a persistent agent
//! that patrols the fleet (needs `watchdog.tier2Enabled`).
//!
//! It is hosted like the coordinator (headless under an agent host by
//! default, `--tmux` for a tmux session) and shares its start, stop and
//! status code; `overstory_fleet::persistent::MONITOR` says what differs (no
//! run of its own, no companions).

use overstory_fleet::persistent::MONITOR;

use crate::commands::coordinator::{start, status, stop};
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Run the tier-2 monitor agent that patrols the fleet
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct MonitorArgs {
    #[command(subcommand)]
    command: MonitorCommand,
}

/// The `ov monitor` subcommands.
#[derive(Debug, clap::Subcommand)]
enum MonitorCommand {
    /// Start the monitor (needs watchdog.tier2Enabled; headless by default)
    Start(start::AgentStartArgs),
    /// Stop the monitor and mark it completed
    Stop,
    /// Show whether the monitor is running
    Status,
}

impl MonitorArgs {
    /// The envelope name of this invocation (`monitor start`).
    pub fn envelope_name(&self) -> String {
        format!("monitor {}", self.verb())
    }

    fn verb(&self) -> &'static str {
        match self.command {
            MonitorCommand::Start(_) => "start",
            MonitorCommand::Stop => "stop",
            MonitorCommand::Status => "status",
        }
    }
}

/// Runs `ov monitor`.
pub fn run(ctx: &Context, args: MonitorArgs) -> Result<Output, CliError> {
    let name = args.envelope_name();
    match args.command {
        MonitorCommand::Start(a) => start::run_agent(ctx, &MONITOR, &name, a, false, false),
        MonitorCommand::Stop => stop::run(ctx, &MONITOR, &name),
        MonitorCommand::Status => status::run(ctx, &MONITOR, &name),
    }
}
