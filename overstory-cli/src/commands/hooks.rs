//! `ov hooks install|uninstall|status`: the orchestrator session's hooks.

use overstory_fleet::root_hooks::{
    InstallOutcome, UninstallOutcome, hooks_status, install_hooks, uninstall_hooks,
};

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Install overstory's hooks into .claude/settings.local.json
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct HooksArgs {
    #[command(subcommand)]
    command: HooksCommand,
}

/// The `ov hooks` subcommands.
#[derive(Debug, clap::Subcommand)]
enum HooksCommand {
    /// Merge .overstory/hooks.json into .claude/settings.local.json
    Install {
        /// Merge even when hooks are already present (duplicates are skipped)
        #[arg(long)]
        force: bool,
    },
    /// Remove overstory's hooks, keeping your own
    Uninstall,
    /// Show whether hooks are installed
    Status,
}

impl HooksArgs {
    /// The envelope name of this invocation.
    pub fn envelope_name(&self) -> &'static str {
        match self.command {
            HooksCommand::Install { .. } => "hooks install",
            HooksCommand::Uninstall => "hooks uninstall",
            HooksCommand::Status => "hooks status",
        }
    }
}

/// Runs `ov hooks`.
pub fn run(ctx: &Context, args: HooksArgs) -> Result<Output, CliError> {
    let name = args.envelope_name();
    let layout = ctx.layout()?;
    let out = Output::new(name);
    match args.command {
        HooksCommand::Install { force } => Ok(match install_hooks(&layout, force)? {
            InstallOutcome::Installed => out
                .field("installed", true)
                .success("Hooks installed into .claude/settings.local.json"),
            InstallOutcome::AlreadyPresent => out
                .field("installed", false)
                .field("alreadyPresent", true)
                .raw("Hooks already present in .claude/settings.local.json. Use --force to merge overstory's hooks in.\n"),
        }),
        HooksCommand::Uninstall => {
            let r = uninstall_hooks(&layout)?;
            let out = out.field("result", crate::output::to_json(&r)?);
            Ok(match r {
                UninstallOutcome::NoFile => {
                    out.warning("No .claude/settings.local.json found", None)
                }
                UninstallOutcome::NoHooks => out.raw("No hooks installed\n"),
                UninstallOutcome::Removed => out.success("Overstory hooks removed (your own hooks were kept)"),
                UninstallOutcome::FileDeleted => {
                    out.success("Overstory hooks removed; .claude/settings.local.json deleted")
                }
            })
        }
        HooksCommand::Status => {
            let st = hooks_status(&layout);
            let text = format!(
                "Source (.overstory/hooks.json): {}\nInstalled (.claude/settings.local.json): {}\n",
                if st.source_exists { "present" } else { "missing" },
                if st.installed { "yes" } else { "no" }
            );
            Ok(out
                .data_of(&st)?
                .raw(text))
        }
    }
}
