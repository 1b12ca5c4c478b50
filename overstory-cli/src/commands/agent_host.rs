//! `ov agent-host --agent <name>` (hidden): keep a persistent agent's one
//! long-lived process and feed it its mail. Started detached by `ov
//! coordinator start`; stopped with SIGTERM (`ov coordinator stop`, `ov
//! stop`). See `overstory_turn::host`.

use overstory_core::AgentName;
use overstory_turn::factory::TurnFactory;
use overstory_turn::host::{self, HostOptions};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Host a persistent agent's long-lived process
#[derive(Debug, clap::Args)]
pub struct AgentHostArgs {
    /// The persistent agent to host
    #[arg(long)]
    agent: String,
}

/// Runs the host until its agent is stopped or dies, then reports.
pub fn run(ctx: &Context, args: AgentHostArgs) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let agent = AgentName::new(&args.agent)?;
    let ov = ctx.ov_exe()?;
    let factory = TurnFactory::new(layout, ctx.config()?, Some(ov));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("Failed to start the async runtime").caused_by(e))?;
    let opts = HostOptions {
        stop_on_sigterm: true,
        ..HostOptions::default()
    };
    let report = runtime.block_on(host::run_host(&factory, &agent, &opts))?;
    Ok(Output::new("agent-host").data_of(&report)?.raw(format!(
        "{agent}: {} turn(s), {} message(s) delivered, ended {:?} as {}",
        report.turns,
        report.delivered.len(),
        report.end,
        report.final_state
    )))
}
