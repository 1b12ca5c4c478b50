//! `ov mail purge`.

use overstory_mail::PurgeFilter;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Delete messages: all, older than some days, or to/from an agent
///
/// --days and --agent combine (both must match); --all overrides them.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct PurgeArgs {
    /// Delete every message
    #[arg(long)]
    all: bool,
    /// Delete messages older than this many days
    #[arg(long, value_name = "n", allow_hyphen_values = true)]
    days: Option<String>,
    /// Delete messages sent or received by this agent
    #[arg(long, value_name = "name")]
    agent: Option<String>,
}

/// Deletes the selected messages and renders the count.
pub fn run(ctx: &Context, args: PurgeArgs) -> Result<Output, CliError> {
    if !args.all && args.days.is_none() && args.agent.is_none() {
        return Err(CliError::validation(
            "mail purge requires at least one filter: --all, --days <n>, or --agent <name>",
        ));
    }
    let older_than_ms = match &args.days {
        None => None,
        Some(v) => match super::parse_int_prefix(v) {
            Some(d) if d > 0 => Some(d.saturating_mul(86_400_000)),
            _ => return Err(CliError::validation("--days must be a positive integer")),
        },
    };
    let filter = PurgeFilter {
        all: args.all,
        older_than_ms,
        agent: args.agent,
        ..PurgeFilter::default()
    };
    let purged = super::open(ctx)?.purge(&filter)?;
    Ok(Output::new("mail purge")
        .data(json!({ "purged": purged }))
        .success(format!("Purged {purged} message(s)")))
}
