//! `ov coordinator send`.

use overstory_fleet::persistent::{self, PersistentSpec};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Send the agent a dispatch mail and wake it
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Message body
    #[arg(long, value_name = "text")]
    body: String,
    /// Subject
    #[arg(long, value_name = "text", default_value = "operator dispatch")]
    subject: String,
}

/// Sends the mail and reports its id.
pub fn run(
    ctx: &Context,
    spec: &PersistentSpec,
    name: &str,
    args: SendArgs,
) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let sent = persistent::send(&layout, spec, &args.subject, &args.body, &ctx.ov_exe()?)?;
    Ok(Output::new(name)
        .data_of(&sent)?
        .success(format!("Sent {} to {}", sent.id, spec.agent_name)))
}
