//! `ov mail list`.

use overstory_mail::ListFilter;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// List messages, newest first, without marking them read
///
/// Without filters the listing is system-wide. A stored message that
/// cannot be read (written badly by another program) is left out and
/// named in a warning on stderr; the command still succeeds.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct ListArgs {
    /// Only messages from this sender
    #[arg(long, value_name = "name", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    from: Option<String>,
    /// Only messages to this recipient
    #[arg(long, value_name = "name", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    to: Option<String>,
    /// Alias for --to (--to wins)
    #[arg(long, value_name = "name", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    agent: Option<String>,
    /// Only unread messages
    #[arg(long)]
    unread: bool,
    /// Only messages of this type
    #[arg(long = "type", value_name = "type")]
    kind: Option<String>,
    /// Show at most this many (the newest)
    #[arg(long, value_name = "n")]
    limit: Option<usize>,
    /// Print only the number of matching messages
    #[arg(long)]
    count: bool,
}

/// Lists the messages and renders them.
pub fn run(ctx: &Context, args: ListArgs) -> Result<Output, CliError> {
    let kind = args.kind.as_deref().map(super::parse_type).transpose()?;
    let filter = ListFilter {
        from: args.from,
        to: args.to.or(args.agent),
        unread: args.unread.then_some(true),
        kind,
        limit: args.limit,
    };
    let client = super::open(ctx)?;
    if args.count {
        let n = client.count(&filter)?;
        let n = args.limit.map_or(n, |l| n.min(l));
        return Ok(Output::new("mail list")
            .data(json!({ "count": n }))
            .raw(n.to_string()));
    }
    let batch = client.list_batch(&filter)?;
    super::warn_undecodable(ctx.style, &batch.undecodable, "is not listed");
    let messages = batch.messages;
    let out = Output::new("mail list").data(json!({ "messages": messages }));
    if messages.is_empty() {
        return Ok(out.hint("No messages found"));
    }
    let mut text = String::new();
    for m in &messages {
        text.push_str(&super::message_block(ctx.style, m, !m.read));
        text.push('\n');
    }
    text.push_str(&format!(
        "Total: {}",
        super::plural(messages.len(), "message")
    ));
    Ok(out.raw(text))
}
