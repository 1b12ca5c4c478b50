//! `ov mail check`.

use overstory_core::AgentName;
use overstory_mail::{CheckOptions, CheckOutcome, INJECT_LIMIT, MailClient, nudge};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{Output, WriteError};

/// Read an agent's unread messages and mark them read
///
/// Each message is delivered by exactly one check, even when several run
/// at once. With --json, messages carry their state after the check
/// ("read": true). A message counts as delivered only once it was written:
/// when stdout cannot be written (a full disk, a closed pipe) the check
/// exits 1 and leaves the messages unread for the next check. A stored
/// message that cannot be read (written badly by another program) is left
/// unread and named in a warning on stderr; the others are delivered.
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

/// Checks the inbox and writes the messages; on a failed write, puts them
/// back.
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
    let client = super::open(ctx)?;
    let outcome = client.check_with(&agent, opts)?;
    super::warn_undecodable(ctx.style, outcome.undecodable(), "was left unread");
    // Written here, not by the caller: the claim is undone if it fails.
    match render(ctx, &outcome, args.inject).print(ctx.json, ctx.quiet, ctx.style) {
        Ok(()) => Ok(Output::silent("mail check")),
        Err(e) => Err(put_back(&client, &agent, &outcome, e)),
    }
}

fn render(ctx: &Context, outcome: &CheckOutcome, inject: bool) -> Output {
    if inject {
        let text = outcome.inject_text();
        let out = Output::new("mail check").text_only();
        return if text.is_empty() { out } else { out.raw(text) };
    }
    let CheckOutcome::Checked { messages, .. } = outcome else {
        // Debounced: silent, and still a success.
        return Output::new("mail check").text_only();
    };
    let out = Output::new("mail check").data(json!({ "messages": messages }));
    if messages.is_empty() {
        return out.hint("No new messages");
    }
    let mut text = format!("{}:\n\n", super::plural(messages.len(), "new message"));
    for m in messages {
        text.push_str(&super::message_block(ctx.style, m, true));
        text.push('\n');
    }
    out.raw(text.trim_end_matches('\n').to_owned() + "\n")
}

/// Undoes a check whose output was not written: the claimed messages go
/// back to unread and a consumed nudge marker is restored.
fn put_back(
    client: &MailClient,
    agent: &AgentName,
    outcome: &CheckOutcome,
    failure: WriteError,
) -> CliError {
    let ids = outcome.ids();
    let mut err = CliError::from(failure);
    if let CheckOutcome::Checked {
        marker: Some(marker),
        ..
    } = outcome
        && let Err(e) = nudge::write_marker(client.layout(), agent, marker)
    {
        err = err.caused_by(e);
    }
    if ids.is_empty() {
        return err;
    }
    match client.unclaim(&ids) {
        Ok(_) => {
            err.message = format!(
                "Could not write the output to stdout, so {} left unread",
                if ids.len() == 1 {
                    "the message was".to_owned()
                } else {
                    format!("the {} messages were", ids.len())
                }
            );
            err.hints.clear();
            err.hint(format!(
                "Run 'ov mail check --agent {agent}' again once stdout can be written (a full disk, or a reader that closed the pipe)"
            ))
        }
        Err(e) => {
            err.message = format!(
                "Could not write the output to stdout, and {} could not be put back: {}",
                super::plural(ids.len(), "claimed message"),
                ids.join(", ")
            );
            err.caused_by(e).hint(format!(
                "They are marked read but were not delivered; read them with 'ov mail list --to {agent}'"
            ))
        }
    }
}
