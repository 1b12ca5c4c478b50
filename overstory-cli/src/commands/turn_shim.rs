//! `ov turn-shim --parent-pid <pid> -- <argv…>` (hidden): run one turn's
//! agent under the guard that kills its process group when the runner dies.

use std::ffi::OsString;

/// Run an agent process that dies with its runner
#[derive(Debug, clap::Args)]
pub struct TurnShimArgs {
    /// The runner's pid, as the runner saw it
    #[arg(long)]
    pub parent_pid: i32,
    /// The agent's program and arguments
    #[arg(last = true, required = true)]
    pub argv: Vec<OsString>,
}

/// Runs the agent and returns the exit code to exit with.
pub fn run(args: &TurnShimArgs) -> i32 {
    overstory_turn::shim::run(args.parent_pid, &args.argv)
}
