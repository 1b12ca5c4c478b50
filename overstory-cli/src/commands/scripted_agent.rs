//! `ov scripted-agent` (hidden): the child process of the scripted runtime.
//! Plays one turn of a JSON script as a Claude-shaped stream-json agent.
//!
//! Mail steps are delivered here as `ov mail send` delivers them, through
//! `overstory_turn::wake::send_and_wake` (stored, then headless recipients
//! woken), with no `ov` child process.

use std::path::PathBuf;
use std::sync::Arc;

use overstory_core::{AgentName, Layout};
use overstory_mail::{Address, MailClient, SendRequest};
use overstory_runtime::scripted::{self, MailReport, MailStep, Outcome, ScriptMailer};
use overstory_turn::dispatch::WakeOutcome;
use overstory_turn::wake::{Waker, send_and_wake};

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
    let outcome = scripted::run_agent(
        args.script.as_deref(),
        args.resume,
        args.print.as_deref(),
        ctx.cwd(),
        Arc::new(LibraryMailer::new(ctx)),
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

/// Delivers scripted mail in the agent's project, as `ov mail send` does.
#[derive(Debug)]
struct LibraryMailer {
    /// The project, or why there is none (every mail step then fails).
    layout: Result<Layout, String>,
    /// The running `ov`, which starts the dispatchers that wake recipients.
    ov: Option<PathBuf>,
}

impl LibraryMailer {
    fn new(ctx: &Context) -> Self {
        Self {
            layout: ctx.layout().map_err(|e| error_text(&e)),
            ov: ctx.ov_exe().ok(),
        }
    }

    /// Stores the mail, wakes its headless recipients, and returns the
    /// lines `ov mail send` would have printed.
    fn deliver(&self, layout: &Layout, from: &str, mail: &MailStep) -> Result<String, CliError> {
        // The same parsing (and messages) as `ov mail send --type --priority`.
        let kind = super::mail::parse_type(mail.kind.as_deref().unwrap_or("status"))?;
        let priority = super::mail::parse_priority(mail.priority.as_deref().unwrap_or("normal"))?;
        let mut req = SendRequest::new(
            AgentName::new(from)?,
            Address::parse(&mail.to)?,
            mail.subject.clone(),
            mail.body.clone(),
        )
        .kind(kind)
        .priority(priority);
        req.payload = mail.payload.as_ref().map(ToString::to_string);

        let waker = match &self.ov {
            Some(ov) => Waker::new(layout.clone(), ov),
            None => Waker::without_ov(layout.clone(), "Cannot find the running ov executable"),
        };
        let posted = send_and_wake(&mut MailClient::open(layout)?, &req, &waker)?;
        let mut lines: Vec<String> = posted
            .delivery
            .sent
            .iter()
            .map(|s| format!("Sent message {} to {}", s.message.id, s.message.to))
            .collect();
        lines.extend(posted.wakeups.into_iter().filter_map(|w| match w.outcome {
            WakeOutcome::Started { pid } => Some(format!(
                "Started a turn for \"{}\" (dispatcher pid {pid})",
                w.agent
            )),
            WakeOutcome::Failed { reason } => Some(format!(
                "The mail to \"{}\" is stored, but no turn was started: {reason}",
                w.agent
            )),
            WakeOutcome::AlreadyRunning
            | WakeOutcome::Poked { .. }
            | WakeOutcome::NotEligible { .. } => None,
        }));
        Ok(lines.join("\n"))
    }
}

impl ScriptMailer for LibraryMailer {
    fn send(&self, from: &str, mail: &MailStep) -> MailReport {
        let layout = match &self.layout {
            Ok(layout) => layout,
            Err(text) => return MailReport::failed(text.clone()),
        };
        match self.deliver(layout, from, mail) {
            Ok(text) => MailReport::delivered(text),
            Err(e) => MailReport::failed(error_text(&e)),
        }
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
