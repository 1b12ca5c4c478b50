//! `ov mail send`.

use overstory_mail::{Address, Delivery, SendRequest};
use overstory_turn::wake::send_and_wake;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output};

/// Send a message to an agent or a group address
///
/// Group addresses: @all, or a capability group such as @builders or
/// @scout (singular and plural are the same group). A group reaches every
/// active agent in it except the sender.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct SendArgs {
    /// Recipient agent name or group address
    #[arg(long, value_name = "agent")]
    to: String,
    /// Subject line (may be empty)
    #[arg(long, value_name = "text")]
    subject: String,
    /// Message body (may be empty)
    #[arg(long, value_name = "text")]
    body: String,
    /// Sender name (default: $OVERSTORY_AGENT_NAME, else orchestrator)
    #[arg(long, value_name = "name")]
    from: Option<String>,
    /// Alias for --from; wins when both are given
    #[arg(long, value_name = "name")]
    agent: Option<String>,
    /// Message type [default: status]
    #[arg(long = "type", value_name = "type")]
    kind: Option<String>,
    /// Priority: low, normal, high or urgent [default: normal]
    #[arg(long, value_name = "level")]
    priority: Option<String>,
    /// JSON payload, checked against the type's shape
    #[arg(long, value_name = "json")]
    payload: Option<String>,
}

/// Sends the message and renders what happened.
pub fn run(ctx: &Context, args: SendArgs) -> Result<Output, CliError> {
    let kind = super::parse_type(args.kind.as_deref().unwrap_or("status"))?;
    let priority = super::parse_priority(args.priority.as_deref().unwrap_or("normal"))?;
    if let Some(p) = &args.payload
        && serde_json::from_str::<serde_json::Value>(p).is_err()
    {
        return Err(CliError::validation("--payload must be valid JSON"));
    }
    let from = super::identity(args.agent, args.from)?;
    let to = Address::parse(&args.to)?;
    let mut req = SendRequest::new(from, to, args.subject, args.body)
        .kind(kind)
        .priority(priority);
    req.payload = args.payload;

    let waker = super::waker(ctx)?;
    let posted = send_and_wake(&mut super::open(ctx)?, &req, &waker)?;
    let out = render(&req, &posted.delivery);
    Ok(super::render_wakeups(out, &posted.wakeups))
}

fn render(req: &SendRequest, d: &Delivery) -> Output {
    if d.broadcast {
        let ids: Vec<&str> = d.sent.iter().map(|s| s.message.id.as_str()).collect();
        let mut out = Output::new("mail send")
            .data(json!({"messageIds": ids, "recipientCount": d.sent.len()}))
            .success(format!(
                "Broadcast sent to {} ({})",
                super::plural(d.sent.len(), "recipient"),
                req.to.as_str()
            ));
        let lines: Vec<String> = d
            .sent
            .iter()
            .map(|s| format!("   → {} ({})", s.message.to, s.message.id))
            .collect();
        out = out.raw(lines.join("\n"));
        return out;
    }
    let sent = &d.sent[0];
    let mut out = Output::new("mail send")
        .data(json!({"id": sent.message.id}))
        .success(format!("Sent message {}", sent.message.id));
    if d.unknown_recipient {
        out = out.warning(
            format!(
                "\"{}\" has no session and is not a role name",
                sent.message.to
            ),
            Some("check the spelling; the message was stored but may never be read".into()),
        );
    }
    if let Some(n) = &sent.nudge {
        out = out.hint(format!(
            "Queued nudge for \"{}\" ({}, delivered on next prompt)",
            sent.message.to, n.reason
        ));
    }
    if let Some(cov) = d.review_coverage {
        let from = &sent.message.from;
        if cov.is_unreviewed() {
            output::eprint_line(&format!(
                "Warning: merge_ready from \"{from}\" but NO reviewer sessions found for {} builder(s).\n  \
                 This breaks the review-before-merge requirement: spawn a reviewer for each builder,\n  \
                 or record why review was skipped (see REVIEW_SKIP in agents/lead.md).",
                cov.builders
            ));
        } else if cov.is_partial() {
            output::eprint_line(&format!(
                "Note: Only {} reviewer(s) for {} builder(s) spawned by \"{from}\".\n  \
                 Make sure every builder's work is review-verified before merging.",
                cov.reviewers, cov.builders
            ));
        }
    }
    out
}
