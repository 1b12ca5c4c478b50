//! `ov guard <capability>` (hidden): the PreToolUse hook deployed into
//! `.claude/settings.local.json`. Reads Claude Code's hook JSON on stdin and
//! prints a denial (`hookSpecificOutput.permissionDecision: "deny"`) or
//! nothing to allow.

use std::io::Read as _;

use overstory_runtime::guard;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Decide a tool call for an agent (PreToolUse hook; reads JSON on stdin)
#[derive(Debug, clap::Args)]
pub struct GuardArgs {
    /// The agent's capability (scout, builder, ...)
    pub capability: String,
    /// A quality-gate command read-only agents may run (repeatable)
    #[arg(long = "gate", value_name = "COMMAND")]
    pub gates: Vec<String>,
    /// Print the legacy {"decision":"block"} form for old Claude Code releases
    #[arg(long)]
    pub legacy: bool,
}

/// Reads the hook input and prints the decision.
pub fn run(ctx: &Context, args: GuardArgs) -> Result<Output, CliError> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| CliError::new("Failed to read the hook input from stdin").caused_by(e))?;
    let root = ctx.root().ok();
    let gctx = guard::context_from_env(&args.capability, args.gates, ctx.cwd());
    let decision = guard::decide_hook(&gctx, &input, root.as_deref());
    let rendered = if args.legacy {
        decision.legacy_output()
    } else {
        decision.hook_output()
    };
    let out = Output::new("guard");
    Ok(match rendered {
        Some(v) => out.raw(v.to_string()).bare_json(v),
        None => out.bare_json(serde_json::json!({})),
    })
}
