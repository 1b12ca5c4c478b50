//! `ov scripted-agent` (hidden): the child process of the scripted runtime.
//! Plays one turn of a JSON script as a Claude-shaped stream-json agent.
//!
//! An agent with no script cannot start: it prints where to write one and
//! exits with [`SPAWN_FAILED`] (127), which the turn runner reads as "the
//! agent could not start" (an error event, a settled agent), not as a turn
//! to wait on.
//!
//! Mail steps are delivered as `ov mail send` delivers them, through
//! `overstory_turn::wake::WakingMailer` (stored, then headless recipients
//! woken), with no `ov` child process.

use std::path::PathBuf;
use std::sync::Arc;

use overstory_runtime::RuntimeError;
use overstory_runtime::scripted::{self, MailReport, MailStep, Outcome, ScriptMailer};
use overstory_turn::shim::SPAWN_FAILED;
use overstory_turn::wake::{Waker, WakingMailer};

use crate::context::Context;
use crate::error::CliError;
use crate::output::{Output, Style};

/// Play one turn of an agent script (the scripted runtime's child process)
#[derive(Debug, clap::Args)]
pub struct ScriptedAgentArgs {
    /// The script (JSON); without it the agent looks up its own by name
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
    let played = scripted::run_agent(
        args.script.as_deref(),
        args.resume,
        args.print.as_deref(),
        ctx.cwd(),
        mailer(ctx),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    );
    let outcome = match played {
        Ok(o) => o,
        Err(e @ RuntimeError::NoScript { .. }) => {
            // Not a failed turn: an agent that cannot start at all.
            CliError::from(e)
                .hint("Pass --script FILE, or set OVERSTORY_SCRIPTS_DIR to a directory of scripts")
                .print(false, "scripted-agent", Style::detect());
            std::process::exit(SPAWN_FAILED);
        }
        Err(e) => return Err(e.into()),
    };
    match outcome {
        Outcome::Exit(0) => Ok(Output::new("scripted-agent")),
        // A scripted exit code or crash is the point of this command: it
        // stands in for an agent process that fails.
        Outcome::Exit(code) => std::process::exit(code),
        Outcome::Crash => std::process::abort(),
    }
}

/// The mailer of the agent's project: mail steps go through
/// `send_and_wake`, as `ov mail send`'s do; without a project every mail
/// step fails with the reason.
fn mailer(ctx: &Context) -> Arc<dyn ScriptMailer> {
    match ctx.layout() {
        Ok(layout) => {
            let waker = match ctx.ov_exe() {
                Ok(ov) => Waker::new(layout, ov),
                Err(e) => Waker::without_ov(layout, e.message),
            };
            Arc::new(WakingMailer::new(waker))
        }
        Err(e) => Arc::new(NoProject(error_text(&e))),
    }
}

/// Fails every mail step: the agent runs outside an overstory project.
#[derive(Debug)]
struct NoProject(String);

impl ScriptMailer for NoProject {
    fn send(&self, _from: &str, _mail: &MailStep) -> MailReport {
        MailReport::failed(self.0.clone())
    }
}

/// Renders an error as the lines `ov` prints on stderr (without colour).
fn error_text(e: &CliError) -> String {
    let (head, details) = e.lines();
    std::iter::once(head)
        .chain(details)
        .collect::<Vec<_>>()
        .join("\n")
}
