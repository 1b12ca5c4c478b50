//! `ov nudge <agent> [message...]`: poke an agent.

use overstory_fleet::nudge::nudge_text;
use overstory_fleet::{NudgeOptions, nudge_agent};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Send a short message to an agent's session or turn queue
#[derive(Debug, clap::Args)]
pub struct NudgeArgs {
    /// The agent to nudge
    pub agent: String,
    /// The message (default: "Check your mail inbox for new messages.")
    pub message: Vec<String>,
    /// Who the nudge is from
    #[arg(long, default_value = "orchestrator")]
    pub from: String,
    /// Skip the 500 ms debounce
    #[arg(long)]
    pub force: bool,
}

/// Runs `ov nudge`; a nudge that is not delivered fails with its reason.
pub fn run(ctx: &Context, args: NudgeArgs) -> Result<Output, CliError> {
    let layout = ctx.layout()?;
    let config = ctx.config()?;
    let ov = ctx.ov_exe()?;
    let message = nudge_text(&args.from, &args.message.join(" "));
    let mut opts = NudgeOptions::new(ov);
    opts.force = args.force;
    opts.from = args.from;
    let r = nudge_agent(&layout, &config, &args.agent, &message, &opts)?;
    if !r.delivered {
        return Err(CliError::with_code(
            "AGENT_ERROR",
            format!("Nudge failed: {}", r.reason.unwrap_or_default()),
        ));
    }
    let data = crate::output::to_json(&r)?;
    let out = Output::new("nudge").data(data);
    Ok(if r.queued == Some(true) {
        out.success("Nudge queued (headless — will run as the agent's next turn)")
    } else {
        out.success("Nudge delivered")
    })
}
