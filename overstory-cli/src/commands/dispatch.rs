//! `ov dispatch --agent <name>` (hidden): deliver an agent's pending mail and
//! queued turns, one turn at a time, until nothing is pending. Started by
//! `ov mail send` and `ov nudge`; `--sweep` wakes every agent whose pending
//! work has no dispatcher (the backstop).

use overstory_core::AgentName;
use overstory_turn::dispatch::{self, DispatcherOptions, Launcher};
use overstory_turn::factory::TurnFactory;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Deliver pending mail and queued turns to a headless agent
#[derive(Debug, clap::Args)]
pub struct DispatchArgs {
    /// The agent to deliver to
    #[arg(long, required_unless_present = "sweep")]
    agent: Option<String>,
    /// Wake every agent with pending work and no dispatcher instead
    #[arg(long, conflicts_with = "agent")]
    sweep: bool,
}

/// Runs the dispatcher (or the sweep) and reports what it did.
pub fn run(ctx: &Context, args: DispatchArgs) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let ov = ctx.ov_exe()?;
    let factory = TurnFactory::new(layout, ctx.config()?, Some(ov.clone()));
    if args.sweep {
        let woken = dispatch::sweep(&factory, &Launcher { ov })?;
        let lines = woken
            .iter()
            .map(|(a, o)| Ok(format!("{a}: {}", crate::output::to_json(o)?)))
            .collect::<Result<Vec<String>, CliError>>()?;
        return Ok(Output::new("dispatch sweep")
            .field("woken", crate::output::to_json(&woken)?)
            .raw(if lines.is_empty() {
                "Nothing pending".to_owned()
            } else {
                lines.join("\n")
            }));
    }
    let agent = AgentName::new(args.agent.as_deref().unwrap_or_default())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("Failed to start the async runtime").caused_by(e))?;
    let opts = DispatcherOptions {
        launcher: ctx.ov_exe().ok().map(|ov| dispatch::Launcher { ov }),
        ..DispatcherOptions::default()
    };
    let report = runtime.block_on(dispatch::run_dispatcher(&factory, &agent, &opts))?;
    Ok(Output::new("dispatch").data_of(&report)?.raw(format!(
        "{agent}: {} turn(s), {} message(s) delivered, {} failure(s)",
        report.turns,
        report.delivered.len(),
        report.failures
    )))
}
