//! `ov prime`: print the session context for an agent or the orchestrator.

use overstory_fleet::prime::{PrimeOptions, prime};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Print the context a session loads at start
#[derive(Debug, clap::Args)]
pub struct PrimeArgs {
    /// Prime this agent (default: the orchestrator)
    #[arg(long)]
    pub agent: Option<String>,
    /// Context after compaction: recovery instead of activity and expertise
    #[arg(long)]
    pub compact: bool,
}

/// Runs `ov prime`.
pub fn run(ctx: &Context, args: PrimeArgs) -> Result<Output, CliError> {
    let root = ctx.root()?;
    let layout = overstory_core::Layout::new(&root);
    let config = ctx.config()?;
    let p = prime(
        &layout,
        &config,
        &PrimeOptions {
            agent: args.agent,
            compact: args.compact,
        },
    )?;
    let mut out = Output::new("prime").data_of(&p)?;
    for w in &p.warnings {
        out = out.warning(w.clone(), None);
    }
    Ok(out.raw(p.context))
}
