//! `ov coordinator ask`.

use std::time::Duration;

use overstory_fleet::persistent::{self, PersistentSpec};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Ask the agent a question and wait for its reply
#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// The question
    #[arg(long, value_name = "text")]
    body: String,
    /// Subject
    #[arg(long, value_name = "text", default_value = "operator request")]
    subject: String,
    /// Seconds to wait for the reply
    #[arg(long, value_name = "seconds", default_value_t = 120)]
    timeout: u64,
}

/// Asks and prints the reply.
pub fn run(
    ctx: &Context,
    spec: &PersistentSpec,
    name: &str,
    args: AskArgs,
) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let reply = persistent::ask(
        &layout,
        spec,
        &args.subject,
        &args.body,
        Duration::from_secs(args.timeout),
        &ctx.ov_exe()?,
    )?;
    Ok(Output::new(name).data_of(&reply)?.raw(reply.body.clone()))
}
