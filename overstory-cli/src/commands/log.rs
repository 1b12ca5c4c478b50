//! `ov log <event>`: the hook target (tool-start, tool-end, session-end),
//! and `ov log prune` for events.db retention.

use std::io::Read as _;

use overstory_core::AgentName;
use overstory_core::events::EventPurge;
use overstory_sessions::hook_events::{self, HookEvent, HookPayload, HookRequest};
use overstory_sessions::observe;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Record a hook event, or prune old events
///
/// Hooks call `ov log tool-start|tool-end|session-end --agent <name> --stdin`.
/// `ov log prune --older-than 7d` deletes old events (and token snapshots)
/// so events.db cannot grow forever.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// tool-start, tool-end, session-end, or prune
    pub event: String,
    /// The agent the hook runs for (required for hook events; with prune: only its events)
    #[arg(long)]
    pub agent: Option<String>,
    /// Read the hook's JSON payload from stdin
    #[arg(long)]
    pub stdin: bool,
    /// The tool name when there is no payload (default unknown)
    #[arg(long = "tool-name")]
    pub tool_name: Option<String>,
    /// The transcript path when there is no payload
    #[arg(long)]
    pub transcript: Option<String>,
    /// With prune: delete events older than this age (e.g. 7d, 12h, 30m)
    #[arg(long = "older-than")]
    pub older_than: Option<String>,
    /// With prune: delete every event
    #[arg(long)]
    pub all: bool,
}

/// Runs `ov log`.
pub fn run(ctx: &Context, args: LogArgs) -> Result<Output, CliError> {
    if args.event == "prune" {
        return prune(ctx, args);
    }
    let event: HookEvent = args.event.parse()?;
    let agent = args
        .agent
        .as_deref()
        .ok_or_else(|| CliError::validation("--agent is required for log command"))?;
    let agent = AgentName::new(agent)?;
    let payload = if args.stdin {
        let mut text = String::new();
        let _ = std::io::stdin().read_to_string(&mut text);
        HookPayload::parse(&text)
    } else {
        None
    };
    let layout = ctx.layout()?;
    let report = hook_events::record_hook(
        &layout,
        &HookRequest {
            event,
            agent: agent.clone(),
            tool_name: args.tool_name,
            transcript: args.transcript,
            payload,
        },
    );
    let mut data = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
    data["event"] = json!(event.as_str());
    data["agentName"] = json!(agent.as_str());
    let mut out = Output::new("log");
    // A hook never fails the agent's session: a profile that cannot be
    // updated is a warning.
    if event == HookEvent::SessionEnd
        && let Err(e) = overstory_fleet::profile::record_session_end(&layout, &agent)
    {
        out = out.warning(
            format!("The session ended, but the agent's identity was not updated: {e}"),
            None,
        );
    }
    Ok(out.data(data))
}

fn prune(ctx: &Context, args: LogArgs) -> Result<Output, CliError> {
    let older_than_ms = args
        .older_than
        .as_deref()
        .map(|v| observe::parse_age("older-than", v))
        .transpose()?;
    if !args.all && older_than_ms.is_none() && args.agent.is_none() {
        return Err(CliError::validation(
            "ov log prune needs --older-than <age>, --agent <name> or --all",
        )
        .hint("Example: ov log prune --older-than 7d"));
    }
    let layout = ctx.layout()?;
    let report = observe::prune(
        &layout,
        &EventPurge {
            all: args.all,
            older_than_ms,
            agent_name: args.agent,
        },
    )?;
    Ok(Output::new("log prune")
        .data(json!({"deleted": report}))
        .success(format!(
            "Pruned {} event(s) and {} token snapshot(s)",
            report.events, report.snapshots
        )))
}
