//! `ov completions <shell>`: completion scripts generated from the real
//! command definitions, so they never drift from the flags.

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Print a shell completion script (bash, zsh or fish)
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh or fish (case-insensitive)
    pub shell: String,
}

/// Generates the script for the requested shell.
pub fn run(_ctx: &Context, args: CompletionsArgs) -> Result<Output, CliError> {
    let shell = match args.shell.to_ascii_lowercase().as_str() {
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        _ => {
            return Err(
                CliError::validation(format!("unknown shell '{}'", args.shell))
                    .hint("Supported shells: bash, zsh, fish"),
            );
        }
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ov", &mut buf);
    let script = String::from_utf8_lossy(&buf).into_owned();
    Ok(Output::new("completions")
        .field("shell", shell.to_string())
        .field("script", script.clone())
        .raw(script))
}
