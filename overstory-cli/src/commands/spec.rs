//! `ov spec write`: write a task specification.

use std::io::{IsTerminal as _, Read as _};

use overstory_fleet::spec::write_spec;
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Write task specifications
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct SpecArgs {
    #[command(subcommand)]
    command: SpecCommand,
}

/// The `ov spec` subcommands.
#[derive(Debug, clap::Subcommand)]
enum SpecCommand {
    /// Write .overstory/specs/<task-id>.md (body from --body or stdin)
    Write {
        /// The task id
        task_id: String,
        /// The spec text (default: read stdin when it is not a terminal)
        #[arg(long)]
        body: Option<String>,
        /// Record this agent as the author
        #[arg(long)]
        agent: Option<String>,
    },
}

/// Runs `ov spec`.
pub fn run(ctx: &Context, args: SpecArgs) -> Result<Output, CliError> {
    let SpecCommand::Write {
        task_id,
        body,
        agent,
    } = args.command;
    let root = ctx.root()?;
    let layout = overstory_core::Layout::new(root);
    let body = match body {
        Some(b) => b,
        None if !std::io::stdin().is_terminal() => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::new("Failed to read the spec from stdin").caused_by(e))?;
            s
        }
        None => String::new(),
    };
    let path = write_spec(&layout, &task_id, &body, agent.as_deref())?;
    let shown = path.display().to_string();
    Ok(Output::new("spec-write")
        .data(json!({ "taskId": task_id.trim(), "path": shown }))
        .success(format!("Spec written: {shown}")))
}
