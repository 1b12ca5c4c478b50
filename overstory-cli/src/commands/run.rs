//! `ov run`: the current run, and `run list|show|complete`.

use overstory_sessions::{CurrentRun, observe};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Show the current run, or list, show and complete runs
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(subcommand)]
    /// The run command (default: show the current run).
    pub command: Option<RunCommand>,
}

/// `ov run` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RunCommand {
    /// List recent runs, newest first
    List {
        /// Show the newest N runs (default 10)
        #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
        last: i64,
    },
    /// Show a run and its agents
    Show {
        /// The run id
        id: String,
    },
    /// Complete the current run
    Complete,
}

impl RunArgs {
    /// The envelope name of this invocation.
    pub fn envelope_name(&self) -> &'static str {
        match self.command {
            None => "run",
            Some(RunCommand::List { .. }) => "run list",
            Some(RunCommand::Show { .. }) => "run show",
            Some(RunCommand::Complete) => "run complete",
        }
    }
}

/// Runs `ov run`.
pub fn run(ctx: &Context, args: RunArgs) -> Result<Output, CliError> {
    let name = args.envelope_name();
    let layout = ctx.layout()?;
    match args.command {
        None => Ok(match overstory_sessions::current_run(&layout)? {
            CurrentRun::None => Output::new(name)
                .data(json!({"run": null, "message": "No active run"}))
                .raw("No active run"),
            CurrentRun::Missing(id) => {
                let msg = format!("Run {id} not found in store");
                Output::new(name)
                    .data(json!({"run": null, "message": msg}))
                    .raw(msg)
            }
            CurrentRun::Found(r) => {
                let text = format!(
                    "Run: {}\nStatus: {}\nAgents: {}\nDuration: {}",
                    r.run.id,
                    r.run.status.as_str(),
                    r.run.agent_count,
                    r.duration
                );
                Output::new(name)
                    .data(json!({"run": r.run, "duration": r.duration}))
                    .raw(text)
            }
        }),
        Some(RunCommand::List { last }) => {
            let last = observe::check_min("last", last, 1)?;
            let runs = overstory_sessions::list_runs(&layout, last)?;
            let mut text = String::new();
            if runs.is_empty() {
                text.push_str("No runs recorded");
            }
            for r in &runs {
                text.push_str(&format!(
                    "{} {:<9} {:>3} agents {}\n",
                    r.run.id,
                    r.run.status.as_str(),
                    r.run.agent_count,
                    r.duration
                ));
            }
            Ok(Output::new(name).data(json!({"runs": runs})).raw(text))
        }
        Some(RunCommand::Show { id }) => {
            let (run, agents) = overstory_sessions::show_run(&layout, &id)?;
            let mut text = format!(
                "Run: {}\nStatus: {}\nDuration: {}\nAgents: {}\n",
                run.run.id,
                run.run.status.as_str(),
                run.duration,
                agents.len()
            );
            for a in &agents {
                text.push_str(&format!(
                    "  {} [{}] {}\n",
                    a.agent_name, a.capability, a.state
                ));
            }
            Ok(Output::new(name)
                .data(json!({"run": run.run, "duration": run.duration, "agents": agents}))
                .raw(text))
        }
        Some(RunCommand::Complete) => {
            let id = overstory_sessions::complete_current_run(&layout)?;
            Ok(Output::new(name)
                .data(json!({"runId": id, "status": "completed"}))
                .success(format!("Run {id} completed")))
        }
    }
}
