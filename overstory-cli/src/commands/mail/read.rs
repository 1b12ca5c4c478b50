//! `ov mail read`.

use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Mark a message as read
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct ReadArgs {
    /// The message id (msg-…)
    #[arg(value_name = "message-id")]
    id: String,
}

/// Marks the message and says whether it already was read.
pub fn run(ctx: &Context, args: ReadArgs) -> Result<Output, CliError> {
    let already = super::open(ctx)?.read(&args.id)?;
    let out = Output::new("mail read").data(json!({ "id": args.id, "alreadyRead": already }));
    Ok(if already {
        out.hint(format!("Message {} was already read", args.id))
    } else {
        out.success(format!("Marked as read {}", args.id))
    })
}
