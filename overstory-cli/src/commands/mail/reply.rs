//! `ov mail reply`.

use overstory_mail::ReplyRequest;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;
use overstory_turn::wake::reply_and_wake;

/// Reply to a message in its thread
///
/// The reply goes to the original sender (or, when the original sender
/// replies, to the original recipient), with subject "Re: <subject>" and the
/// original's priority. Its type is --type, else the original's when that is
/// status, question or error, else status: a reply never repeats a
/// protocol or completion type such as worker_done.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct ReplyArgs {
    /// The message id to reply to
    #[arg(value_name = "message-id")]
    id: String,
    /// Reply body
    #[arg(long, value_name = "text")]
    body: String,
    /// Sender name (default: $OVERSTORY_AGENT_NAME, else orchestrator)
    #[arg(long, value_name = "name")]
    from: Option<String>,
    /// Alias for --from; wins when both are given
    #[arg(long, value_name = "name")]
    agent: Option<String>,
    /// Reply type (a semantic type: status, question, result or error)
    #[arg(long = "type", value_name = "type")]
    kind: Option<String>,
}

/// Stores the reply and renders its id.
pub fn run(ctx: &Context, args: ReplyArgs) -> Result<Output, CliError> {
    let kind = args.kind.as_deref().map(super::parse_type).transpose()?;
    let req = ReplyRequest {
        id: args.id,
        body: args.body,
        from: super::identity(args.agent, args.from)?,
        kind,
    };
    let waker = super::waker(ctx)?;
    let (sent, wakeups) = reply_and_wake(&super::open(ctx)?, &req, &waker)?;
    let mut out = Output::new("mail reply")
        .data(json!({ "id": sent.message.id }))
        .success(format!("Reply sent {}", sent.message.id));
    if let Some(n) = &sent.nudge {
        out = out.hint(format!(
            "Queued nudge for \"{}\" ({}, delivered on next prompt)",
            sent.message.to, n.reason
        ));
    }
    Ok(super::render_wakeups(out, &wakeups))
}
