//! `ov scripted-agent` (hidden): the child process of the scripted runtime.
//! Plays one turn of a JSON script as a Claude-shaped stream-json agent.

use std::path::PathBuf;

use overstory_runtime::scripted::{self, Outcome};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Play one turn of an agent script (the scripted runtime's child process)
#[derive(Debug, clap::Args)]
pub struct ScriptedAgentArgs {
    /// The script (JSON); without it the agent echoes its input
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Resume this session id
    #[arg(long, value_name = "ID")]
    pub resume: Option<String>,
    /// Print mode: use PROMPT as the input and print only the final text
    #[arg(long, value_name = "PROMPT")]
    pub print: Option<String>,
}

/// Plays the turn; exits with the scripted code or aborts on a scripted crash.
pub fn run(ctx: &Context, args: ScriptedAgentArgs) -> Result<Output, CliError> {
    let ov = std::env::current_exe().unwrap_or_else(|_| "ov".into());
    let outcome = scripted::run_agent(
        args.script.as_deref(),
        args.resume,
        args.print.as_deref(),
        ctx.cwd(),
        &ov,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    )?;
    match outcome {
        Outcome::Exit(0) => Ok(Output::new("scripted-agent")),
        // A scripted exit code or crash is the point of this command: it
        // stands in for an agent process that fails.
        Outcome::Exit(code) => std::process::exit(code),
        Outcome::Crash => std::process::abort(),
    }
}
