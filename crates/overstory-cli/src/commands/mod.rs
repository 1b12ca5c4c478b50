//! One module per command; this file holds the command enum and the one
//! dispatch `match`.

use clap::Subcommand;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

mod completions;
mod mail;

/// Every `ov` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script
    Completions(completions::CompletionsArgs),
    /// Send and receive mail between agents
    Mail(mail::MailArgs),
}

impl Command {
    /// Returns the `command` field used in this command's JSON envelopes.
    pub fn envelope_name(&self) -> String {
        match self {
            Command::Completions(_) => "completions".into(),
            // The original's mail errors use the program name (spec 02 §6).
            Command::Mail(_) => "ov".into(),
        }
    }
}

/// Runs one command.
pub fn run(ctx: &Context, command: Command) -> Result<Output, CliError> {
    match command {
        Command::Completions(args) => completions::run(ctx, args),
        Command::Mail(args) => mail::run(ctx, args),
    }
}
