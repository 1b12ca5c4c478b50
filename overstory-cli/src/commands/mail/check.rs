//! `ov mail check`.

use overstory_mail::{CheckOptions, CheckOutcome, INJECT_LIMIT};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Read an agent's unread messages and mark them read
///
/// Each message is delivered by exactly one check, even when several run
/// at once. With --json, messages carry their state after the check
/// ("read": true).
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct CheckArgs {
    /// Inbox to check (default: $OVERSTORY_AGENT_NAME, else orchestrator)
    #[arg(long, value_name = "name")]
    agent: Option<String>,
    /// Print the hook injection format (takes precedence over --json)
    #[arg(long)]
    inject: bool,
    /// Skip the check if this agent was checked less than <ms> ago
    #[arg(long, value_name = "ms", allow_hyphen_values = true)]
    debounce: Option<String>,
}

/// Checks the inbox and renders the messages.
pub fn run(ctx: &Context, args: CheckArgs) -> Result<Output, CliError> {
    let debounce_ms = match &args.debounce {
        None => None,
        Some(v) => match super::parse_int_prefix(v) {
            Some(n) if n >= 0 => Some(n.unsigned_abs()),
            _ => {
                return Err(CliError::validation(format!(
                    "--debounce must be a non-negative integer (milliseconds), got: {v}"
                )));
            }
        },
    };
    let agent = super::identity(args.agent, None)?;
    let opts = CheckOptions {
        debounce_ms,
        take_marker: args.inject,
        limit: args.inject.then_some(INJECT_LIMIT),
    };
    let outcome = super::open(ctx)?.check_with(&agent, opts)?;

    if args.inject {
        let text = outcome.inject_text();
        let out = Output::new("mail check").text_only();
        return Ok(if text.is_empty() { out } else { out.raw(text) });
    }
    let CheckOutcome::Checked { messages, .. } = outcome else {
        // Debounced: silent, and still a success.
        return Ok(Output::new("mail check").text_only());
    };
    let mut out = Output::new("mail check").data(json!({ "messages": messages }));
    if messages.is_empty() {
        return Ok(out.hint("No new messages"));
    }
    let mut text = format!("{}:\n\n", super::plural(messages.len(), "new message"));
    for m in &messages {
        text.push_str(&super::message_block(ctx.style, m, true));
        text.push('\n');
    }
    out = out.raw(text.trim_end_matches('\n').to_owned() + "\n");
    Ok(out)
}
