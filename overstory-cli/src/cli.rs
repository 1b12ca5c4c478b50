//! The root of the command line: global flags, parsing, dispatch, exit codes.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory as _, FromArgMatches as _, Parser};

use crate::commands::{self, Command};
use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Style};

/// Turn one coding session into a team of AI coding agents
#[derive(Debug, Parser)]
#[command(
    name = "ov",
    bin_name = "ov",
    disable_version_flag = true,
    disable_help_subcommand = true,
    after_help = "Run 'ov <command> --help' for a command's flags. Docs: README.md"
)]
pub struct Cli {
    /// Print the version (with --json: a JSON object)
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Hide success, warning and hint lines
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Print how long the command took to stderr
    #[arg(long, global = true)]
    pub timing: bool,

    /// Show more detail (and error causes for unexpected errors)
    #[arg(long, global = true)]
    pub verbose: bool,

    /// Use the project at PATH instead of discovering it from the current directory
    #[arg(long, global = true, value_name = "PATH")]
    pub project: Option<PathBuf>,

    #[command(subcommand)]
    /// The command to run; `None` (no command given) prints help to stderr and exits 1.
    pub command: Option<Command>,
}

/// Runs `ov` with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    run(std::env::args_os().collect())
}

/// Runs `ov` with `args` (the first is the program name).
pub fn run(args: Vec<OsString>) -> ExitCode {
    let started = Instant::now();
    let style = Style::detect();
    let json_anywhere = args.iter().skip(1).any(|a| a == "--json");

    let cli = match Cli::command().try_get_matches_from(&args) {
        Ok(matches) => match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => return usage_error(&e, json_anywhere, style),
        },
        Err(e) => return usage_error(&e, json_anywhere, style),
    };

    if cli.version {
        return print_version(cli.json || json_anywhere, style);
    }
    let Some(command) = cli.command else {
        let help = Cli::command().render_help().to_string();
        output::eprint_line(help.trim_end());
        return ExitCode::FAILURE;
    };

    // The shim's exit status is its child's; it prints nothing of its own.
    if let Command::TurnShim(args) = &command {
        let code = commands::turn_shim::run(args);
        return ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1));
    }
    let envelope_name = command.envelope_name();
    let ctx = match Context::new(cli.json, cli.quiet, cli.verbose, cli.project) {
        Ok(ctx) => ctx,
        Err(e) => {
            e.print(json_anywhere, &envelope_name, style);
            return ExitCode::FAILURE;
        }
    };
    let result = commands::run(&ctx, command).and_then(|out| {
        // Output that cannot be written (a full disk, a closed pipe) is a
        // failure; so is streamed output that failed other than by its
        // reader going away.
        out.print(ctx.json, ctx.quiet, ctx.style)?;
        match output::take_stream_failure() {
            Some(e) => Err(e.into()),
            None => Ok(out.is_failure()),
        }
    });
    match result {
        Ok(failed) => {
            if cli.timing {
                output::eprint_line(&format_elapsed(started.elapsed().as_millis()));
            }
            if failed {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            // When stdout is what failed, print_error falls back to stderr.
            e.print(ctx.json, &envelope_name, ctx.style);
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to stdout (help, version); exits 1 with the error on
/// stderr when it cannot be written.
fn print_or_fail(text: &str, style: Style) -> ExitCode {
    match output::write_raw(text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            CliError::from(e).print(false, "ov", style);
            ExitCode::FAILURE
        }
    }
}

fn print_version(json: bool, style: Style) -> ExitCode {
    let text = if json {
        let v = serde_json::json!({
            "name": "@os-eco/overstory-cli",
            "version": overstory_core::VERSION,
            "runtime": "rust",
            "platform": format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        });
        format!("{v}\n")
    } else {
        format!("{}\n", overstory_core::VERSION)
    };
    print_or_fail(&text, style)
}

/// Formats `Done in <N>ms` below a second and `Done in <N.NN>s` above.
fn format_elapsed(ms: u128) -> String {
    if ms < 1000 {
        format!("Done in {ms}ms")
    } else {
        format!("Done in {:.2}s", ms as f64 / 1000.0)
    }
}

/// Renders a clap error ourselves: help and version go to stdout with exit 0;
/// every real usage error exits 1, as every other failure does.
fn usage_error(e: &clap::Error, json: bool, style: Style) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            return print_or_fail(&e.render().to_string(), style);
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            output::eprint_line(e.render().to_string().trim_end());
            return ExitCode::FAILURE;
        }
        _ => {}
    }
    let invalid_top = e.kind() == ErrorKind::InvalidSubcommand;
    let bad = match e.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let err = match (invalid_top, bad) {
        (true, Some(bad)) if is_top_level_error(e) => unknown_command(&bad),
        _ => {
            let text = e.render().to_string();
            let mut err = CliError::with_code("USAGE_ERROR", usage_message(e, &text));
            for line in text.lines().skip(1) {
                let l = line.trim();
                if let Some(tip) = l.strip_prefix("tip: ") {
                    err = err.hint(tip.to_owned());
                } else if l.starts_with("Usage:") {
                    err = err.hint(l.to_owned());
                }
            }
            err.hint("Run 'ov --help' for usage")
        }
    };
    err.print(json, "ov", style);
    ExitCode::FAILURE
}

/// Returns the first line of a usage error: clap's first paragraph on one
/// line, so a list clap prints below its headline (the missing arguments,
/// the valid values) stays in the message, and `--json` carries it too.
fn usage_message(e: &clap::Error, rendered: &str) -> String {
    if e.kind() == ErrorKind::MissingRequiredArgument
        && let Some(ContextValue::Strings(missing)) = e.get(ContextKind::InvalidArg)
        && !missing.is_empty()
    {
        return format!(
            "the following required arguments were not provided: {}",
            missing.join(", ")
        );
    }
    let paragraph: Vec<&str> = rendered
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = paragraph.join(" ");
    let message = message.trim_start_matches("error: ");
    if message.is_empty() {
        "invalid arguments".to_owned()
    } else {
        message.to_owned()
    }
}

/// Returns whether the invalid subcommand was given at the top level (a
/// typo'd `ov mail sned` is reported by clap's own wording).
fn is_top_level_error(e: &clap::Error) -> bool {
    let text = e.render().to_string();
    text.contains("Usage: ov [OPTIONS] [COMMAND]") || text.contains("Usage: ov [OPTIONS] <COMMAND>")
}

fn unknown_command(bad: &str) -> CliError {
    let mut err = CliError::new(format!("Unknown command: {bad}"));
    // Suggest only commands that exist (and are meant for people).
    let cmd = Cli::command();
    if let Some((_, best)) = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| (strsim::levenshtein(bad, c.get_name()), c.get_name()))
        .filter(|(d, _)| *d <= 2)
        .min()
    {
        err = err.hint(format!("Did you mean '{best}'?"));
    }
    err.hint("Run 'ov --help' for usage")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn elapsed_formats() {
        assert_eq!(format_elapsed(12), "Done in 12ms");
        assert_eq!(format_elapsed(1234), "Done in 1.23s");
    }

    /// Walks every leaf command with required arguments, runs it with none,
    /// and checks the message names each one (issue 11: clap's list was
    /// dropped after "were not provided:").
    #[test]
    fn every_missing_argument_error_names_what_is_missing() {
        fn walk(cmd: &clap::Command, path: Vec<String>, checked: &mut usize) {
            for sub in cmd.get_subcommands() {
                let mut p = path.clone();
                p.push(sub.get_name().to_owned());
                walk(sub, p, checked);
            }
            let required: Vec<&clap::Arg> = cmd
                .get_arguments()
                .filter(|a| a.is_required_set())
                .collect();
            if cmd.has_subcommands() || required.is_empty() {
                return;
            }
            let e = Cli::command()
                .try_get_matches_from(&path)
                .expect_err("a command with required arguments must refuse none");
            if e.kind() != ErrorKind::MissingRequiredArgument {
                return;
            }
            let msg = usage_message(&e, &e.render().to_string());
            assert!(!msg.ends_with(':'), "{path:?}: {msg}");
            for a in required {
                let shown = match a.get_long() {
                    Some(long) => format!("--{long}"),
                    None => a
                        .get_value_names()
                        .and_then(|v| v.first())
                        .map_or_else(|| a.get_id().as_str().to_uppercase(), |v| v.to_string()),
                };
                assert!(msg.contains(&shown), "{path:?}: {msg:?} lacks {shown}");
            }
            *checked += 1;
        }
        let mut checked = 0;
        walk(&Cli::command(), vec!["ov".to_owned()], &mut checked);
        assert!(checked > 5, "only {checked} commands checked");
    }

    #[test]
    fn unknown_command_suggests_near_names() {
        let e = unknown_command("stauts");
        assert_eq!(e.message, "Unknown command: stauts");
        assert_eq!(e.hints[0], "Did you mean 'status'?");
        let e = unknown_command("zzzzzzzz");
        assert_eq!(e.hints, ["Run 'ov --help' for usage"]);
    }
}
